"""Saving quiz state: atomic writes, a safe fresh start from a damaged file, nothing overwritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz.bank import load_quiz
from freezelab.quiz.progress import (
    ProgressWarning,
    StateFile,
    learner_name,
    progress_dir,
    progress_path,
    write_json_atomically,
)
from freezelab.quiz.session import PracticeSession

FILES = Path(__file__).parent / "files"


def practice_store(path: Path) -> StateFile:
    return StateFile(path, "freezelab-progress", "practice")


def saved_practice(answer: str = "C") -> dict:
    session = PracticeSession(load_quiz("practice"), seed=5)
    session.select("what-freezing-does", answer)
    session.check("what-freezing-does")
    return session.to_document("ada")


def test_progress_folder_follows_the_environment(tmp_path, monkeypatch):
    """Does FREEZELAB_PROGRESS_DIR move the progress files, one per learner and quiz?"""
    monkeypatch.setenv("FREEZELAB_PROGRESS_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("FREEZELAB_LEARNER", "ada lovelace")
    assert progress_dir() == tmp_path / "mine"
    assert learner_name() == "ada-lovelace"
    assert progress_path("practice") == tmp_path / "mine" / "practice.ada-lovelace.progress.json"


def test_progress_is_never_written_inside_solutions(monkeypatch, tmp_path):
    """Is a progress folder inside solutions/ refused, with a warning, in favour of the default?"""
    monkeypatch.setenv("FREEZELAB_PROGRESS_DIR", str(SOLUTIONS_DIR / "lessons"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.warns(ProgressWarning, match="solutions/"):
        folder = progress_dir()
    assert folder == tmp_path / ".freezelab" / "progress"


def test_saved_progress_loads_back_unchanged(tmp_path):
    """Does a saved document load back exactly, with no temporary file left behind?"""
    store = practice_store(tmp_path / "p.progress.json")
    document = saved_practice()
    assert store.save(document) is None
    assert store.load().document == document
    assert [p.name for p in tmp_path.iterdir()] == ["p.progress.json"]


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path):
    """When writing fails half-way (text that cannot be encoded), is the old file untouched and
    the temporary file removed?"""
    path = tmp_path / "state.json"
    write_json_atomically(path, {"kept": True})
    with pytest.raises(UnicodeEncodeError):
        write_json_atomically(path, {"broken": "\ud800"})
    assert json.loads(path.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("quiz-progress-truncated.json", "not valid JSON"),
        ("quiz-progress-other-quiz.json", "belongs to quiz 'mastery'"),
    ],
)
def test_a_corrupt_file_gives_a_warning_a_fresh_start_and_a_kept_copy(tmp_path, fixture, reason):
    """Does a corrupt progress file give a warning and a fresh start, with the bad file moved
    aside (byte for byte) rather than overwritten?"""
    path = tmp_path / "practice.ada.progress.json"
    shutil.copy(FILES / fixture, path)
    original = path.read_bytes()
    store = practice_store(path)
    with pytest.warns(ProgressWarning, match=reason):
        outcome = store.load()
    assert outcome.document is None
    assert outcome.kept_as is not None and outcome.kept_as.read_bytes() == original
    assert outcome.kept_as.name.startswith("practice.ada.progress.json.corrupt-")
    assert "A copy is kept as" in outcome.warning
    assert store.save(saved_practice()) is None  # the fresh start saves normally
    assert outcome.kept_as.read_bytes() == original


def test_an_unreadable_path_is_moved_aside_too(tmp_path):
    """Is a progress 'file' that cannot be read (here a folder) reported and set aside?"""
    path = tmp_path / "practice.ada.progress.json"
    path.mkdir()
    (path / "inside.txt").write_text("keep me")
    with pytest.warns(ProgressWarning, match="cannot be read"):
        outcome = practice_store(path).load()
    assert outcome.document is None
    assert (outcome.kept_as / "inside.txt").read_text() == "keep me"


def test_a_file_that_cannot_be_moved_aside_is_never_overwritten(tmp_path):
    """When the damaged file cannot even be renamed (its name would grow too long for the
    file system), does the session refuse to save, so the file survives untouched?"""
    path = tmp_path / f"practice.{'x' * 220}.progress.json"
    path.write_text("{ not json")
    store = practice_store(path)
    with pytest.warns(ProgressWarning, match="will not save"):
        outcome = store.load()
    assert outcome.document is None and outcome.kept_as is None
    message = store.save(saved_practice())
    assert message and "not overwritten" in message
    assert path.read_text() == "{ not json"


def test_an_unwritable_folder_gives_a_message_not_a_traceback(tmp_path):
    """When the progress folder cannot be created (a file is in the way), does saving return a
    message and warn, instead of raising?"""
    blocker = tmp_path / "progress"
    blocker.write_text("a file, not a folder")
    store = practice_store(blocker / "practice.ada.progress.json")
    with pytest.warns(ProgressWarning, match="could not be saved"):
        message = store.save(saved_practice())
    assert "lasts only while this notebook runs" in message


def test_read_only_store_neither_moves_nor_writes(tmp_path):
    """While autograding (read-only), is a damaged file left exactly where it is?"""
    path = tmp_path / "answers.json"
    shutil.copy(FILES / "quiz-answers-garbled.json", path)
    store = StateFile(path, "freezelab-answers", "mastery", read_only=True, what="recorded answers")
    with pytest.warns(ProgressWarning, match="left as it is"):
        assert store.load().document is None
    assert store.save({"anything": 1}) is None
    assert path.read_bytes() == (FILES / "quiz-answers-garbled.json").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["answers.json"]


def test_an_invalid_document_is_never_written(tmp_path):
    """Does the store refuse to write a document that would not load again?"""
    store = practice_store(tmp_path / "p.json")
    with pytest.raises(ValueError, match="refusing to save"):
        store.save({"format": "freezelab-progress", "quiz": "practice"})
    assert not (tmp_path / "p.json").exists()

"""The sample submissions (freezelab.grading.samples) and the fixtures made from them.

``tests/files/submitted-*.ipynb`` are the samples as a learner would hand them in, built from the
current learner copy. They are committed so that each case can be opened and read; when the
assignment changes, ``pytest tests/test_grading_samples.py --update-goldens`` rebuilds them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.reader import NotJSONError

from freezelab.grading import samples
from freezelab.grading.integrity import nbgrader_metadata

FILES = Path(__file__).parent / "files"
ASSIGNMENT = samples.FREEZE
ALL = samples.freeze_it_yourself_samples()


@pytest.mark.parametrize("sample", ALL, ids=lambda s: s.name)
def test_fixture_is_what_the_sample_generator_makes(sample, update_goldens):
    """Is each committed fixture exactly the sample built from today's learner copy?"""
    built = samples.build_sample(sample, ASSIGNMENT, ASSIGNMENT)
    path = FILES / sample.filename
    if update_goldens:
        path.write_bytes(built)
    assert path.exists(), f"{path.name} is missing: run pytest {Path(__file__).name} --update-goldens"
    assert path.read_bytes() == built, f"{path.name} is stale: run pytest {Path(__file__).name} --update-goldens"


def test_no_fixture_is_left_over_from_a_removed_sample():
    """Does every submitted-*.ipynb fixture belong to a sample that still exists?"""
    known = {sample.filename for sample in ALL}
    assert {p.name for p in FILES.glob("submitted-*.ipynb*")} <= known


def test_sample_names_are_unique_kebab_case_and_say_what_they_are():
    """Are the sample names distinct kebab-case words, each with a description?"""
    names = [sample.name for sample in ALL]
    assert len(names) == len(set(names))
    for sample in ALL:
        assert sample.name == sample.name.lower() and " " not in sample.name and sample.description


def test_expected_losses_name_real_test_cells():
    """Does every sample's list of lost tests name test cells the assignment has?"""
    tests = set(samples.TESTS.values())
    for sample in ALL:
        assert sample.loses <= tests, sample.name
    everything = {"untouched-release", "broken-unreadable", "broken-empty-file", "broken-json-not-a-notebook"}
    assert {s.name for s in ALL if s.loses_everything} == everything


def test_every_sample_but_the_cut_off_one_is_a_valid_notebook():
    """Do all samples parse as notebooks except the one that was cut off on purpose?"""
    for sample in ALL:
        raw = samples.build_sample(sample, ASSIGNMENT, ASSIGNMENT)
        if sample.suffix == ".ipynb.part":
            with pytest.raises((NotJSONError, nbformat.ValidationError, AttributeError, TypeError)):
                nbformat.validate(nbformat.reads(raw.decode(), as_version=4))
        else:
            nbformat.reads(raw.decode(), as_version=4)


def test_answer_samples_change_only_answer_cells():
    """Do the right, wrong and broken samples differ from the release in answer cells only?"""
    release = samples.release_notebook(ASSIGNMENT, ASSIGNMENT)
    for sample in ALL:
        if not sample.name.startswith(("correct-", "wrong-", "broken-", "partial-", "solution")):
            continue
        if sample.suffix == ".ipynb.part":
            continue
        nb = nbformat.reads(samples.build_sample(sample, ASSIGNMENT, ASSIGNMENT).decode(), as_version=4)
        graded = [cell for cell in nb.cells if nbgrader_metadata(cell).get("grade_id")]  # cells of its own aside
        assert len(graded) == len([c for c in release.cells if nbgrader_metadata(c).get("grade_id")])
        released = {nbgrader_metadata(c)["grade_id"]: c for c in release.cells if nbgrader_metadata(c).get("grade_id")}
        for mine in graded:
            theirs = released[nbgrader_metadata(mine)["grade_id"]]
            if mine.source != theirs.source:
                assert nbgrader_metadata(mine).get("solution"), f"{sample.name} changed a cell that is not an answer"


def test_the_solution_sample_carries_no_solution_delimiters():
    """Are the instructor's answers in the solution sample free of nbgrader's BEGIN/END SOLUTION lines?"""
    text = samples.build_sample(ALL[0], ASSIGNMENT, ASSIGNMENT).decode()
    assert ALL[0].name == "solution"
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and "NotImplementedError" not in text


def test_the_quiz_samples_expect_what_their_answers_are_worth():
    """Does each quiz sample expect one point per question it answers with the key's option, and 0 for a
    file the quiz did not write (damaged or forged)?"""
    from freezelab.quiz import load_quiz

    quiz = load_quiz("mastery")
    expected = {sample.name: sample.expected(quiz) for sample in samples.quiz_samples()}
    assert expected == {
        "quiz-all-right": 10,
        "quiz-seven-right": 7,
        "quiz-three-answered": 3,
        "quiz-nothing-answered": 0,
        "quiz-answers-file-cut-off": 0,
        "quiz-answers-file-forged": 0,
        "quiz-sets-its-own-score": 2,
    }
    assert len(set(expected)) == len(samples.quiz_samples())


def test_a_quiz_sample_is_the_released_folder_answered_through_the_widget(tmp_path):
    """Is a quiz sample the released files, its answers recorded by the exam widget (bank ids and the
    letters this learner saw), and the forger's cell placed after the answers are read?"""
    import json

    from freezelab.quiz import load_quiz

    quiz = load_quiz("mastery")
    written = samples.write_quiz_samples(tmp_path, quiz, only=["quiz-seven-right", "quiz-sets-its-own-score"])
    assert [sample.name for sample in written] == ["quiz-seven-right", "quiz-sets-its-own-score"]
    folder = tmp_path / "quiz-seven-right" / samples.QUIZ
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["mastery-answers.json", "mastery-questions.json", "mastery-quiz.ipynb"]
    recorded = json.loads((folder / "mastery-answers.json").read_text())
    assert recorded["learner"] == "quiz-seven-right" and len(recorded["answers"]) == len(recorded["shown"]) == 10
    forger = nbformat.read(tmp_path / "quiz-sets-its-own-score" / samples.QUIZ / "mastery-quiz.ipynb", as_version=4)
    read = next(i for i, cell in enumerate(forger.cells) if "read_recorded_answers(" in cell.source)
    assert forger.cells[read + 1].source == samples.SETS_ITS_OWN_SCORE

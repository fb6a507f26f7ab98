"""The quizzes in their places: the lessons, the mastery test notebook, the graded assignment."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import is_grade

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz import load_bank, load_quiz

LESSONS = SOLUTIONS_DIR / "lessons"
MASTER = SOLUTIONS_DIR / "mastery-quiz" / "mastery-quiz.ipynb"
MASTERY_TEST = LESSONS / "07-mastery-test.ipynb"


def code_sources(path: Path) -> list[str]:
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]


def test_practice_quiz_closes_the_lesson_that_teaches_it():
    """Does lesson 02 (freezing in code) end its teaching with show_quiz("practice"), before
    its key points?"""
    notebook = nbformat.read(LESSONS / "02-freezing-in-code.ipynb", as_version=4)
    positions = [
        i
        for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and 'show_quiz("practice")' in cell.source
    ]
    assert len(positions) == 1, "lesson 02 should show the practice quiz once"
    assert positions[0] > len(notebook.cells) / 2
    assert "Key points" in notebook.cells[-1].source


def test_mastery_test_is_its_own_lesson_in_the_carpentries_shape():
    """Is 07-mastery-test a lesson with questions, objectives and key points around
    show_quiz("mastery")?"""
    notebook = nbformat.read(MASTERY_TEST, as_version=4)
    assert "## Questions" in notebook.cells[0].source and "## Objectives" in notebook.cells[0].source
    assert "## Key points" in notebook.cells[-1].source
    assert [s for s in code_sources(MASTERY_TEST) if "show_quiz" in s] == [
        'from freezelab.quiz import show_quiz\n\nshow_quiz("mastery")'
    ]
    assert all(cell.get("id") for cell in notebook.cells)


def hidden_key(path: Path) -> dict[str, tuple[str, float]]:
    """Question id -> (keyed option, points), read from the hidden tests of the graded cells."""
    found = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if not is_grade(cell):
            continue
        meta = cell.metadata["nbgrader"]
        hidden = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        assert hidden, f"graded cell {meta['grade_id']} has no hidden test"
        match = re.search(r'\.get\("([a-z0-9-]+)"\)\n\s+assert recorded == "([A-F])"', hidden.group(1))
        visible = cell.source.replace(hidden.group(0), "")
        assert match.group(2) not in re.findall(r'"([A-F])"', visible), "key letter in the visible part"
        assert meta["locked"] and meta["points"] == 1
        found[match.group(1)] = (match.group(2), meta["points"])
    return found


def test_graded_cells_carry_exactly_the_banks_key_one_point_each():
    """Do the master's hidden tests key every mastery question exactly as the bank does, one
    point each, in the quiz's order?"""
    key = hidden_key(MASTER)
    mastery = load_quiz("mastery")
    assert list(key) == [q.id for q in mastery.questions]
    assert {qid: option for qid, (option, _) in key.items()} == {q.id: q.answer for q in mastery.questions}
    assert sum(points for _, points in key.values()) == 10


def test_graded_assignment_folder_holds_no_recorded_answers():
    """Is there no answers file in the master folder (it would be released with the key's
    worth of answers)?"""
    names = sorted(p.name for p in (SOLUTIONS_DIR / "mastery-quiz").iterdir())
    assert names == ["mastery-questions.json", "mastery-quiz.ipynb"]


def test_exam_widget_records_nothing_inside_solutions(monkeypatch):
    """Opened in the master folder, does the exam widget refuse to write an answers file?"""
    from freezelab.quiz import build_exam

    folder = SOLUTIONS_DIR / "mastery-quiz"
    monkeypatch.chdir(folder)
    exam = build_exam("mastery-questions.json", "mastery-answers.json")
    exam.answer("what-freezing-does", "C")
    assert "not recorded" in exam.warning.value
    assert not (folder / "mastery-answers.json").exists()


@pytest.mark.slow
def test_a_static_view_shows_questions_and_options_but_no_answers(tmp_path, monkeypatch):
    """Executed and exported to HTML with no widget state (a static web page) and read as plain
    text (a terminal front end), does the mastery test still show every question and option,
    and none of the answers?"""
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    monkeypatch.setenv("FREEZELAB_PROGRESS_DIR", str(tmp_path / "progress"))
    shutil.copy(MASTERY_TEST, tmp_path / MASTERY_TEST.name)
    notebook = nbformat.read(tmp_path / MASTERY_TEST.name, as_version=4)
    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        store_widget_state=False,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    page, _ = HTMLExporter().from_notebook_node(notebook)
    quiz_output = next(
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "display_data"
    )
    plain = quiz_output.data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in quiz_output.data
    assert 'class="freezelab-quiz freezelab-static"' in page
    bank = load_bank()
    for question in load_quiz("mastery").questions:
        assert question.options[0].text in plain
        assert " ".join(question.stem.split()[:6]) in " ".join(plain.split())
    for shown in (page, plain):
        for question in bank.values():
            for option in question.options:
                assert option.explanation[:50] not in shown
            assert question.hint not in shown
        assert "Correct:" not in shown and "Answer:" not in shown

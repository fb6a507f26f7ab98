"""Worked solutions of lesson exercises for learners who tried, never of graded assignments."""

from __future__ import annotations

import shutil

import nbformat
from nbgrader.utils import is_solution

from freezelab.paths import NOTEBOOKS_DIR
from freezelab.solutions import STUB, lesson_exercises, solutions_text

START = NOTEBOOKS_DIR / "lessons" / "00-start-here.ipynb"


def answer_exercise(path, grade_id: str, source: str) -> None:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
    nbformat.write(notebook, path)


def test_an_untried_exercise_keeps_its_solution_hidden(tmp_path):
    """In a fresh learner copy, is the exercise untried and its solution nowhere in the text?"""
    copy = tmp_path / START.name
    shutil.copy(START, copy)
    (exercise,) = lesson_exercises(copy)
    assert exercise.grade_id == "start-ex-count" and not exercise.tried
    text = solutions_text(copy)
    assert "try it first" in text and STUB in text
    assert "layer.weight.numel() + layer.bias.numel()" not in text


def test_a_tried_exercise_shows_the_masters_solution(tmp_path):
    """Once the stub is replaced (even by a wrong answer), is the master's solution shown, and
    only the solution region, not nbgrader's markers?"""
    copy = tmp_path / START.name
    shutil.copy(START, copy)
    answer_exercise(copy, "start-ex-count", "n_numbers = 6  # my try")
    text = solutions_text(copy)
    assert "n_numbers = layer.weight.numel() + layer.bias.numel()" in text
    assert "BEGIN SOLUTION" not in text and "try it first" not in text


def test_graded_assignments_never_show_a_solution(tmp_path):
    """For the graded assignment, tried or not, is no solution shown?"""
    graded = NOTEBOOKS_DIR / "freeze-it-yourself" / "freeze-it-yourself.ipynb"
    copy = tmp_path / graded.name
    shutil.copy(graded, copy)
    notebook = nbformat.read(copy, as_version=4)
    for cell in notebook.cells:
        if is_solution(cell):
            cell.source = "pass  # tried"
    nbformat.write(notebook, copy)
    assert lesson_exercises(copy) is None
    assert "not one of the lessons" in solutions_text(copy)

"""Worked solutions of the lesson exercises, for a learner who has tried them.

The learner's door (``make lab``) serves ``notebooks/`` only, so the instructors' masters in
``solutions/`` are out of sight and no graded key is met by accident. A self-learner who has
tried a lesson exercise can still read its solution, inside the lesson::

    from freezelab.solutions import show_solution
    show_solution()

shows, for the notebook the kernel runs, the master's solution of every exercise the learner has
tried: whose cell, in the saved notebook, no longer holds nbgrader's stub
``raise NotImplementedError()``. Untried exercises stay hidden, and so do the solutions of the
graded assignments (``freeze-it-yourself``, ``mastery-quiz``): only ``solutions/lessons/`` is read.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from freezelab.paths import SOLUTIONS_DIR

LESSON_MASTERS = SOLUTIONS_DIR / "lessons"
STUB = "raise NotImplementedError()"
SOLUTION_REGION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION", re.S | re.M)


@dataclass(frozen=True)
class Exercise:
    grade_id: str
    solution: str
    tried: bool


def _solution_cells(notebook: nbformat.NotebookNode) -> dict[str, str]:
    # Imported here: a lesson's kernel imports this module, and need not load nbgrader before it asks.
    from nbgrader.utils import is_solution

    cells = {}
    for cell in notebook.cells:
        if cell.cell_type == "code" and is_solution(cell) and cell.metadata["nbgrader"].get("grade_id"):
            cells[cell.metadata["nbgrader"]["grade_id"]] = cell.source
    return cells


def lesson_exercises(learner_notebook: Path) -> list[Exercise] | None:
    """The exercises of a learner's lesson notebook, with their solutions and whether each was
    tried; ``None`` when the notebook is not one of the lessons (a graded assignment, say)."""
    master = LESSON_MASTERS / learner_notebook.name
    if not master.is_file():
        return None
    solutions = _solution_cells(nbformat.read(master, as_version=4))
    answers = _solution_cells(nbformat.read(learner_notebook, as_version=4))
    exercises = []
    for grade_id, source in solutions.items():
        region = SOLUTION_REGION.search(source)
        solution = region.group(1).rstrip() if region else source
        answer = answers.get(grade_id, "")
        exercises.append(Exercise(grade_id, solution, tried=bool(answer.strip()) and STUB not in answer))
    return exercises


def solutions_text(learner_notebook: Path) -> str:
    """What :func:`show_solution` shows, as Markdown."""
    exercises = lesson_exercises(learner_notebook)
    if exercises is None:
        return (
            f"`{learner_notebook.name}` is not one of the lessons: the solutions of the graded "
            "assignments are not shown. Your instructor's feedback explains what was wrong."
        )
    if not exercises:
        return f"`{learner_notebook.name}` has no exercises."
    parts = []
    for number, exercise in enumerate(exercises, start=1):
        if exercise.tried:
            parts.append(f"**Exercise {number}** (`{exercise.grade_id}`), a worked solution:\n\n"
                         f"```python\n{exercise.solution}\n```")
        else:
            parts.append(f"**Exercise {number}** (`{exercise.grade_id}`): try it first. Replace "
                         f"`{STUB}` with your answer, save the notebook, and run this again.")
    return "\n\n".join(parts)


def show_solution(notebook: str | Path | None = None) -> None:
    """Show the solutions of the exercises you have tried in this lesson (or in ``notebook``)."""
    from IPython.display import Markdown, display

    path = notebook or os.environ.get("JPY_SESSION_NAME")
    if not path or not Path(path).is_file():
        print("Which notebook? Run this inside a lesson in JupyterLab, or pass the lesson's path, "
              "e.g. show_solution('01-why-freeze.ipynb').")
        return
    display(Markdown(solutions_text(Path(path))))

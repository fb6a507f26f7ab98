"""``export``: ``nbgrader export`` to ``grades.csv``, and ``task-scores.csv`` with a row per task."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from freezelab.grading.course import (
    Course,
    Submission,
)
from freezelab.grading.integrity import (
    AssignmentLayout,
)
from freezelab.grading.preprocessors import load_layout


@dataclass(frozen=True)
class TaskScore:
    """One graded cell of one submission: the row of ``task-scores.csv``."""

    assignment: str
    student: str
    notebook: str
    task: str
    grade_id: str
    score: float
    max_score: float
    problems: str

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score


def task_scores(course: Course, assignment: str | None = None) -> list[TaskScore]:
    """Every graded cell of every submission, in the notebooks' order, from the gradebook."""
    rows = []
    with course.gradebook() as gradebook:
        for stored in sorted(gradebook.assignments, key=lambda a: a.name):
            if assignment and stored.name != assignment:
                continue
            layouts = {
                nb.name: load_layout(course.db_url, stored.name, nb.name, course.solutions_dir)
                for nb in stored.notebooks
            }
            for submission in sorted(stored.submissions, key=lambda s: s.student.id):
                note = course.read_note(Submission(stored.name, submission.student.id))
                for notebook in sorted(submission.notebooks, key=lambda n: n.name):
                    layout = layouts[notebook.name]
                    order = layout.position()
                    for grade in sorted(notebook.grades, key=lambda g: order.get(g.name, len(order))):
                        rows.append(
                            TaskScore(
                                stored.name,
                                submission.student.id,
                                notebook.name,
                                layout.title(grade.name),
                                grade.name,
                                float(grade.score),
                                float(grade.max_score),
                                _problems_for(note, grade.name, layout),
                            )
                        )
    return rows


def _problems_for(note: dict, grade_id: str, layout: AssignmentLayout) -> str:
    """The note's problems about this test cell, or about the answer cells it tests."""
    mentioned = []
    for problem in note.get("problems", []):
        about = problem.get("grade_id")
        related = about == grade_id or grade_id in problem.get("zeroed", ())
        if about in layout.by_id() and grade_id in layout.tests_checking(about):
            related = True
        if related:
            mentioned.append(problem["message"])
    return " | ".join(mentioned)


@dataclass(frozen=True)
class Exported:
    grades_csv: Path
    tasks_csv: Path


def export(course: Course) -> Exported:
    """``nbgrader export`` to ``exports/grades.csv`` and a row per task to ``exports/task-scores.csv``."""
    course.exports_dir.mkdir(parents=True, exist_ok=True)
    grades_csv = course.exports_dir / "grades.csv"
    course.nbgrader("export", "--to", str(grades_csv))
    tasks_csv = course.exports_dir / "task-scores.csv"
    with tasks_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "assignment",
                "student_id",
                "notebook",
                "task",
                "grade_id",
                "score",
                "max_score",
                "passed",
                "problems",
            ]
        )
        for row in task_scores(course):
            writer.writerow(
                [
                    row.assignment,
                    row.student,
                    row.notebook,
                    row.task,
                    row.grade_id,
                    f"{row.score:g}",
                    f"{row.max_score:g}",
                    int(row.passed),
                    row.problems,
                ]
            )
    return Exported(grades_csv, tasks_csv)

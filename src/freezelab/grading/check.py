"""Grade one notebook on its own, with the real autograder but without the class's gradebook.

A learner runs it before submitting; an instructor runs it on the one file a learner emailed. It
works in a throwaway state folder: the notebook is copied in, graded by ``nbgrader autograde`` with
the hidden tests, and comes back as a table and a feedback page. The file itself is only read.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from freezelab.grading.course import Course, Submission, assignment_of_cells, assignment_of_notebook
from freezelab.grading.pipeline import (
    Outcome,
    TaskScore,
    autograde_submission,
    feedback,
    sync_assignments,
    task_scores,
)
from freezelab.grading.preprocessors import first_error

LEARNER = "me"


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    rows: list[TaskScore]
    reasons: dict[str, str]
    """Why each failed test cell failed (the error it stopped with), by grade id."""
    feedback_page: Path | None

    @property
    def full_marks(self) -> bool:
        return self.outcome.score >= self.outcome.max_score


def identify(path: Path, assignment: str | None = None) -> tuple[str, str]:
    """(assignment, notebook) a file belongs to: from ``assignment``, its name, or its graded cells."""
    if assignment:
        return assignment, path.stem
    by_name = assignment_of_notebook(path.name)
    if by_name:
        return by_name, path.stem
    by_cells = assignment_of_cells(path)
    if by_cells:
        return by_cells
    raise ValueError(f"cannot tell which assignment {path.name} belongs to; name it with --assignment")


def check_notebook(path: Path, assignment: str | None = None, html: Path | None = None) -> CheckResult:
    """Grade ``path`` as a submission of its assignment; copy the feedback page to ``html`` if given."""
    path = Path(path).resolve()
    assignment, notebook = identify(path, assignment)
    with tempfile.TemporaryDirectory(prefix="freezelab-check-") as scratch:
        course = Course(Path(scratch))
        submission = Submission(assignment, LEARNER)
        folder = course.submitted_dir / LEARNER / assignment
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / f"{notebook}.ipynb")
        sync_assignments(course, [assignment])
        outcome = autograde_submission(course, submission)
        rows = [row for row in task_scores(course, assignment) if row.notebook == notebook]
        reasons = {}
        graded = course.autograded_dir / LEARNER / assignment / f"{notebook}.ipynb"
        if graded.exists():
            for cell in nbformat.read(graded, as_version=4).cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                reason = first_error(cell) if cell.cell_type == "code" else None
                if grade_id and reason:
                    reasons[grade_id] = reason
        feedback(course, assignment)
        page = course.feedback_dir / LEARNER / assignment / f"{notebook}.html"
        kept = None
        if html and page.exists():
            html.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, html)
            kept = html
    return CheckResult(outcome, rows, reasons, kept)


def report(result: CheckResult) -> str:
    """The table a learner reads in the terminal."""
    outcome = result.outcome
    lines = [f"{outcome.submission.assignment}: {outcome.score:g} / {outcome.max_score:g} points"]
    width = max((len(row.task) for row in result.rows), default=0)
    for row in result.rows:
        mark = "passed" if row.passed else "FAILED"
        line = f"  {row.task:<{width}}  {row.score:g}/{row.max_score:g}  {mark}"
        if not row.passed and row.grade_id in result.reasons:
            line += f"  {result.reasons[row.grade_id]}"
        lines.append(line)
    if outcome.problems:
        lines.append("What the grader found:")
        lines += [f"  - {problem.message}" for problem in outcome.problems]
    if result.feedback_page:
        lines.append(f"Feedback page: {result.feedback_page}")
    return "\n".join(lines)

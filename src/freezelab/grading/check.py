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

from freezelab.grading.autograde import Outcome, autograde_submission, sync_assignments
from freezelab.grading.course import Course, Submission, assignment_of_cells, assignment_of_notebook
from freezelab.grading.export import TaskScore, task_scores
from freezelab.grading.feedback import feedback
from freezelab.grading.preprocessors import first_error
from freezelab.grading.tasks import GENERATORS, SECRET_FILE
from freezelab.paths import NOTEBOOKS_DIR

LEARNER = "me"
CHECK_SECRET = "freezelab-check"


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    rows: list[TaskScore]
    reasons: dict[str, str]
    """Why each failed test cell failed (the error it stopped with), by grade id."""
    feedback_page: Path | None
    renamed: str | None = None
    """The file's own name, when it is not the name the class grader looks for."""

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
        folder = course.submitted_path(submission)
        folder.mkdir(parents=True)
        shutil.copyfile(path, folder / f"{notebook}.ipynb")
        for sibling in companion_files(path, assignment):  # the mastery quiz's answers file, for one
            shutil.copyfile(sibling, folder / sibling.name)
        (course.state_dir / SECRET_FILE).write_text(CHECK_SECRET)  # the same cases at every check
        sync_assignments(course, [assignment])
        outcome = autograde_submission(course, submission)
        rows = [row for row in task_scores(course, assignment) if row.notebook == notebook]
        reasons = {}
        graded = course.autograded_path(submission) / f"{notebook}.ipynb"
        if graded.exists():
            for cell in nbformat.read(graded, as_version=4).cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                reason = first_error(cell) if cell.cell_type == "code" else None
                if grade_id and reason:
                    reasons[grade_id] = reason
        feedback(course, assignment)
        page = course.feedback_path(submission) / f"{notebook}.html"
        kept = None
        if html and page.exists():
            html.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, html)
            kept = html
    renamed = path.name if path.name != f"{notebook}.ipynb" else None
    return CheckResult(outcome, rows, reasons, kept, renamed)


def companion_files(path: Path, assignment: str) -> list[Path]:
    """Files beside the notebook that go with it: those its release has, and the learner's answers
    files (``*.json``: the mastery quiz's ``mastery-answers.json``), at most 1 MB each."""
    released = {p.name for p in (NOTEBOOKS_DIR / assignment).glob("*") if p.is_file() and p.suffix != ".ipynb"}
    return sorted(
        p
        for p in path.parent.glob("*")
        if p.is_file() and p != path and (p.name in released or p.suffix == ".json") and p.stat().st_size <= 2**20
    )


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
    if result.renamed:
        expected = f"{outcome.submission.assignment}.ipynb"
        names = sorted(result.outcome.notebooks)
        expected = ", ".join(f"{name}.ipynb" for name in names) or expected
        lines.append(
            f"WARNING: this file is called {result.renamed}; the class grader looks for {expected} and gives 0 "
            f"to a notebook of another name. It was graded here as {expected}: rename it before you submit."
        )
    if any(row.grade_id in GENERATORS for row in result.rows):
        lines.append(
            "The class grader tries your functions on hidden cases drawn for you; this check draws its own, so an "
            "answer that is right only some of the time can score differently there."
        )
    if result.feedback_page:
        lines.append(f"Feedback page: {result.feedback_page}")
    return "\n".join(lines)

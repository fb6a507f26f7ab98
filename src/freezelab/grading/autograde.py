"""``autograde``: every collected submission, graded in the sandbox, under a progress bar.

A submission that cannot be read or graded scores 0 with the reason written down; the batch goes on.
Submissions are only ever read: the pipeline checks that every submitted file is byte-identical
before and after the batch.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import nbformat
from nbgrader.api import Grade, MissingEntry
from sqlalchemy.exc import SAWarning
from tqdm import tqdm

from freezelab.grading.course import (
    Course,
    NbgraderFailed,
    NbgraderTimedOut,
    Submission,
)
from freezelab.grading.integrity import (
    Problem,
    problems_of,
)
from freezelab.grading.preprocessors import cell_timeout


def sync_assignments(course: Course, assignments: Iterable[str], stock: bool = False) -> None:
    """Put each assignment into the gradebook as ``solutions/`` has it (``generate_assignment``).

    The release goes to the state folder's ``release/``, never to ``notebooks/``. nbgrader refuses
    (and so does this) when graded cells were added or removed after submissions were graded.
    """
    for name in sorted(set(assignments)):
        course.nbgrader("generate_assignment", name, "--force", stock=stock)


@dataclass
class Outcome:
    """What autograding did with one submission."""

    submission: Submission
    score: float
    max_score: float
    seconds: float
    problems: list[Problem] = field(default_factory=list)
    notebooks: dict[str, str] = field(default_factory=dict)
    """Notebook name → ``graded``, ``missing``, ``unreadable`` or ``failed``."""

    @property
    def fully_graded(self) -> bool:
        return all(status == "graded" for status in self.notebooks.values())


@dataclass
class _Precheck:
    """What can be known about a submission before nbgrader runs."""

    expected: list[str]
    statuses: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    readable: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        """Every notebook that is there can be read: one nbgrader run can take the submission."""
        return not any(status == "unreadable" for status in self.statuses.values())


def _precheck(course: Course, submission: Submission) -> _Precheck:
    folder = course.submitted_dir / submission.student / submission.assignment
    check = _Precheck(_gradebook_notebooks(course, submission.assignment))
    for name in check.expected:
        path = folder / f"{name}.ipynb"
        if not path.exists():
            check.statuses[name] = "missing"
            check.problems.append(
                Problem(
                    "missing",
                    None,
                    f"{name}.ipynb: there is no notebook of this name in the submission; it scores 0.",
                )
            )
            continue
        try:
            nbformat.read(path, as_version=4)
        except Exception as error:  # whatever makes it unreadable is reported alike
            check.statuses[name] = "unreadable"
            reason = " ".join(str(error).split())[:160]
            check.problems.append(
                Problem(
                    "unreadable",
                    None,
                    f"{name}.ipynb could not be read as a notebook ({type(error).__name__}: "
                    f"{reason}); it scores 0. Was it saved completely?",
                )
            )
            continue
        check.readable.append(name)
    extras = sorted(p.name for p in folder.glob("*.ipynb") if p.stem not in check.expected)
    if extras:
        check.problems.append(
            Problem("extra-file", None, f"Not part of the assignment, so not graded: {', '.join(extras)}.")
        )
    return check


def autograde(
    course: Course,
    assignment: str | None = None,
    students: Iterable[str] | None = None,
    jobs: int = 1,
    progress: bool = True,
    stock: bool = False,
    timeout: float | None = None,
) -> list[Outcome]:
    """Autograde every collected submission (of ``assignment``, of ``students``).

    Submissions go through ``nbgrader autograde`` in ``jobs`` parallel batches (one nbgrader process
    each, as an instructor would run it); a submission a batch could not grade is tried again on its
    own, notebook by notebook, and what still cannot be graded scores 0 with the reason written down.
    ``timeout`` bounds the seconds one submission may take (default: 20 cell time limits).
    ``stock=True`` runs nbgrader without this package's preprocessors, for comparisons only.
    """
    wanted = set(students) if students else None
    submissions = [s for s in course.submissions(assignment) if wanted is None or s.student in wanted]
    if not submissions:
        return []
    sync_assignments(course, {s.assignment for s in submissions}, stock=stock)
    before = course.submitted_digests(submissions)
    timeout = timeout or max(300.0, 20.0 * cell_timeout())
    checks = {s: _precheck(course, s) for s in submissions}
    for submission in submissions:  # a stale autograded copy must not pass for a fresh one
        shutil.rmtree(course.autograded_dir / submission.student / submission.assignment, ignore_errors=True)
    batches = _batches([s for s in submissions if checks[s].whole and checks[s].readable], jobs)
    outcomes: list[Outcome] = []
    with tqdm(
        total=len(submissions),
        desc="autograding",
        unit="submission",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        lock = threading.Lock()

        def finish(submission: Submission, seconds: float, failures: dict[str, str]) -> None:
            folder = course.autograded_dir / submission.student / submission.assignment
            if not stock and not all((folder / f"{name}.ipynb").exists() for name in checks[submission].readable):
                started = time.perf_counter()  # the batch missed it: once more on its own
                failures = _run_alone(course, submission, checks[submission], stock, timeout)
                seconds += time.perf_counter() - started
            outcome = _finish(course, submission, checks[submission], failures, seconds, stock)
            with lock:
                outcomes.append(outcome)
                bar.set_postfix_str(f"{outcome.submission}: {outcome.score:g}/{outcome.max_score:g}")
                bar.update()

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(_run_batch, course, batch, stock, timeout, finish) for batch in batches]
            singles = [s for s in submissions if not (checks[s].whole and checks[s].readable)]
            for submission in singles:
                futures.append(pool.submit(_run_single, course, submission, checks[submission], stock, timeout, finish))
            for future in as_completed(futures):
                future.result()
    after = course.submitted_digests(submissions)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    course.integrity_path.parent.mkdir(parents=True, exist_ok=True)
    course.integrity_path.write_text(json.dumps({"checked": len(before), "changed": changed}, indent=1) + "\n")
    return sorted(outcomes, key=lambda o: (o.submission.assignment, o.submission.student))


def integrity_text(course: Course) -> str:
    """One line on whether grading left every submitted file as it was."""
    try:
        record = json.loads(course.integrity_path.read_text())
    except (OSError, ValueError):
        return "submitted files: not checked (no autograde in this state folder yet)"
    if record["changed"]:
        return f"submitted files: {len(record['changed'])} CHANGED during grading: " + ", ".join(record["changed"])
    return f"submitted files: all {record['checked']} byte-identical before and after grading (sha256)"


def _batches(submissions: list[Submission], jobs: int) -> list[list[Submission]]:
    """Split by assignment, then round-robin into at most ``jobs`` batches per assignment."""
    batches = []
    for name in sorted({s.assignment for s in submissions}):
        mine = sorted((s for s in submissions if s.assignment == name), key=lambda s: s.student)
        count = max(1, min(jobs, len(mine)))
        batches += [mine[i::count] for i in range(count)]
    return [batch for batch in batches if batch]


_STARTED = re.compile(r"Sanitizing .*[/\\]submitted[/\\](?P<student>[^/\\]+)[/\\](?P<assignment>[^/\\]+)[/\\]")


Finish = Callable[[Submission, float, dict[str, str]], None]


def _run_batch(course: Course, batch: list[Submission], stock: bool, timeout: float, finish: Finish) -> None:
    """One ``nbgrader autograde`` process for ``batch``, reporting each submission as it completes."""
    assignment = batch[0].assignment
    members = {s.student: s for s in batch}
    others = sorted(s.student for s in course.submissions(assignment) if s.student not in members)
    arguments = ["autograde", assignment, "--force"]
    if len(batch) == 1:
        arguments += ["--student", batch[0].student]
    elif others:
        arguments.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    current: list = [None, time.perf_counter()]
    done: set[str] = set()

    def on_line(line: str) -> None:
        match = _STARTED.search(line)
        if match and match.group("student") in members and match.group("student") != current[0]:
            now = time.perf_counter()
            if current[0] is not None:
                done.add(current[0])
                finish(members[current[0]], now - current[1], {})
            current[:] = [match.group("student"), now]

    try:
        course.nbgrader(*arguments, timeout=timeout * len(batch), stock=stock, check=False, on_line=on_line)
    except NbgraderTimedOut:
        pass  # whatever it did not finish is graded alone below
    if current[0] is not None:
        done.add(current[0])
        finish(members[current[0]], time.perf_counter() - current[1], {})
    for student, submission in members.items():
        if student not in done:
            finish(submission, 0.0, {})


def _run_single(
    course: Course, submission: Submission, check: _Precheck, stock: bool, timeout: float, finish: Finish
) -> None:
    started = time.perf_counter()
    failures = _run_alone(course, submission, check, stock, timeout) if check.readable else {}
    finish(submission, time.perf_counter() - started, failures)


def _run_alone(course: Course, submission: Submission, check: _Precheck, stock: bool, timeout: float) -> dict[str, str]:
    """``nbgrader autograde --student`` for one submission; notebook by notebook if some cannot be read."""
    failures: dict[str, str] = {}
    runs: list[str | None] = [None] if check.whole else list(check.readable)
    for notebook in runs:
        arguments = ["autograde", submission.assignment, "--student", submission.student, "--force"]
        if notebook:
            arguments += ["--notebook", notebook]
        try:
            course.nbgrader(*arguments, timeout=timeout, stock=stock)
        except NbgraderFailed as error:
            for name in [notebook] if notebook else check.readable:
                failures[name] = _last_error(error.result.stdout + error.result.stderr)
        except NbgraderTimedOut as error:
            for name in [notebook] if notebook else check.readable:
                failures[name] = str(error)
    return failures


def autograde_submission(
    course: Course, submission: Submission, stock: bool = False, timeout: float | None = None
) -> Outcome:
    """Autograde one submission on its own (``nbgrader autograde --student``); never raises for a bad one."""
    started = time.perf_counter()
    check = _precheck(course, submission)
    shutil.rmtree(course.autograded_dir / submission.student / submission.assignment, ignore_errors=True)
    failures = _run_alone(course, submission, check, stock, timeout or max(300.0, 20.0 * cell_timeout()))
    return _finish(course, submission, check, failures, time.perf_counter() - started, stock)


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line
    return lines[-1] if lines else "no log"


def _finish(
    course: Course,
    submission: Submission,
    check: _Precheck,
    failures: dict[str, str],
    seconds: float,
    stock: bool,
) -> Outcome:
    """Read what nbgrader wrote, settle the gradebook, and write the submission's note."""
    statuses, problems = dict(check.statuses), list(check.problems)
    for name in check.readable:
        autograded = course.autograded_dir / submission.student / submission.assignment / f"{name}.ipynb"
        if autograded.exists():
            statuses[name] = "graded"
            problems += problems_of(nbformat.read(autograded, as_version=4))
        else:
            statuses[name] = "failed"
            reason = failures.get(name, "nbgrader failed on it")
            problems.append(Problem("failed", None, f"{name}.ipynb could not be graded ({reason}); it scores 0."))
    if not stock:
        _settle_gradebook(course, submission, [name for name, status in statuses.items() if status != "graded"])
    score, max_score = submission_score(course, submission)
    outcome = Outcome(submission, score, max_score, seconds, problems, statuses)
    course.write_note(
        submission,
        {
            "notebooks": statuses,
            "problems": [problem.as_dict() for problem in problems],
            "score": score,
            "max_score": max_score,
            "seconds": round(seconds, 2),
            "stock_nbgrader": stock,
        },
    )
    return outcome


def _gradebook_notebooks(course: Course, assignment: str) -> list[str]:
    with course.gradebook() as gradebook:
        return sorted(notebook.name for notebook in gradebook.find_assignment(assignment).notebooks)


def _settle_gradebook(course: Course, submission: Submission, zero_notebooks: list[str]) -> None:
    """Leave no grade of this submission in limbo: what nbgrader could not grade scores 0.

    A submission nbgrader never reached gets its student and submission records, so that it shows
    up in the CSV with 0 rather than not at all; a test cell left without a score (jupyter/nbgrader#1682)
    gets 0 and stops asking for manual grading.
    """
    with course.gradebook() as gradebook, warnings.catch_warnings():
        # nbgrader's add_submission builds its records before adding them to the session.
        warnings.simplefilter("ignore", SAWarning)
        gradebook.update_or_create_student(submission.student)
        try:
            record = gradebook.find_submission(submission.assignment, submission.student)
        except MissingEntry:
            record = gradebook.add_submission(submission.assignment, submission.student)
        for notebook in record.notebooks:
            for grade in notebook.grades:
                autograded_test = grade.cell.cell_type == "code" and not _is_manual(grade)
                if not autograded_test:
                    continue
                if notebook.name in zero_notebooks or (grade.auto_score is None and grade.manual_score is None):
                    grade.auto_score, grade.needs_manual_grade = 0.0, False
        gradebook.db.commit()


def _is_manual(grade: Grade) -> bool:
    """A manually graded answer or task: its score comes from a person, not from outputs."""
    cell = grade.cell
    return type(cell).__name__ == "TaskCell" or any(
        solution.name == cell.name for solution in cell.notebook.solution_cells
    )


def submission_score(course: Course, submission: Submission) -> tuple[float, float]:
    with course.gradebook() as gradebook:
        try:
            record = gradebook.find_submission(submission.assignment, submission.student)
        except MissingEntry:
            return 0.0, float(gradebook.find_assignment(submission.assignment).max_score)
        return float(record.score), float(record.max_score)

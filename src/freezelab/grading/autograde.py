"""``autograde``: every collected submission, graded in the sandbox, under a progress bar.

A submission that cannot be read or graded scores 0 with the reason written down; the batch goes on.
Submissions are only ever read: the pipeline checks that every submitted file is byte-identical
before and after the batch.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import warnings
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import nbformat
from nbgrader.api import Grade, MissingEntry
from nbgrader.utils import parse_utc
from sqlalchemy.exc import SAWarning
from tqdm import tqdm

from freezelab.grading.course import Course, NbgraderTimedOut, Submission
from freezelab.grading.integrity import Problem, problems_of
from freezelab.grading.pool import DaskPool, LocalPool, Pool, default_jobs
from freezelab.grading.preprocessors import cell_timeout
from freezelab.grading.tasks import class_secret
from freezelab.grading.worker import Job, Result, class_settings, read_folder, write_folder


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
    readable: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _precheck(course: Course, submission: Submission) -> _Precheck:
    folder = course.submitted_path(submission)
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
    jobs: int | None = None,
    progress: bool = True,
    stock: bool = False,
    timeout: float | None = None,
    scheduler: str | None = None,
) -> list[Outcome]:
    """Autograde every collected submission (of ``assignment``, of ``students``).

    Each submission goes, as bytes, to a grading worker (:mod:`freezelab.grading.worker`): ``jobs``
    worker processes on this machine (default one per core), or the workers of the dask cluster at
    ``scheduler``. Workers send back data; this process alone writes the gradebook, the autograded
    copies and the notes, as each result arrives. What cannot be graded scores 0 with the reason
    written down. ``timeout`` bounds the seconds one submission may take (default: 20 cell time
    limits). ``stock=True`` runs ``nbgrader autograde`` as nbgrader ships, for comparisons only.
    """
    wanted = set(students) if students else None
    submissions = [s for s in course.submissions(assignment) if wanted is None or s.student in wanted]
    if not submissions:
        return []
    pool: Pool | None = None
    if not stock:  # workers warm up while the masters are generated and the submissions checked
        size = min(jobs or default_jobs(), len(submissions))
        pool = DaskPool(scheduler) if scheduler else LocalPool(size, logs=course.notes_dir / "workers")
        pool.prepare()
    try:
        sync_assignments(course, {s.assignment for s in submissions}, stock=stock)
        before = course.submitted_digests(submissions)
        timeout = timeout or max(300.0, 20.0 * cell_timeout())
        checks = {s: _precheck(course, s) for s in submissions}
        for submission in submissions:  # a stale autograded copy must not pass for a fresh one
            shutil.rmtree(course.autograded_path(submission), ignore_errors=True)
        if pool is None:
            outcomes = _stock_autograde(course, submissions, checks, timeout)
        else:
            outcomes = _coordinate(course, submissions, checks, pool, timeout, progress)
    finally:
        if pool is not None:
            pool.close()
    after = course.submitted_digests(submissions)
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    course.integrity_path.parent.mkdir(parents=True, exist_ok=True)
    course.integrity_path.write_text(json.dumps({"checked": len(before), "changed": changed}, indent=1) + "\n")
    return sorted(outcomes, key=lambda o: (o.submission.assignment, o.submission.student))


def autograde_submission(course: Course, submission: Submission, timeout: float | None = None) -> Outcome:
    """Autograde one submission on its own; never raises for a bad one."""
    (outcome,) = autograde(course, submission.assignment, [submission.student], jobs=1, progress=False, timeout=timeout)
    return outcome


def job_for(course: Course, submission: Submission, check: _Precheck, source: dict[str, bytes]) -> Job:
    """What a worker needs to grade ``submission``: its files (without unreadable notebooks), the masters."""
    files = read_folder(course.submitted_path(submission))
    unreadable = {f"{name}.ipynb" for name, status in check.statuses.items() if status == "unreadable"}
    files = {name: data for name, data in files.items() if name not in unreadable}
    return Job(
        submission.assignment,
        submission.student,
        files,
        source,
        class_secret(course.state_dir),
        class_settings(),
    )


def _coordinate(
    course: Course,
    submissions: list[Submission],
    checks: dict[Submission, _Precheck],
    pool: Pool,
    timeout: float,
    progress: bool,
) -> list[Outcome]:
    """Send every gradeable submission to ``pool``; record each result as it comes back."""
    by_key = {str(s): s for s in submissions}
    sources = {name: read_folder(course.solutions_dir / name) for name in {s.assignment for s in submissions}}
    gradeable = [s for s in submissions if checks[s].readable]
    outcomes = [_finish(course, s, checks[s], {}, 0.0) for s in submissions if not checks[s].readable]
    jobs = [job_for(course, s, checks[s], sources[s.assignment]) for s in gradeable]
    recorded: set[str] = set()
    running: set[str] = set()
    failed = 0
    lock = threading.Lock()
    timings = course.notes_dir / "timings.jsonl"
    timings.parent.mkdir(parents=True, exist_ok=True)
    timings.write_text("")
    with tqdm(
        total=len(submissions),
        initial=len(outcomes),
        desc="autograding",
        unit="submission",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:

        def show() -> None:
            bar.set_postfix_str(f"running {len(running)}, failed {failed}, {pool.size} worker(s)")

        def on_event(event: str, job: Job, payload: Any) -> None:
            nonlocal failed
            with lock:
                if event == "started":
                    running.add(job.key)
                elif event == "requeued":
                    running.discard(job.key)
                elif job.key not in recorded:  # a result comes once; a late duplicate is ignored
                    recorded.add(job.key)
                    running.discard(job.key)
                    submission = by_key[job.key]
                    if event == "graded":
                        started = time.perf_counter()
                        outcome = _record(course, submission, checks[submission], payload)
                        seconds = dict(payload.seconds, gradebook=time.perf_counter() - started)
                        line = {"submission": job.key, "worker": payload.worker, **seconds}
                        with timings.open("a") as handle:
                            handle.write(json.dumps(line) + "\n")
                    else:
                        failed += 1
                        reasons = dict.fromkeys(checks[submission].readable, payload)
                        outcome = _finish(course, submission, checks[submission], reasons, 0.0)
                    outcomes.append(outcome)
                    bar.update()
                show()

        show()
        pool.run(jobs, on_event, timeout)
    return outcomes


def _record(course: Course, submission: Submission, check: _Precheck, result: Result) -> Outcome:
    """Write what a worker sent back: the autograded files, the grades and comments, the note."""
    write_folder(course.autograded_path(submission), result.autograded)
    folder = course.submitted_path(submission)
    timestamp_file = folder / "timestamp.txt"
    with course.gradebook() as gradebook, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader builds its records before adding them
        gradebook.update_or_create_student(submission.student)
        timestamp = None
        if timestamp_file.is_file():
            with suppress(ValueError):
                timestamp = parse_utc(timestamp_file.read_text().strip())
        extra = {"timestamp": timestamp} if timestamp else {}
        record = gradebook.update_or_create_submission(submission.assignment, submission.student, **extra)
        for notebook in record.notebooks:
            scores, comments = result.grades.get(notebook.name, {}), result.comments.get(notebook.name, {})
            for grade in notebook.grades:
                if grade.name in scores:
                    grade.auto_score = scores[grade.name]
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            for comment in notebook.comments:
                if comment.name in comments:
                    comment.auto_comment = comments[comment.name]
        gradebook.db.commit()
    failures = {name: result.failure for name in check.readable if result.failure}
    return _finish(course, submission, check, failures, result.seconds.get("total", 0.0))


def _stock_autograde(
    course: Course, submissions: list[Submission], checks: dict[Submission, _Precheck], timeout: float
) -> list[Outcome]:
    """``nbgrader autograde`` as nbgrader ships, once per assignment (for comparisons only)."""
    outcomes = []
    for name in sorted({s.assignment for s in submissions}):
        mine = [s for s in submissions if s.assignment == name]
        others = sorted(s.student for s in course.submissions(name) if s not in mine)
        arguments = ["autograde", name, "--force"]
        if others:
            arguments.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        started = time.perf_counter()
        with suppress(NbgraderTimedOut):
            course.nbgrader(*arguments, timeout=timeout * len(mine), stock=True, check=False)
        seconds = (time.perf_counter() - started) / len(mine)
        outcomes += [_finish(course, s, checks[s], {}, seconds, stock=True) for s in mine]
    return outcomes


def integrity_text(course: Course) -> str:
    """One line on whether grading left every submitted file as it was."""
    try:
        record = json.loads(course.integrity_path.read_text())
    except (OSError, ValueError):
        return "submitted files: not checked (no autograde in this state folder yet)"
    if record["changed"]:
        return f"submitted files: {len(record['changed'])} CHANGED during grading: " + ", ".join(record["changed"])
    return f"submitted files: all {record['checked']} byte-identical before and after grading (sha256)"


def _finish(
    course: Course,
    submission: Submission,
    check: _Precheck,
    failures: dict[str, str],
    seconds: float,
    stock: bool = False,
) -> Outcome:
    """Read what nbgrader wrote, settle the gradebook, and write the submission's note."""
    statuses, problems = dict(check.statuses), list(check.problems)
    for name in check.readable:
        autograded = course.autograded_path(submission) / f"{name}.ipynb"
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

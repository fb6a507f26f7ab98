"""From a folder of submissions to grades, feedback, a CSV and a picture of the class.

Every step is one function and one command (``python -m freezelab.grading STEP``):

``collect``   copy a folder of student folders into ``submitted/``, or hand an LMS download (zip
              archives or files named ``<student>_..._<notebook>.ipynb``) to ``nbgrader zip_collect``.
``autograde`` put each assignment into the gradebook (``nbgrader generate_assignment``), then run
              ``nbgrader autograde`` once per submission, under a progress bar. A submission that
              cannot be read or graded scores 0 with the reason written down; the batch goes on.
``feedback``  ``nbgrader generate_feedback``, a page of its own for what nbgrader could not grade,
              and a check that no hidden test reached any feedback file.
``export``    ``nbgrader export`` to ``grades.csv``, plus ``task-scores.csv`` with a row per task.
``summary``   the score distribution and the pass rate of every task, drawn with matplotlib.

Submissions are only ever read: nbgrader copies them to ``autograded/`` before it runs anything.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from nbgrader.api import Grade, MissingEntry
from sqlalchemy.exc import SAWarning
from tqdm import tqdm

from freezelab.grading.course import (
    Course,
    NbgraderFailed,
    NbgraderTimedOut,
    Submission,
    assignment_of_notebook,
    notebook_names,
)
from freezelab.grading.integrity import (
    AssignmentLayout,
    Problem,
    cell_source,
    hidden_test_lines,
    nbgrader_metadata,
    problems_of,
    strip_hidden_tests,
)
from freezelab.grading.preprocessors import cell_timeout, load_layout

if TYPE_CHECKING:
    from freezelab.grading.summary import Summary

# ------------------------------------------------------------------------------------------ collect


@dataclass
class Collected:
    """What :func:`collect` put into ``submitted/``."""

    assignment: str
    students: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def default_lms_regexp(notebooks: Iterable[str]) -> str:
    """A ``FileNameCollectorPlugin.named_regexp`` for the usual LMS download names.

    It accepts ``<student>_<anything>_<notebook>.ipynb`` (Canvas, Moodle, Blackboard put the
    learner's id first and the file name last) and ``<student>[_anything]/<notebook>.ipynb``
    (one folder per learner inside the archive).
    """
    names = "|".join(re.escape(f"{name}.ipynb") for name in notebooks)
    return rf".*/(?P<student_id>[^/_]+)(?:_[^/]*)?[/_](?P<file_id>{names})$"


def collect(course: Course, source: Path, assignment: str | None = None, regexp: str | None = None) -> Collected:
    """Gather submissions of one assignment from ``source`` into ``submitted/``.

    ``source`` is a folder with one folder per learner (``alice/freeze-it-yourself.ipynb`` or
    ``alice/freeze-it-yourself/freeze-it-yourself.ipynb``), or an LMS download: a ``.zip`` file or
    a folder of archives and flat files, handed to ``nbgrader zip_collect``. Nothing in ``source`` is
    changed. A learner collected again replaces their earlier copy.
    """
    source = Path(source).resolve()
    notebooks_found = [p.name for p in ([source] if source.is_file() else source.rglob("*.ipynb"))]
    assignment = assignment or _guess_assignment(course, source, notebooks_found)
    if assignment not in course.assignments():
        raise ValueError(f"there is no assignment {assignment!r} in {course.solutions_dir}")
    if _is_lms_download(source):
        return _zip_collect(course, source, assignment, regexp)
    result = Collected(assignment)
    expected = {f"{name}.ipynb" for name in notebook_names(assignment, course.solutions_dir)}
    for student_dir in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith(".")):
        origin = student_dir / assignment if (student_dir / assignment).is_dir() else student_dir
        files = [p for p in origin.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts]
        if not files:
            result.warnings.append(f"{student_dir.name}: the folder is empty; nothing collected")
            continue
        destination = course.submitted_dir / student_dir.name / assignment
        if destination.exists():
            shutil.rmtree(destination)
        for path in files:
            target = destination / path.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        names = {p.name for p in files if p.suffix == ".ipynb"}
        if not names & expected:
            result.warnings.append(
                f"{student_dir.name}: no notebook named {', '.join(sorted(expected))} "
                f"(found {', '.join(sorted(names)) or 'no notebook'})"
            )
        result.students.append(student_dir.name)
    return result


def _guess_assignment(course: Course, source: Path, notebooks: list[str]) -> str:
    guesses = {assignment_of_notebook(name, course.solutions_dir) for name in notebooks} - {None}
    if len(guesses) != 1:
        raise ValueError(
            f"cannot tell which assignment {source} holds; name it with --assignment "
            f"(one of {', '.join(course.assignments())})"
        )
    return guesses.pop()


def _is_lms_download(source: Path) -> bool:
    if source.is_file():
        return True
    return any(p.is_file() and (p.suffix in {".zip", ".gz", ".ipynb"}) for p in source.iterdir())


def _zip_collect(course: Course, source: Path, assignment: str, regexp: str | None) -> Collected:
    sync_assignments(course, [assignment])
    archive = course.downloaded_dir / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    if source.is_file():
        shutil.copy2(source, archive / source.name)
    else:
        shutil.copytree(source, archive, dirs_exist_ok=True)
    before = {s.student for s in course.submissions(assignment)}
    regexp = regexp or default_lms_regexp(notebook_names(assignment, course.solutions_dir))
    result = course.nbgrader("zip_collect", assignment, "--force", f"--FileNameCollectorPlugin.named_regexp={regexp}")
    collected = Collected(assignment)
    log = result.stdout + result.stderr
    collected.students = sorted(
        set(re.findall(r"submitted/([^/]+)/" + re.escape(assignment) + "/", log))
        | ({s.student for s in course.submissions(assignment)} - before)
    )
    collected.warnings = [
        line.split("]", 1)[-1].strip()
        for line in log.splitlines()
        if "WARNING" in line and ("Skipped" in line or "did not match" in line)
    ]
    return collected


# ---------------------------------------------------------------------------------------- autograde


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


# ----------------------------------------------------------------------------------------- feedback


def feedback(course: Course, assignment: str | None = None) -> list[Path]:
    """Write the feedback HTML of every graded submission; returns the files learners will receive."""
    submissions = course.submissions(assignment)
    for name in sorted({s.assignment for s in submissions}):
        # nbgrader carries on past a notebook it cannot render and exits non-zero at the end;
        # those notebooks get the page below.
        course.nbgrader("generate_feedback", name, "--force", check=False)
    written = []
    for submission in submissions:
        statuses = course.read_note(submission).get("notebooks", {})
        for name, status in statuses.items():
            page = course.feedback_dir / submission.student / submission.assignment / f"{name}.html"
            if not page.exists() or status != "graded":
                page.parent.mkdir(parents=True, exist_ok=True)
                page.write_text(_fallback_page(course, submission, name, status))
            written.append(page)
    for page in find_hidden_test_leaks(course, assignment):
        _withhold(course, page)
    return written


WITHHELD = "withheld"


def _withhold(course: Course, page: Path) -> None:
    """Replace one learner's feedback page that shows hidden-test text; note it. Nobody else is affected."""
    student, assignment = page.parent.parent.name, page.parent.name
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback withheld</title></head><body>"
        f"<h1>Feedback: {html.escape(assignment)} / {html.escape(page.stem)}</h1><p>Your grade stands, but this "
        "page is withheld: the notebook printed text of the grader's hidden tests, so the page cannot be "
        "released as it was. Your instructor has a note of it and can tell you what each task scored.</p>"
        "</body></html>\n"
    )
    submission = Submission(assignment, student)
    note = course.read_note(submission)
    message = f"{page.stem}.html: feedback withheld (it showed text of a hidden test); the grade stands."
    note.setdefault("problems", []).append(Problem(WITHHELD, None, message).as_dict())
    note.setdefault("withheld_feedback", []).append(page.stem)
    course.write_note(submission, note)


def _fallback_page(course: Course, submission: Submission, notebook: str, status: str) -> str:
    note = course.read_note(submission)
    lines = "".join(f"<li>{html.escape(p['message'])}</li>" for p in note.get("problems", []))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}: feedback</title>"
        "</head><body><h1>Feedback: " + html.escape(f"{submission.assignment} / {notebook}") + "</h1>"
        f"<p>Score for this notebook: 0. It was <strong>{html.escape(status)}</strong>, so the grader "
        "could not run it.</p><h2>What the grader found</h2><ul>" + lines + "</ul></body></html>\n"
    )


def html_text(page: str) -> str:
    """The visible text of an HTML page: tags dropped, entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hidden_lines_of(course: Course, assignment: str) -> set[str]:
    """Hidden test lines worth looking for: long enough to be distinctive, absent from the release."""
    found = set()
    for notebook in notebook_names(assignment, course.solutions_dir):
        layout = load_layout(course.db_url, assignment, notebook, course.solutions_dir)
        released = [strip_hidden_tests(cell.source) for cell in layout.cells]
        release = course.release_dir / assignment / f"{notebook}.ipynb"
        if release.exists():  # the instructions a learner received may quote a line too
            released += [cell_source(cell) for cell in nbformat.read(release, as_version=4).cells]
        released = "\n".join(released)
        for cell in layout.cells:
            found |= {line for line in hidden_test_lines(cell.source) if len(line) >= 20 and line not in released}
    return found


def _learner_text(autograded: Path) -> str:
    """Everything the learner wrote or received: the notebook's cells other than the test cells."""
    try:
        nb = nbformat.read(autograded, as_version=4)
    except Exception:  # no readable notebook: nothing of the learner's to exclude
        return ""
    kept = []
    for cell in nb.cells:
        meta = nbgrader_metadata(cell)
        if not (meta.get("grade") and not meta.get("solution")):
            kept.append(cell_source(cell))
    return "\n".join(kept)


def find_hidden_test_leaks(course: Course, assignment: str | None = None) -> list[Path]:
    """Feedback files in which a line of a hidden test appears.

    A line the learner happened to write in their own cells is not a leak, so it is not counted.
    """
    leaks = []
    for name in sorted({s.assignment for s in course.submissions(assignment)}):
        lines = hidden_lines_of(course, name)
        for page in sorted(course.feedback_dir.glob(f"*/{name}/*.html")):
            student = page.parent.parent.name
            own = _learner_text(course.autograded_dir / student / name / f"{page.stem}.ipynb")
            text = "".join(html_text(page.read_text(errors="replace")).split())
            if any(leaked(line, text) for line in lines if line not in own):
                leaks.append(page)
    return leaks


def _base64_forms(data: bytes) -> set[str]:
    """The stretches of base64 that encode ``data`` wherever it starts within a longer text."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        start = 4 if offset else 0
        stable = encoded[start : len(encoded) - 4]
        if len(stable) >= 16:
            forms.add(stable)
    return forms


def leaked(line: str, text_without_whitespace: str) -> bool:
    """Whether ``line`` shows in the page text: as it is, split over lines or spaced out, reversed, or in base64."""
    bare = "".join(line.split())
    if bare in text_without_whitespace or bare[::-1] in text_without_whitespace:
        return True
    forms = _base64_forms(line.encode()) | _base64_forms(line.strip().encode())
    return any(form in text_without_whitespace for form in forms)


# ------------------------------------------------------------------------------------------- export


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


# -------------------------------------------------------------------------------------------- run all


@dataclass(frozen=True)
class PipelineRun:
    """Everything one ``all`` run produced."""

    collected: Collected | None
    outcomes: list[Outcome]
    feedback_pages: list[Path]
    exported: Exported
    summary: Summary


def run_all(
    course: Course,
    source: Path | None = None,
    assignment: str | None = None,
    jobs: int = 1,
    progress: bool = True,
) -> PipelineRun:
    """collect (when ``source`` is given) → autograde → feedback → export → summary."""
    from freezelab.grading.summary import summarise

    collected = collect(course, source, assignment) if source else None
    outcomes = autograde(course, assignment, jobs=jobs, progress=progress)
    pages = feedback(course, assignment)
    exported = export(course)
    return PipelineRun(collected, outcomes, pages, exported, summarise(course, assignment))

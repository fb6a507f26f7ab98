"""``collect``: a folder of learner folders, or an LMS download, into ``submitted/``.

Nothing in the source is changed; a learner collected again replaces their earlier copy.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from freezelab.grading.autograde import sync_assignments
from freezelab.grading.course import (
    Course,
    Submission,
    assignment_of_notebook,
    notebook_names,
)


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
        destination = course.submitted_path(Submission(assignment, student_dir.name))
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

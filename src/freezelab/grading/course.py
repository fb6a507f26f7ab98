"""Where a class's grading state lives, and running the real nbgrader CLI against it.

The state folder holds everything nbgrader writes while grading: ``gradebook.db`` (SQLite),
``submitted/``, ``autograded/``, ``feedback/``, plus what this package adds: ``release/`` (the
assignment as generated into the gradebook), ``downloaded/`` (LMS archives for ``zip_collect``),
``notes/`` (what happened to each submission) and ``exports/`` (CSV files and the summary plot).
It is ``autograder/`` for a real class, or ``$FREEZELAB_GRADING_DIR``; the tests and the demo
always use a temporary folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from freezelab.grading.integrity import nbgrader_metadata
from freezelab.paths import AUTOGRADER_DIR, SOLUTIONS_DIR


def nbgrader_executable() -> str:
    """The ``nbgrader`` of this Python's environment, else the first on ``PATH``."""
    candidate = Path(sys.executable).with_name("nbgrader")
    return str(candidate) if candidate.exists() else "nbgrader"


def assignment_names(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Every assignment of the course, sorted: the folders of ``solutions/`` that hold a notebook.

    The one list, for generating the learner copies (``freezelab.build``) and for grading alike.
    Hidden and private folders (``.ipynb_checkpoints``, ``__pycache__``, ``_drafts``) are not
    assignments, and neither is a folder without a notebook of its own (a data folder, or what is left
    of a renamed assignment): ``nbgrader generate_assignment`` refuses one ("No notebooks were matched").
    """
    return sorted(
        p.name
        for p in solutions_dir.iterdir()
        if p.is_dir() and not p.name.startswith((".", "_")) and any(p.glob("*.ipynb"))
    )


def notebook_names(assignment: str, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """The notebooks of one assignment, without ``.ipynb``, sorted."""
    return sorted(p.stem for p in (solutions_dir / assignment).glob("*.ipynb"))


def assignment_of_notebook(filename: str, solutions_dir: Path = SOLUTIONS_DIR) -> str | None:
    """The assignment with a notebook called ``filename`` (``freeze-it-yourself.ipynb``), if exactly one."""
    stem = Path(filename).stem
    matches = [name for name in assignment_names(solutions_dir) if stem in notebook_names(name, solutions_dir)]
    return matches[0] if len(matches) == 1 else None


def assignment_of_cells(path: Path, solutions_dir: Path = SOLUTIONS_DIR) -> tuple[str, str] | None:
    """(assignment, notebook) whose graded cell ids overlap most with the notebook at ``path``."""
    try:
        submitted = nbformat.read(path, as_version=4)
    except Exception:  # an unreadable file simply matches nothing
        return None
    ids = {nbgrader_metadata(cell).get("grade_id") for cell in submitted.cells} - {None}
    best, best_overlap = None, 0
    for assignment in assignment_names(solutions_dir):
        for notebook in notebook_names(assignment, solutions_dir):
            master = nbformat.read(solutions_dir / assignment / f"{notebook}.ipynb", as_version=4)
            master_ids = {nbgrader_metadata(cell).get("grade_id") for cell in master.cells} - {None}
            overlap = len(ids & master_ids)
            if overlap > best_overlap:
                best, best_overlap = (assignment, notebook), overlap
    return best


@dataclass(frozen=True)
class Submission:
    """One learner's submission of one assignment, as collected into ``submitted/``."""

    assignment: str
    student: str

    def __str__(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass(frozen=True)
class Course:
    """One class's grading state folder, and the course (``solutions/``) it grades."""

    state_dir: Path
    solutions_dir: Path = SOLUTIONS_DIR

    @classmethod
    def from_environment(cls) -> Course:
        """The state folder named by ``FREEZELAB_GRADING_DIR``, else ``autograder/``."""
        return cls(Path(os.environ.get("FREEZELAB_GRADING_DIR", AUTOGRADER_DIR)).resolve())

    @property
    def submitted_dir(self) -> Path:
        return self.state_dir / "submitted"

    @property
    def autograded_dir(self) -> Path:
        return self.state_dir / "autograded"

    @property
    def feedback_dir(self) -> Path:
        return self.state_dir / "feedback"

    @property
    def release_dir(self) -> Path:
        return self.state_dir / "release"

    @property
    def downloaded_dir(self) -> Path:
        return self.state_dir / "downloaded"

    @property
    def notes_dir(self) -> Path:
        return self.state_dir / "notes"

    @property
    def exports_dir(self) -> Path:
        return self.state_dir / "exports"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db_path}"

    def create_gradebook(self) -> None:
        """Make the class's empty gradebook as nbgrader does, unless it exists.

        nbgrader's own first connection runs ``alembic heads`` in a subprocess to learn the schema's
        version (3 s on this machine, paid again by every grading worker's private gradebook); this
        reads the same version from nbgrader's migration scripts in-process and writes the same tables.
        """
        if self.db_path.exists() and self.db_path.stat().st_size:
            return
        from alembic.script import ScriptDirectory
        from nbgrader import api
        from sqlalchemy import create_engine, text

        head = ScriptDirectory(str(Path(api.__file__).parent / "alembic")).get_current_head()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.db_url)
        try:
            with engine.begin() as connection:
                api.Base.metadata.create_all(bind=connection)
                connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
        finally:
            engine.dispose()

    def environment(self, stock: bool = False) -> dict[str, str]:
        # nbgrader runs `alembic` and `jupyter` by name: the environment's own bin folder goes first.
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        env = dict(
            os.environ,
            FREEZELAB_GRADING_DIR=str(self.state_dir),
            FREEZELAB_RELEASE_DIR=str(self.release_dir),
            FREEZELAB_SOURCE_DIR=str(self.solutions_dir),
            PYTHONUNBUFFERED="1",
            PATH=path,
        )
        if stock:
            env["FREEZELAB_STOCK_NBGRADER"] = "1"
        else:
            env.pop("FREEZELAB_STOCK_NBGRADER", None)
        return env

    def nbgrader(
        self,
        *arguments: str,
        timeout: float | None = None,
        stock: bool = False,
        check: bool = True,
        on_line: Callable[[str], None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``nbgrader ARGUMENTS`` from ``autograder/`` (where its config lives) on this state folder.

        Its log (stdout and stderr together) comes back as ``stdout``, and line by line to ``on_line``
        as it is written. Past ``timeout`` seconds nbgrader is stopped together with the kernels it
        started, and :class:`NbgraderTimedOut` is raised.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not stock:
            self.create_gradebook()
        command = [nbgrader_executable(), *arguments]
        # A session of its own, so that stopping it stops the kernel it started as well; `with` closes
        # the pipe and reaps the process however this ends.
        with subprocess.Popen(
            command,
            cwd=AUTOGRADER_DIR,
            env=self.environment(stock=stock),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        ) as process:
            timed_out = threading.Event()

            def stop() -> None:
                timed_out.set()
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)

            timer = threading.Timer(timeout, stop) if timeout else None
            if timer:
                timer.start()
            lines = []
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    lines.append(line)
                    if on_line:
                        on_line(line)
                process.wait()
            except BaseException:
                stop()
                raise
            finally:
                if timer:
                    timer.cancel()
        if timed_out.is_set():
            raise NbgraderTimedOut(arguments, timeout or 0.0)
        result = subprocess.CompletedProcess(command, process.returncode, "".join(lines), "")
        if check and result.returncode != 0:
            raise NbgraderFailed(arguments, result)
        return result

    @contextmanager
    def gradebook(self) -> Iterator[Gradebook]:
        self.create_gradebook()
        with Gradebook(self.db_url) as gradebook:
            yield gradebook

    def assignments(self) -> list[str]:
        return assignment_names(self.solutions_dir)

    def submissions(self, assignment: str | None = None) -> list[Submission]:
        """Every collected submission of ``assignment`` (or of every assignment), sorted."""
        wanted = [assignment] if assignment else self.assignments()
        found = []
        if self.submitted_dir.is_dir():
            for student_dir in sorted(self.submitted_dir.iterdir()):
                for name in wanted:
                    if (student_dir / name).is_dir():
                        found.append(Submission(name, student_dir.name))
        return sorted(found, key=lambda s: (s.assignment, s.student))

    def submitted_path(self, submission: Submission) -> Path:
        """The folder of one submission as collected (only ever read)."""
        return self.submitted_dir / submission.student / submission.assignment

    def autograded_path(self, submission: Submission) -> Path:
        """The folder of one submission's autograded copy (what feedback is made from)."""
        return self.autograded_dir / submission.student / submission.assignment

    def feedback_path(self, submission: Submission) -> Path:
        return self.feedback_dir / submission.student / submission.assignment

    @property
    def integrity_path(self) -> Path:
        """What the last autograde found when it compared the submitted files before and after."""
        return self.notes_dir / "submitted-files.json"

    def submitted_digests(self, submissions: list[Submission]) -> dict[str, str]:
        """sha256 of every file the given submissions hold in ``submitted/``, by path."""
        digests = {}
        for submission in submissions:
            folder = self.submitted_path(submission)
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digests[str(path.relative_to(self.submitted_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
        return digests

    def note_path(self, submission: Submission) -> Path:
        return self.notes_dir / submission.assignment / f"{submission.student}.json"

    def read_note(self, submission: Submission) -> dict:
        path = self.note_path(submission)
        return json.loads(path.read_text()) if path.exists() else {}

    def write_note(self, submission: Submission, note: dict) -> None:
        path = self.note_path(submission)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(note, indent=1, sort_keys=True) + "\n")


class NbgraderFailed(RuntimeError):
    """An nbgrader command exited with an error; the message carries the end of its log."""

    def __init__(self, arguments: tuple[str, ...], result: subprocess.CompletedProcess[str]) -> None:
        self.arguments = arguments
        self.result = result
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        super().__init__(f"nbgrader {' '.join(arguments)} failed (exit {result.returncode}):\n{tail}")


class NbgraderTimedOut(RuntimeError):
    """An nbgrader command ran past its time limit and was stopped, with every process it started."""

    def __init__(self, arguments: tuple[str, ...], timeout: float) -> None:
        self.arguments = arguments
        super().__init__(f"nbgrader {' '.join(arguments)} was still running after {timeout:g} s and was stopped")

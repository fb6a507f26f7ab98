"""A grading worker: a submission's bytes in, its grades as data out. It never sees the class's gradebook.

A worker is a long-lived process (one per core on this machine, or a ``dask worker`` on another
machine with the course installed). It keeps, for its whole life:

* nbgrader, torch and this package imported, and nbgrader's own API (:class:`NbGraderAPI`) loaded
  with the course's configuration (``autograder/nbgrader_config.py``);
* a private course folder with a private gradebook, into which each assignment's masters (sent with
  the job) are generated once;
* a warm sandbox (:mod:`freezelab.grading.warm`) from which each learner's kernel is forked.

For each :class:`Job` it writes the learner's files into its private ``submitted/`` folder, runs
nbgrader's real ``autograde`` converter on them (the course's preprocessors: sandboxed kernel,
hidden-test verdicts, tampering scan), and returns a :class:`Result`: the autograded files, the score
and comment of every graded cell, how long each part took. Then it forgets the learner. The
coordinator (:mod:`freezelab.grading.autograde`) alone writes the class's gradebook.

``python -m freezelab.grading.worker`` serves jobs over its standard input and output (the local
pool, :mod:`freezelab.grading.pool`); :func:`grade_on_this_worker` does the same on a dask worker.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import pickle
import shutil
import socket
import struct
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from freezelab.grading.course import Course, Submission
from freezelab.paths import AUTOGRADER_DIR


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to grade one submission, as data."""

    assignment: str
    student: str
    files: dict[str, bytes]
    """The submission as collected: path inside ``submitted/<student>/<assignment>/`` → bytes."""
    source: dict[str, bytes]
    """The assignment's masters and data files (``solutions/<assignment>/``): path → bytes."""
    secret: bytes
    """The class's secret, from which each learner's hidden cases are drawn."""
    settings: dict[str, str] = field(default_factory=dict)
    """The grading settings of the class (cell time limit, sandbox caps) as environment variables."""

    @property
    def key(self) -> str:
        return f"{self.student}/{self.assignment}"


@dataclass
class Result:
    """What grading one submission produced, for the coordinator to record."""

    assignment: str
    student: str
    autograded: dict[str, bytes] = field(default_factory=dict)
    """Every file nbgrader wrote to ``autograded/<student>/<assignment>/``: path → bytes."""
    grades: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Notebook → grade id → the automatic score nbgrader's converter gave."""
    comments: dict[str, dict[str, str | None]] = field(default_factory=dict)
    """Notebook → grade id of an answer cell → nbgrader's automatic comment (``No response.``)."""
    failure: str | None = None
    """Why nbgrader could not grade the submission at all (the last error of its log)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds by part: ``start_up``, ``learner_code``, ``hidden_tests``, ``nbgrader``, ``total``."""
    worker: str = ""


# Settings a class may change, passed from the coordinator to every worker.
SETTINGS = ("FREEZELAB_CELL_TIMEOUT", "FREEZELAB_MEMORY_GIB", "FREEZELAB_MAX_PROCESSES", "FREEZELAB_CPU_SECONDS")


def class_settings() -> dict[str, str]:
    """This process's values of :data:`SETTINGS`, to send with each job."""
    return {name: os.environ[name] for name in SETTINGS if name in os.environ}


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (no links, no checkpoints): relative path → bytes."""
    files = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink() and ".ipynb_checkpoints" not in path.parts:
                files[str(path.relative_to(folder))] = path.read_bytes()
    return files


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Make ``folder`` hold exactly ``files``; a path that would leave the folder is refused."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    root = folder.resolve()
    for name, data in files.items():
        target = (folder / name).resolve()
        if root not in target.parents:
            raise ValueError(f"{name!r} is not a path inside the submission")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line
    return lines[-1] if lines else "no log"


class GradingWorker:
    """One worker's private course, its nbgrader API and its warm sandbox (see the module's docstring)."""

    def __init__(self, warm_kernels: bool = True) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="freezelab-worker-"))
        self.state, self.source = self.root / "state", self.root / "source"
        self.course = Course(self.state, solutions_dir=self.source)
        for folder in (self.state, self.source):
            folder.mkdir()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._generated: dict[str, str] = {}
        self._settings: dict[str, str] | None = None
        self._warm = warm_kernels
        self.api = None

    def _configure(self, settings: dict[str, str]) -> None:
        """Load the course's nbgrader configuration for the private folder and these class settings."""
        if self._settings == settings and self.api is not None:
            return
        from nbgrader.apps import NbGraderAPI
        from traitlets.config.loader import PyFileConfigLoader

        for name in SETTINGS:
            os.environ.pop(name, None)
        os.environ.update(settings)
        os.environ.update(
            FREEZELAB_GRADING_DIR=str(self.state),
            FREEZELAB_SOURCE_DIR=str(self.source),
            FREEZELAB_RELEASE_DIR=str(self.root / "release"),
            # nbgrader runs `alembic` by name when it creates a gradebook
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        )
        os.environ.pop("FREEZELAB_STOCK_NBGRADER", None)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER_DIR)).load_config()
        self.api = NbGraderAPI(config=config)
        self._settings, self._generated = dict(settings), {}
        from freezelab.grading import warm
        from freezelab.grading.sandbox import sandbox_disabled

        if self._warm and not sandbox_disabled():
            warm.enable()

    def warm_up(self, settings: dict[str, str]) -> None:
        """Pay before the first job what every job needs: nbgrader's API, the warm sandbox (which starts
        importing torch at once, beside this process) and the structure of every architecture that
        hidden tests draw from."""
        from freezelab.grading.tasks import learn_architectures

        self._configure(settings)
        learn_architectures()

    def _generate(self, job: Job) -> None:
        """Put the job's assignment into the private gradebook, once per version of its masters."""
        digest = _digest(job.source)
        if self._generated.get(job.assignment) == digest:
            return
        write_folder(self.source / job.assignment, job.source)
        self.course.create_gradebook()
        outcome = self.api.generate_assignment(job.assignment, force=True, create=True)
        if not outcome["success"]:
            raise RuntimeError(f"generate_assignment {job.assignment} failed: {_last_error(outcome.get('log', ''))}")
        self._generated[job.assignment] = digest

    def grade(self, job: Job) -> Result:
        """Grade one submission in the private course and return what it got; forget it afterwards."""
        from nbgrader.api import MissingEntry
        from sqlalchemy.exc import SAWarning

        from freezelab.grading.preprocessors import STOPWATCH
        from freezelab.grading.tasks import SECRET_FILE

        started = time.perf_counter()
        self._configure(job.settings)
        self._generate(job)
        secret = self.state / SECRET_FILE
        if not secret.exists() or secret.read_bytes() != job.secret:
            secret.write_bytes(job.secret)
            secret.chmod(0o600)
        submission = Submission(job.assignment, job.student)
        submitted, autograded = self.course.submitted_path(submission), self.course.autograded_path(submission)
        write_folder(submitted, job.files)
        shutil.rmtree(autograded, ignore_errors=True)
        STOPWATCH.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # nbgrader builds its records before adding them
            outcome = self.api.autograde(job.assignment, job.student, force=True, create=True)
        result = Result(job.assignment, job.student, worker=self.name)
        if not outcome["success"]:
            result.failure = _last_error(outcome.get("error") or outcome.get("log") or "")
        result.autograded = read_folder(autograded)
        with self.course.gradebook() as gradebook:
            try:
                record = gradebook.find_submission(job.assignment, job.student)
            except MissingEntry:
                record = None
            if record is not None:
                for notebook in record.notebooks:
                    result.grades[notebook.name] = {grade.name: grade.auto_score for grade in notebook.grades}
                    result.comments[notebook.name] = {c.name: c.auto_comment for c in notebook.comments}
                gradebook.remove_submission(job.assignment, job.student)
        for folder in (submitted.parent, autograded.parent):
            shutil.rmtree(folder, ignore_errors=True)
        total = time.perf_counter() - started
        cells = STOPWATCH.get("learner_code", 0.0) + STOPWATCH.get("hidden_tests", 0.0)
        result.seconds = {
            "start_up": max(0.0, STOPWATCH.get("execute", 0.0) - cells),
            "learner_code": STOPWATCH.get("learner_code", 0.0),
            "hidden_tests": STOPWATCH.get("hidden_tests", 0.0) + STOPWATCH.get("verdicts", 0.0),
            "nbgrader": max(0.0, total - STOPWATCH.get("execute", 0.0) - STOPWATCH.get("verdicts", 0.0)),
            "total": total,
        }
        return result

    def close(self) -> None:
        from freezelab.grading import warm

        warm.shutdown()
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------------------------ dask workers

_THIS_WORKER: GradingWorker | None = None


def grade_on_this_worker(job: Job) -> Result:
    """Grade ``job`` with this process's :class:`GradingWorker` (made on first use): a dask task."""
    global _THIS_WORKER
    if _THIS_WORKER is None:
        _THIS_WORKER = GradingWorker()
        atexit.register(_THIS_WORKER.close)  # its sandbox and private folder go when the dask worker stops
    return _THIS_WORKER.grade(job)


# ------------------------------------------------------------------------------------- local worker


def send(stream: BinaryIO, message: object) -> None:
    """One message on a pipe: its length, then its pickle. Only ever between the grader's own processes."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("!Q", len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> object | None:
    """The next message of :func:`send`, or ``None`` when the other end is gone."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("!Q", header)
    data = stream.read(size)
    return pickle.loads(data) if len(data) == size else None


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Grade jobs from ``requests`` until it closes; a :class:`Result` (or the error's text) for each."""
    worker = GradingWorker()
    try:
        try:  # the coordinator's own environment holds the class's settings
            worker.warm_up(class_settings())
        except Exception as error:  # the first job meets it again, and reports it for its submission
            print(f"grading worker: warming up failed ({type(error).__name__}: {error})", file=sys.stderr)
        send(replies, "ready")
        while (job := receive(requests)) is not None:
            assert isinstance(job, Job)
            try:
                send(replies, worker.grade(job))
            except Exception as error:  # the coordinator records it for this submission and goes on
                send(replies, f"{type(error).__name__}: {error}")
    finally:
        worker.close()


def main() -> None:
    # Job and result messages travel on the original stdin/stdout; anything printed goes to stderr.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    serve(requests, replies)


if __name__ == "__main__":
    # Run the package's module, not this copy named __main__: jobs are pickles of its classes.
    from freezelab.grading.worker import main as serve_here

    serve_here()

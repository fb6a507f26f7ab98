"""Saving a learner's quiz state in a small local JSON file, atomically and safely.

* Writes are atomic: the new content goes to a temporary file in the same folder, is flushed to
  disk, then renamed over the old file, so a crash or a full disk never leaves half a file.
* A file that cannot be used (not JSON, wrong format, unreadable) gives a clear warning and a
  fresh start, never a traceback, and it is never silently overwritten: it is first moved aside
  as ``<name>.corrupt-<time>``. When even that is impossible, saving is switched off for the
  session so the old file survives untouched.

Practice progress lives in ``$FREEZELAB_PROGRESS_DIR`` (default ``~/.freezelab/progress``), one
file per learner and quiz. Recorded exam answers use the same machinery but live next to the
graded notebook, so that nbgrader submits them with it.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz.bank import SCHEMAS, schema_problems

PROGRESS_DIR_VARIABLE = "FREEZELAB_PROGRESS_DIR"
LEARNER_VARIABLE = "FREEZELAB_LEARNER"
DEFAULT_PROGRESS_DIR = Path("~/.freezelab/progress")


class ProgressWarning(UserWarning):
    """Saved quiz state could not be used or written; the quiz carries on regardless."""


def learner_name() -> str:
    """Who is taking the quiz: ``$FREEZELAB_LEARNER``, else the JupyterHub user, else the
    login name; reduced to characters that are safe in a file name."""
    name = os.environ.get(LEARNER_VARIABLE) or os.environ.get("JUPYTERHUB_USER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (some containers)
            name = "learner"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-") or "learner"


def inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def progress_dir() -> Path:
    """The folder for practice progress files (``$FREEZELAB_PROGRESS_DIR`` overrides).

    Progress is a learner's own state and never belongs in the instructor's ``solutions/``; a
    setting that points there is refused with a warning and the default is used instead.
    """
    configured = os.environ.get(PROGRESS_DIR_VARIABLE)
    folder = Path(configured).expanduser() if configured else DEFAULT_PROGRESS_DIR.expanduser()
    if inside(folder, SOLUTIONS_DIR):
        warnings.warn(
            f"{PROGRESS_DIR_VARIABLE}={configured} points inside solutions/, which holds the "
            f"instructor's masters; quiz progress goes to {DEFAULT_PROGRESS_DIR} instead.",
            ProgressWarning,
            stacklevel=2,
        )
        folder = DEFAULT_PROGRESS_DIR.expanduser()
    return folder


def progress_path(quiz_id: str, learner: str | None = None, folder: Path | None = None) -> Path:
    """``<folder>/<quiz>.<learner>.progress.json``."""
    return (folder or progress_dir()) / f"{quiz_id}.{learner or learner_name()}.progress.json"


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def write_json_atomically(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON in one atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class LoadOutcome:
    """The saved document (``None`` for a fresh start) and, if something went wrong, why."""

    document: dict[str, Any] | None
    warning: str | None = None
    kept_as: Path | None = None


class StateFile:
    """One small JSON state file of a known format, for one quiz.

    ``load()`` never raises for a bad file and ``save()`` never raises at all: both return a
    message for the learner instead (and emit a :class:`ProgressWarning`). With
    ``read_only=True`` the file is neither moved nor written (used while autograding).
    """

    def __init__(
        self, path: Path, file_format: str, quiz_id: str, *, read_only: bool = False, what: str = "quiz progress"
    ):
        if file_format not in SCHEMAS:
            raise ValueError(f"unknown state format {file_format!r}")
        self.path = Path(path)
        self.format = file_format
        self.quiz_id = quiz_id
        self.read_only = read_only
        self.what = what
        self.saving_disabled_reason: str | None = None

    # -- reading
    def _problems(self, document: Any) -> list[str]:
        if not isinstance(document, dict):
            return ["it is not a JSON object"]
        if document.get("format") != self.format:
            return [f"its format is {document.get('format')!r}, not {self.format!r}"]
        problems = schema_problems(document, SCHEMAS[self.format])
        if not problems and document.get("quiz") != self.quiz_id:
            problems.append(f"it belongs to quiz {document.get('quiz')!r}, not {self.quiz_id!r}")
        return problems

    def _set_aside(self, reason: str) -> LoadOutcome:
        if self.read_only:
            message = (
                f"The saved {self.what} in {self.path} cannot be used ({reason}); it is left as it is and ignored."
            )
            return self._warn(LoadOutcome(None, message))
        base = f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
        kept, counter = self.path.with_name(base), 1
        try:
            while kept.exists():
                counter += 1
                kept = self.path.with_name(f"{base}-{counter}")
            os.replace(self.path, kept)
        except OSError as error:
            self.saving_disabled_reason = (
                f"the unreadable file {self.path} could not be moved aside ({error.strerror}), so it is not overwritten"
            )
            message = (
                f"The saved {self.what} in {self.path} cannot be used ({reason}) and could "
                f"not be moved aside ({error.strerror}). The quiz starts afresh, and this "
                "session will not save, so that file is left untouched."
            )
            return self._warn(LoadOutcome(None, message))
        message = (
            f"The saved {self.what} in {self.path} could not be used ({reason}). "
            f"A copy is kept as {kept.name}; the quiz starts afresh."
        )
        return self._warn(LoadOutcome(None, message, kept))

    @staticmethod
    def _warn(outcome: LoadOutcome) -> LoadOutcome:
        warnings.warn(outcome.warning, ProgressWarning, stacklevel=3)
        return outcome

    def load(self) -> LoadOutcome:
        if not self.path.exists() and not self.path.is_symlink():
            return LoadOutcome(None)
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            return self._set_aside(f"it cannot be read: {error.strerror or error}")
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return self._set_aside(f"it is not valid JSON: {error}")
        problems = self._problems(document)
        if problems:
            return self._set_aside("; ".join(problems[:3]))
        return LoadOutcome(document)

    # -- writing
    def save(self, document: dict[str, Any]) -> str | None:
        """Write ``document``; return ``None``, or a message saying why nothing was saved."""
        if self.read_only:
            return None
        if self.saving_disabled_reason:
            return f"Not saved: {self.saving_disabled_reason}."
        problems = self._problems(document)
        if problems:  # a bug in the caller: refuse to write a file that would not load again
            raise ValueError(f"refusing to save invalid {self.what}: {problems}")
        try:
            write_json_atomically(self.path, document)
        except OSError as error:
            message = (
                f"Your {self.what} could not be saved to {self.path} "
                f"({error.strerror or error}); it lasts only while this notebook runs."
            )
            warnings.warn(message, ProgressWarning, stacklevel=2)
            return message
        return None

    def delete(self) -> None:
        if not self.read_only and not self.saving_disabled_reason:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

"""Running a quiz's code snippet in a fresh namespace and capturing what it prints.

The learner's own variables are never visible to a snippet and a snippet never leaves names
behind in the notebook: each run gets a new, empty globals dictionary. The same runner executes
the bank's ``evidence`` snippets in the tests, so what a learner sees and what the tests check
are the same code path.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import linecache
import time
import traceback
import warnings
from dataclasses import dataclass

SNIPPET_FILENAME = "<quiz snippet>"
SETUP_FILENAME = "<quiz setup>"


@dataclass(frozen=True)
class RunResult:
    """What one run of a snippet printed, and the exception that stopped it, if any."""

    stdout: str
    stderr: str
    seconds: float
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def error(self) -> str | None:
        """``TypeError: assigned grad expected...`` or ``None``."""
        if self.error_type is None:
            return None
        return f"{self.error_type}: {self.error_message}" if self.error_message else self.error_type


def _register_source(filename: str, source: str) -> None:
    # linecache lets the traceback quote the snippet's own lines.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def _snippet_traceback(error: BaseException) -> str:
    """The traceback limited to the frames of the setup and the snippet (not this module's)."""
    summary = traceback.TracebackException.from_exception(error)
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if frame.filename in (SNIPPET_FILENAME, SETUP_FILENAME)]
        or list(summary.stack)[-1:]
    )
    return "".join(summary.format())


def run_snippet(code: str, setup: str | None = None) -> RunResult:
    """Execute ``setup`` then ``code`` in one new namespace; capture stdout, stderr, warnings.

    Exceptions raised by the snippet are caught and reported in the result (a snippet that
    raises ``TypeError`` is a legitimate thing for a quiz to show), never propagated.
    """
    namespace: dict[str, object] = {"__name__": "__quiz_snippet__", "__builtins__": builtins}
    stdout, stderr = io.StringIO(), io.StringIO()
    error: BaseException | None = None
    started = time.perf_counter()
    with (
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            for filename, source in ((SETUP_FILENAME, setup), (SNIPPET_FILENAME, code)):
                if source:
                    _register_source(filename, source)
                    exec(compile(source, filename, "exec"), namespace)  # running the snippet is the point
        except KeyboardInterrupt:
            raise
        except BaseException as raised:  # SystemExit from a snippet is reported too
            error = raised
    seconds = time.perf_counter() - started
    for warning in caught:
        stderr.write(f"{warning.category.__name__}: {warning.message}\n")
    if error is None:
        return RunResult(stdout.getvalue(), stderr.getvalue(), seconds)
    return RunResult(
        stdout.getvalue(),
        stderr.getvalue(),
        seconds,
        error_type=type(error).__name__,
        error_message=str(error),
        traceback=_snippet_traceback(error),
    )

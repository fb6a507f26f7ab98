"""Finding, copying and executing the course notebooks (used by the tests and the benchmark)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbgrader.utils import is_grade, is_solution

from freezelab.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS_DIR.glob("*/*.ipynb"))


def learner_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS_DIR.glob("*/*.ipynb"))


def notebook_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def nbgrader_role(cell) -> str | None:
    """'solution', 'test', 'solution+test' or None, from the cell's nbgrader metadata."""
    roles = [name for role, name in ((is_solution, "solution"), (is_grade, "test")) if role(cell)]
    return "+".join(roles) or None


@dataclass
class Execution:
    """The outcome of running a notebook: the executed copy, per-cell seconds, the first error."""

    notebook: nbformat.NotebookNode
    cell_seconds: list[float] = field(default_factory=list)
    error: CellExecutionError | None = None
    error_cell: int | None = None
    seconds: float = 0.0

    def errors(self) -> list[tuple[int, str, str]]:
        """Every cell that raised, as ``(index, exception name, message)``: with ``allow_errors`` the
        run goes on after an error, as a learner's does when they run the cells one by one."""
        return [(index, output["ename"], output["evalue"])
                for index, cell in enumerate(self.notebook.cells)
                for output in cell.get("outputs", []) if output.get("output_type") == "error"]


class _TimedClient(NotebookClient):
    """An nbclient client that records how long each cell took."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds: list[float] = []

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        started = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            if cell.cell_type == "code":
                self.cell_seconds.append(time.perf_counter() - started)


def execute_copy(path: Path, workdir: Path, timeout: int = 180, allow_errors: bool = False) -> Execution:
    """Copy the notebook's assignment folder into ``workdir`` and run the copy in a fresh kernel.

    Running a copy keeps the repository clean (quizzes and exercises may write files next to
    the notebook). Execution stops at the first error, as it would for a learner who runs all
    cells; with ``allow_errors`` it runs every cell, as a learner who runs them one by one
    (``Execution.errors()`` lists what raised).
    """
    folder = workdir / path.parent.name
    shutil.copytree(path.parent, folder, dirs_exist_ok=True)
    copy = folder / path.name
    notebook = nbformat.read(copy, as_version=4)
    # The kernel is stopped at once after the last cell: a graceful shutdown only waits for the
    # kernel process to tear itself down (1 to 3 s with torch loaded, more on a busy machine), time in
    # which nothing of the notebook runs and that no learner waits for.
    client = _TimedClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                          shutdown_kernel="immediate", resources={"metadata": {"path": str(folder)}})
    execution = Execution(notebook=notebook)
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as error:
        execution.error = error
        execution.error_cell = next(
            (index for index, cell in enumerate(notebook.cells)
             if any(output.get("output_type") == "error" for output in cell.get("outputs", []))),
            None,
        )
    execution.seconds = time.perf_counter() - started
    execution.cell_seconds = client.cell_seconds
    return execution

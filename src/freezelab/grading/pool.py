"""Where grading workers run: a pool of processes on this machine, or a dask.distributed cluster.

Both take a list of :class:`~freezelab.grading.worker.Job` and report, through one callback, when a
job starts, when its :class:`~freezelab.grading.worker.Result` is back, and when it could not be
graded. The callback runs in the coordinator, which alone writes the gradebook. A job whose worker
dies is graded again by another worker (once here; dask retries on its own), so a dead or stopped
worker loses nothing and no submission is recorded twice.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

import freezelab
from freezelab.grading.sandbox import close_process
from freezelab.grading.worker import Job, Result, grade_on_this_worker, receive, send

OnEvent = Callable[[str, Job, Any], None]
"""``(event, job, payload)``: ``started`` (payload: the worker), ``graded`` (the :class:`Result`),
``failed`` (why, in words)."""

ATTEMPTS = 2
"""How many workers may die while grading one submission before it is given up (scores 0, with why)."""


def default_jobs() -> int:
    """One worker per core this process may use."""
    return max(1, len(os.sched_getaffinity(0)))


class Pool(Protocol):
    size: int

    def prepare(self) -> None:
        """Get the workers going while the coordinator makes the batch ready."""

    def run(self, jobs: list[Job], on_event: OnEvent, timeout: float) -> None: ...

    def close(self) -> None: ...


class _LocalWorker:
    """One ``python -m freezelab.grading.worker`` process, restarted when it dies."""

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.ready = False

    def start(self) -> None:
        self.launch()
        self.await_ready()

    def launch(self) -> None:
        """Start the process; it warms up (nbgrader, torch, its sandbox) until :meth:`await_ready`."""
        self.ready = False
        stderr = self.log.open("ab") if self.log else subprocess.DEVNULL
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        # The worker runs this very copy of the package (jobs and results are pickles of its classes).
        package_root = str(Path(freezelab.__file__).resolve().parent.parent)
        python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "freezelab.grading.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=dict(os.environ, PATH=path, PYTHONPATH=python_path, PYTHONUNBUFFERED="1"),
            start_new_session=True,
        )
        if stderr is not subprocess.DEVNULL:
            stderr.close()

    def await_ready(self) -> None:
        if self._reply(time.monotonic() + 600) != "ready":
            self.stop()
            raise RuntimeError(f"a grading worker did not start (see {self.log})")
        self.ready = True

    def _reply(self, deadline: float) -> object | None:
        """The worker's next message, or ``None`` if it died or ``deadline`` passed first."""
        assert self.process is not None and self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(max(0.0, deadline - time.monotonic())):
                return None
        return receive(self.process.stdout)

    def grade(self, job: Job, timeout: float) -> object | None:
        if self.process is None or self.process.poll() is not None:
            self.start()
        elif not self.ready:
            self.await_ready()
        assert self.process is not None and self.process.stdin is not None
        try:
            send(self.process.stdin, job)
        except (BrokenPipeError, OSError):
            self.stop()
            return None
        reply = self._reply(time.monotonic() + timeout)
        if reply is None:
            self.stop()
        return reply

    def stop(self) -> None:
        if self.process is None:
            return
        close_process(self.process, wait=30)
        self.process = None

    def close(self) -> None:
        """Let the worker finish cleanly (it removes its sandbox and private folder), or stop it."""
        if self.process is None:
            return
        with suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
        self.stop()


class LocalPool:
    """``size`` worker processes on this machine; nothing to install or start."""

    def __init__(self, size: int | None = None, logs: Path | None = None) -> None:
        self.size = max(1, size or default_jobs())
        self.logs = logs
        self._workers: list[_LocalWorker] = []

    def _worker(self, number: int) -> _LocalWorker:
        while len(self._workers) <= number:
            if self.logs:
                self.logs.mkdir(parents=True, exist_ok=True)
            self._workers.append(_LocalWorker(self.logs / f"worker-{len(self._workers)}.log" if self.logs else None))
        return self._workers[number]

    def prepare(self) -> None:
        """Launch every worker now: they warm up while the coordinator generates and checks the batch."""
        for number in range(self.size):
            worker = self._worker(number)
            if worker.process is None:
                worker.launch()

    def close(self) -> None:
        for worker in self._workers:
            worker.close()

    def run(self, jobs: list[Job], on_event: OnEvent, timeout: float) -> None:
        queue: deque[tuple[Job, int]] = deque((job, 0) for job in jobs)
        lock = threading.Lock()

        def slot(number: int) -> None:
            worker = self._worker(number)
            try:
                while True:
                    with lock:
                        if not queue:
                            return
                        job, deaths = queue.popleft()
                    on_event("started", job, f"local worker {number}")
                    started = time.monotonic()
                    try:
                        reply = worker.grade(job, timeout)
                    except RuntimeError as error:  # the worker could not even start
                        on_event("failed", job, str(error))
                        continue
                    overdue = time.monotonic() - started >= timeout
                    if _settle(job, deaths, reply, overdue, timeout, on_event):
                        with lock:
                            queue.append((job, deaths + 1))
            finally:
                worker.close()

        threads = [threading.Thread(target=slot, args=(n,), daemon=True) for n in range(min(self.size, len(jobs)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def _settle(job: Job, deaths: int, reply: object | None, overdue: bool, timeout: float, on_event: OnEvent) -> bool:
    """Report what became of ``job``; ``True`` if it should be graded again by another worker."""
    if isinstance(reply, Result):
        on_event("graded", job, reply)
    elif isinstance(reply, str):
        on_event("failed", job, f"the grader stopped on it ({reply})")
    elif overdue:
        on_event("failed", job, f"grading it took more than {timeout:g} s and was stopped")
    elif deaths + 1 < ATTEMPTS:
        on_event("requeued", job, "its grading worker died; it is graded again")
        return True
    else:
        on_event("failed", job, f"{ATTEMPTS} grading workers died while grading it")
    return False


class DaskPool:
    """The workers of a dask.distributed cluster (``dask worker tcp://HOST:8786`` on each machine)."""

    def __init__(self, scheduler: str) -> None:
        from distributed import Client

        self.client = Client(scheduler, timeout=60)
        self.size = max(1, sum(self.client.nthreads().values()))

    def prepare(self) -> None:
        """Nothing to do: a dask worker warms up on its first submission and stays warm."""

    def run(self, jobs: list[Job], on_event: OnEvent, timeout: float) -> None:
        import uuid

        from distributed import as_completed

        batch = uuid.uuid4().hex[:8]
        futures = {}
        for job in jobs:
            future = self.client.submit(grade_on_this_worker, job, key=f"freezelab-{batch}-{job.key}", pure=False)
            futures[future] = job
        for job in jobs[: self.size]:
            on_event("started", job, "a dask worker")
        waiting = list(jobs[self.size :])
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as error:  # KilledWorker after dask's own retries, or the task's error
                on_event("failed", job, f"the cluster could not grade it ({type(error).__name__}: {error})")
            else:
                on_event("graded", job, result)
            if waiting:
                on_event("started", waiting.pop(0), "a dask worker")

    def close(self) -> None:
        self.client.close()

"""Warm kernels: each learner's kernel is forked, with torch already imported, from a prepared sandbox.

Starting a kernel and importing torch and torchvision costs a few seconds of CPU per submission, the
same few seconds every time. A grading worker pays them once: it starts one sandbox of its own (the
sandbox of :mod:`freezelab.grading.sandbox`: no network, read-only system, ``nobody``, caps) whose
first process, the *zygote* (``python -m freezelab.grading.warm``), imports what kernels need and
then waits. For each learner the worker empties the sandbox's private folder, puts that learner's
files in, and asks the zygote for a kernel; the zygote forks one, which becomes an ordinary ipykernel
with a fresh process, fresh models and its own environment.

Nothing of one learner's run reaches the next:

* before each kernel and after it the zygote kills every other process in the sandbox's PID
  namespace (``kill(-1)``: a process that escaped into the background dies too) and empties the
  sandbox's ``/tmp``, ``/dev/shm`` and System V IPC objects; the worker empties the private folder;
* the zygote is not dumpable (``PR_SET_DUMPABLE`` 0), so a kernel, though it runs as the same user,
  can neither trace it nor read its memory; its control pipe is closed in the kernel before any
  learner code runs;
* a kernel that kills the zygote only costs a cold start: the worker starts a new sandbox.

The caps stay per kernel: the CPU-time rlimit is set in the forked kernel, the kernel is the first
choice of the out-of-memory killer (``oom_score_adj`` 1000), and the cgroup counters are read as the
difference between the kernel's start and its end.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

from freezelab.grading.sandbox import (
    NOBODY,
    Limits,
    SandboxedKernelManager,
    _cgroup,
    _read,
    cgroup_report,
    cgroups_available,
    close_process,
    create_cgroups,
    launcher_command,
    make_scratch,
    remove_cgroups,
    sandbox_environment,
)

PRELOADED = ("torch", "torchvision", "numpy", "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython")
"""What the zygote imports once, so that no kernel pays for it."""
ZYGOTE_CPU_SECONDS = 24 * 3600
"""The zygote's own CPU cap (it only forks); each kernel gets the cap of :class:`Limits`."""


# ------------------------------------------------------------------------------- inside the sandbox


def _not_dumpable() -> None:
    import ctypes

    pr_set_dumpable = 4
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0)


def _others() -> list[int]:
    """Every process of the sandbox's PID namespace but its init (1) and the zygote."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]


def _reap() -> list[tuple[int, int]]:
    """Collect the zygote's children that have ended: (pid, exit code or -signal)."""
    ended = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, os.waitstatus_to_exitcode(status)))


def _tree(top: Path) -> set[str]:
    """Every path under ``top``, without entering mount points (the binds of the sandbox itself)."""
    found = set()
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(folder, d))]
        found |= {os.path.join(folder, name) for name in (*dirs, *files)}
    return found


def _forget(path: str) -> None:
    """Remove ``path``, whatever a kernel did to its permissions."""
    with suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            for folder, dirs, _ in os.walk(path):
                for name in dirs:
                    with suppress(OSError):
                        os.chmod(os.path.join(folder, name), 0o700)
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def restore(top: Path, kept: set[str]) -> None:
    """Remove from ``top`` whatever was not there when the sandbox started (``kept``)."""
    for path in sorted(_tree(top) - kept, key=len):
        if os.path.lexists(path):
            _forget(path)


def _remove_ipc() -> None:
    """Remove the System V shared memory, semaphores and message queues left in the sandbox."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, remove in (("shm", libc.shmctl), ("sem", libc.semctl), ("msg", libc.msgctl)):
        lines = _read(Path(f"/proc/sysvipc/{kind}")).splitlines()[1:]
        for line in lines:
            fields = line.split()
            if len(fields) > 1:
                if kind == "sem":
                    remove(int(fields[1]), 0, ipc_rmid)
                else:
                    remove(int(fields[1]), ipc_rmid, None)


SHARED_PLACES = (Path("/tmp"), Path("/dev/shm"))
"""Where a kernel may write outside its private folder; emptied between kernels."""


def sweep(exits: list[tuple[int, int]], kept: dict[Path, set[str]]) -> None:
    """Kill every process but the zygote, empty the shared temporary places. Ended children go to ``exits``."""
    for _ in range(200):
        exits += _reap()
        if not _others():
            break
        with suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # every process this user may signal, except init and the caller
        time.sleep(0.005)
    exits += _reap()
    for top, paths in kept.items():
        restore(top, paths)
    _remove_ipc()


def _become_kernel(request: dict[str, Any], control: tuple[int, int]) -> None:
    """In the forked child: drop the zygote's ties, take the learner's environment, run ipykernel."""
    try:
        for descriptor in control:
            os.close(descriptor)
        null = os.open(os.devnull, os.O_RDWR)
        for descriptor in (0, 1, 2):
            os.dup2(null, descriptor)
        os.setsid()
        import ctypes
        import random
        import resource

        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # the kernel itself may be dumpable (its own tools read /proc)
        Path("/proc/self/oom_score_adj").write_text("1000")
        cpu = int(request["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        argv = request["argv"]
        sys.argv = ["ipykernel_launcher", *argv[argv.index("ipykernel_launcher") + 1 :]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    finally:
        os._exit(0)


class _Server:
    """The zygote's state: its control pipe, the one kernel it runs, what the sandbox held at the start."""

    def __init__(self) -> None:
        self.requests, self.replies = sys.stdin.fileno(), sys.stdout.fileno()
        self.kept = {top: _tree(top) for top in SHARED_PLACES}  # the mount points bwrap made, nothing else
        self.kernel: int | None = None
        self.exits: list[tuple[int, int]] = []

    def reply(self, message: dict[str, Any]) -> None:
        os.write(self.replies, (json.dumps(message) + "\n").encode())

    def handle(self, request: dict[str, Any]) -> None:
        if request["op"] == "spawn":
            sweep(self.exits, self.kept)
            pid = os.fork()
            if pid == 0:
                _become_kernel(request, (self.requests, self.replies))
            self.kernel = pid
            self.reply({"spawned": pid})
        elif request["op"] == "signal" and request["pid"] == self.kernel:
            with suppress(ProcessLookupError):
                os.kill(self.kernel, int(request["signal"]))
        elif request["op"] == "end":
            sweep(self.exits, self.kept)
            self.reply({"ended": True})

    def report_exits(self) -> None:
        for pid, code in self.exits:
            if pid == self.kernel:
                self.reply({"exit": pid, "code": code})
                self.kernel = None
        self.exits = []


def serve() -> None:
    """The zygote: import, say ``ready``, then fork kernels on request (one JSON line each, on stdin)."""
    _not_dumpable()
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    server = _Server()
    server.reply({"ready": True, "threads": len(os.listdir("/proc/self/task"))})
    pending = b""
    while True:
        readable, _, _ = select.select([server.requests], [], [], 0.05)
        server.exits += _reap()
        if readable:
            chunk = os.read(server.requests, 65536)
            if not chunk:
                return  # the worker is gone: the sandbox goes with us
            pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            server.handle(json.loads(line))
        server.report_exits()


# ------------------------------------------------------------------------------ outside, the worker


class Zygote:
    """The worker's handle on its warm sandbox: prepares the private folder, forks kernels, reads caps."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits.from_environment()
        self.scratch = make_scratch(None)
        self.cgroup = f"w{os.getpid()}-{uuid.uuid4().hex[:10]}" if cgroups_available() else None
        self._lock = threading.Lock()
        self._exits: dict[int, int] = {}
        self._replies: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self.baseline_bytes = 0
        zygote_limits = Limits(
            memory_bytes=self.limits.memory_bytes,
            processes=self.limits.processes + 2,  # the sandbox's init and the zygote itself
            cpu_seconds=ZYGOTE_CPU_SECONDS,
            file_bytes=self.limits.file_bytes,
        )
        if self.cgroup:
            create_cgroups(self.cgroup, zygote_limits)
        command = launcher_command(self.scratch, self.cgroup, zygote_limits, [sys.executable, "-m", __name__])
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, start_new_session=True
        )
        threading.Thread(target=self._read, daemon=True).start()
        self._ready = False  # it imports torch while the worker gets on with its own start

    def _await_ready(self) -> None:
        """Wait, the first time a kernel is wanted, for the zygote's imports; then set the memory cap."""
        if self._ready:
            return
        if self._wait_for(lambda m: "ready" in m, timeout=180) is None:
            self.close()
            raise RuntimeError("the warm sandbox did not start (is bubblewrap installed?)")
        self._ready = True
        if self.cgroup:  # the kernel's memory cap comes on top of what the zygote itself holds
            self.baseline_bytes = int(_read(_cgroup("memory", self.cgroup) / "memory.usage_in_bytes") or 0)
            memory, cap = _cgroup("memory", self.cgroup), str(self.limits.memory_bytes + self.baseline_bytes)
            with suppress(OSError):  # raised first: the memory+swap cap may never be below the memory cap
                (memory / "memory.memsw.limit_in_bytes").write_text(cap)
            (memory / "memory.limit_in_bytes").write_text(cap)

    # the control pipe

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with suppress(ValueError):
                message = json.loads(line)
                with self._changed:
                    if "exit" in message:
                        self._exits[message["exit"]] = message["code"]
                    else:
                        self._replies.append(message)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def _wait_for(self, wanted: Any, timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index, message in enumerate(self._replies):
                    if wanted(message):
                        return self._replies.pop(index)
                left = deadline - time.monotonic()
                if left <= 0 or not self.alive:
                    return None
                self._changed.wait(min(left, 0.5))

    def _send(self, message: dict[str, Any]) -> bool:
        assert self.process.stdin is not None
        try:
            with self._lock:
                self.process.stdin.write((json.dumps(message) + "\n").encode())
                self.process.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    # one kernel

    def prepare(self, learner_files: Path | None) -> Path:
        """Empty the private folder and put ``learner_files`` (the submission as submitted) into ``work/``."""
        for sub in ("work", "run", "tmp", "home"):
            folder = self.scratch / sub
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
        fresh = make_scratch(learner_files)
        try:
            shutil.copytree(fresh / "work", self.scratch / "work", dirs_exist_ok=True)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        return self.scratch

    def _own(self) -> None:
        if os.geteuid() != 0:
            return
        for sub in ("work", "run", "tmp", "home"):
            for path in [self.scratch / sub, *(self.scratch / sub).rglob("*")]:
                with suppress(OSError):
                    os.chown(path, NOBODY, NOBODY, follow_symlinks=False)

    def _reset_counters(self) -> dict[str, int]:
        if not self.cgroup:
            return {}
        memory = _cgroup("memory", self.cgroup)
        for counter in ("memory.failcnt", "memory.max_usage_in_bytes"):
            with suppress(OSError):
                (memory / counter).write_text("0")
        report = cgroup_report(self.cgroup)
        return {"oom_kills": report["oom_kills"], "pids_max": report["process_refusals"]}

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], cpu_seconds: int) -> ForkedKernel:
        self._await_ready()
        self._own()
        before = self._reset_counters()
        if not self._send({"op": "spawn", "argv": argv, "cwd": cwd, "env": env, "cpu_seconds": cpu_seconds}):
            raise RuntimeError("the warm sandbox is gone")
        reply = self._wait_for(lambda m: "spawned" in m, timeout=60)
        if reply is None:
            raise RuntimeError("the warm sandbox did not start a kernel")
        return ForkedKernel(self, reply["spawned"], before)

    def exit_code(self, pid: int) -> int | None:
        with self._changed:
            if pid in self._exits:
                return self._exits[pid]
        return None if self.alive else -signal.SIGKILL

    def end(self, kernel: ForkedKernel) -> dict[str, Any]:
        """After a kernel: kill whatever it left, and say which cap it hit."""
        if self._send({"op": "end"}):
            self._wait_for(lambda m: "ended" in m, timeout=30)
        report: dict[str, Any] = {"memory_limit": self.limits.memory_words(), "exit_code": kernel.poll()}
        if self.cgroup:
            now = cgroup_report(self.cgroup)
            report.update(
                peak_memory_bytes=max(0, now["peak_memory_bytes"] - self.baseline_bytes),
                memory_cap_hit=now["oom_kills"] > kernel.counters.get("oom_kills", 0)
                or (now["memory_cap_hit"] and not now["oom_kills"]),
                oom_kills=now["oom_kills"] - kernel.counters.get("oom_kills", 0),
                process_cap_hit=now["process_refusals"] > kernel.counters.get("pids_max", 0),
            )
        code = report["exit_code"]
        report["cpu_cap_hit"] = code == -signal.SIGXCPU and not report.get("memory_cap_hit")
        return report

    def close(self) -> None:
        close_process(self.process, wait=10)
        if self.cgroup:
            remove_cgroups(self.cgroup)
        shutil.rmtree(self.scratch, ignore_errors=True)


class ForkedKernel:
    """What jupyter_client's provisioner needs of a ``Popen``, for a kernel forked by the zygote."""

    stdin = stdout = stderr = None

    def __init__(self, zygote: Zygote, pid: int, counters: dict[str, int]) -> None:
        self.zygote, self.pid, self.counters = zygote, pid, counters

    def poll(self) -> int | None:
        return self.zygote.exit_code(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("kernel", timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        self.zygote._send({"op": "signal", "pid": self.pid, "signal": int(signum)})

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


# ---------------------------------------------------------------------------------- the kernel manager

_ZYGOTE: Zygote | None = None
_ZYGOTE_LOCK = threading.Lock()


def enable() -> None:
    """Make this process's kernels warm: the grading worker calls this once."""
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is None or not _ZYGOTE.alive:
            if _ZYGOTE is not None:
                _ZYGOTE.close()
            _ZYGOTE = Zygote()


def enabled() -> bool:
    return _ZYGOTE is not None


def zygote() -> Zygote:
    """This process's warm sandbox, started again if a kernel killed it."""
    enable()
    assert _ZYGOTE is not None
    return _ZYGOTE


def shutdown() -> None:
    global _ZYGOTE
    with _ZYGOTE_LOCK:
        if _ZYGOTE is not None:
            _ZYGOTE.close()
            _ZYGOTE = None


class WarmKernelManager(SandboxedKernelManager):
    """:class:`SandboxedKernelManager`, with the kernel forked in the worker's warm sandbox."""

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        self._warm = zygote()
        scratch = self._warm.prepare(self.learner_files)
        self._scratch, self._cgroup = scratch, None
        self.transport = "ipc"
        self.ip = str(scratch / "run" / "kernel-ipc")
        self.connection_file = str(scratch / "run" / "kernel.json")
        kw["cwd"] = str(scratch / "work")
        self.kernel_spec.interrupt_mode = "message"
        kw["env"] = sandbox_environment(scratch)
        from jupyter_client.manager import AsyncKernelManager

        return await AsyncKernelManager._async_pre_start_kernel(self, **kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        from jupyter_client.manager import AsyncKernelManager

        return AsyncKernelManager.format_kernel_cmd(self, extra_arguments)

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        assert self.provisioner is not None
        process = self._warm.spawn(kernel_cmd, kw["cwd"], kw["env"], self.limits.cpu_seconds)
        provisioner: Any = self.provisioner
        provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
        provisioner.cwd = kw["cwd"]
        self._forked = process
        self._reconcile_connection_info(provisioner.connection_info)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        from jupyter_client.manager import AsyncKernelManager

        await AsyncKernelManager.cleanup_resources(self, restart=restart)
        forked, self._forked = getattr(self, "_forked", None), None
        if forked is None:
            return  # already cleaned up: shutdown_kernel and nbclient both ask
        report = self._warm.end(forked)
        if self.on_report:
            self.on_report(report)

    cleanup_resources = _async_cleanup_resources


def kernel_manager_class() -> type[SandboxedKernelManager]:
    """The kernel manager for learner code in this process: warm in a grading worker, else cold."""
    return WarmKernelManager if enabled() else SandboxedKernelManager


if __name__ == "__main__":
    serve()

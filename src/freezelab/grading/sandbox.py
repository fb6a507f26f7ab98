"""Every kernel that runs a learner's code runs inside a bubblewrap sandbox.

:class:`SandboxedKernelManager` is the kernel manager nbgrader's ``Execute`` uses while autograding
(``harden`` installs it). Each kernel it starts gets:

* a private scratch folder holding only what the learner submitted (the notebook *as submitted*, with
  no hidden test, and the files beside it), as its working directory; the connection file, the ipc
  sockets (``KernelManager.transport = "ipc"``: a sandbox without a network cannot be reached over TCP)
  and ``TMPDIR`` live there too;
* a read-only view of the system (``/usr``, ``/etc``, the Python installation, the course's
  environment and its ``freezelab`` package) and nothing else: not the gradebook, ``solutions/``,
  the class's ``release/``, ``submitted/``, ``autograded/`` or ``feedback/`` folders, nor any home;
* no network at all (its own network namespace: not even the host's loopback services), its own PID
  namespace (every process it starts dies with it), an unprivileged user (``nobody``) when grading
  runs as root;
* caps: memory and the number of processes through cgroups (v1 ``memory`` and ``pids``; a cap on
  the address space would break ``import torch``), CPU seconds and file size through rlimits, next to
  nbgrader's per-cell wall-clock limit.

The launcher half of this module (``python -m freezelab.grading.sandbox``) runs outside the sandbox as
the grader: it puts itself into the kernel's cgroups, sets the rlimits, drops to ``nobody`` and
execs ``bwrap``. After the kernel stops, the manager reads from the cgroups which cap was hit (so a
report can say "the notebook used more than 2 GiB and was stopped") and removes them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager

import freezelab
from freezelab.paths import SCHEMA_DIR

NOBODY = 65534
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "freezelab-grading"
INSTALL_HINT = (
    "The autograder runs learner code only inside a bubblewrap sandbox, and bubblewrap is {what}. "
    "Install it (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`) and run "
    "the command again. Instructors who already grade inside a container of their own may pass "
    "--no-sandbox; every note and feedback page then says that the notebook was graded unsandboxed."
)
NO_SANDBOX_ENV = "FREEZELAB_NO_SANDBOX"
PASSED_ENVIRONMENT = (
    *("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS"),
    *("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"),
    "NBGRADER_EXECUTION",  # nbgrader tells the notebook it is being autograded (hidden tests check it)
    # a class hub's copy of the course's interpreter finds its libpython through it (freezelab.hub.classroom)
    "LD_LIBRARY_PATH",
)


@dataclass(frozen=True)
class Limits:
    """The caps of one sandboxed kernel (environment variables override the defaults)."""

    memory_bytes: int = 2 * 1024**3
    processes: int = 64
    cpu_seconds: int = 600
    file_bytes: int = 256 * 1024**2

    @classmethod
    def from_environment(cls) -> Limits:
        defaults = cls()
        return cls(
            memory_bytes=int(float(os.environ.get("FREEZELAB_MEMORY_GIB", defaults.memory_bytes / 1024**3)) * 1024**3),
            processes=int(os.environ.get("FREEZELAB_MAX_PROCESSES", defaults.processes)),
            cpu_seconds=int(os.environ.get("FREEZELAB_CPU_SECONDS", defaults.cpu_seconds)),
            file_bytes=defaults.file_bytes,
        )

    def memory_words(self) -> str:
        gib = self.memory_bytes / 1024**3
        return f"{gib:g} GiB" if gib >= 1 else f"{self.memory_bytes / 1024**2:g} MiB"


def sandbox_disabled() -> bool:
    return os.environ.get(NO_SANDBOX_ENV) == "1"


DEFAULT_LIMITS = Limits()


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot start a sandbox on this machine."""


# ----------------------------------------------------------------------------------- the sandbox view


def _read_only_paths() -> list[str]:
    """What the kernel may read: the system, the Python installation, the environment, the package."""
    package = Path(freezelab.__file__).resolve().parent
    paths = ["/usr", "/etc", sys.base_prefix, sys.prefix, str(package)]
    if SCHEMA_DIR.is_dir():  # the quizzes' JSON Schemas; never the question bank, which holds the key
        paths.append(str(SCHEMA_DIR))
    # site-packages reached through a .pth file (a class hub's users' environment reads the course's so)
    paths += [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    for prefix in (sys.base_prefix, sys.prefix):  # a pyenv or venv python may be a link out of the prefix
        python = Path(prefix) / "bin" / "python3"
        if python.exists():
            paths.append(str(python.resolve().parent.parent))
    kept: list[str] = []
    for path in sorted({str(Path(p)) for p in paths}, key=len):
        if not any(path == k or path.startswith(k + "/") for k in kept):
            kept.append(path)
    return kept


def bwrap_arguments(scratch: Path, command: list[str], views: dict[str, str] | None = None) -> list[str]:
    """``bwrap ... command``: the sandbox of one kernel whose private folder is ``scratch``.

    ``views`` maps a read-only folder to where bwrap should take it from (see :func:`_expose`).
    """
    arguments = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--hostname", "grader"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            arguments += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            arguments += ["--ro-bind", top, top]
    # A private /tmp first: what is bound below may itself live under /tmp (a checkout, the scratch).
    arguments += ["--size", str(64 * 1024**2), "--tmpfs", "/tmp"]
    for path in _read_only_paths():
        arguments += ["--ro-bind", (views or {}).get(path, path), path]
    arguments += ["--proc", "/proc", "--dev", "/dev"]
    arguments += ["--bind", str(scratch), str(scratch)]
    arguments += ["--chdir", str(scratch / "work"), "--clearenv"]
    for name, value in sandbox_environment(scratch).items():
        arguments += ["--setenv", name, value]
    return [*arguments, "--", *command]


def sandbox_environment(scratch: Path) -> dict[str, str]:
    """The whole environment of a sandboxed process: the allowlist of the grader's, and its own places."""
    # Nothing else of the grader's environment (tokens, paths) gets in.
    env = {name: os.environ[name] for name in PASSED_ENVIRONMENT if name in os.environ}
    home = scratch / "home"
    env.update(
        # the grader's own copy of this package, whatever another install of it says
        PYTHONPATH=str(Path(freezelab.__file__).resolve().parent.parent),
        HOME=str(home),
        TMPDIR=str(scratch / "tmp"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        FREEZELAB_SANDBOXED="1",
    )
    return env


def make_scratch(learner_files: Path | None) -> Path:
    """A new private folder: ``work/`` (a copy of the learner's files), ``run/``, ``tmp/``, ``home/``."""
    scratch = Path(tempfile.mkdtemp(prefix="freezelab-sandbox-"))
    for sub in ("work", "run", "tmp", "home"):
        (scratch / sub).mkdir()
    if learner_files and learner_files.is_dir():
        for path in sorted(learner_files.rglob("*")):
            if ".ipynb_checkpoints" in path.parts or path.is_symlink() or not path.is_file():
                continue
            target = scratch / "work" / path.relative_to(learner_files)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return scratch


# ------------------------------------------------------------------------------------------- cgroups


def _cgroup(controller: str, name: str) -> Path:
    return CGROUP_ROOT / controller / CGROUP_PARENT / name


def cgroups_available() -> bool:
    return os.geteuid() == 0 and all(os.access(CGROUP_ROOT / c, os.W_OK) for c in ("memory", "pids"))


def remove_stale_cgroups() -> None:
    """Remove the empty cgroups left by a grader that was killed (named ``k<pid>-…`` or ``w<pid>-…``).

    A worker or nbgrader process removes its sandboxes' cgroups when it ends; one killed outright
    cannot, and its empty folders would pile up on a grading machine. A cgroup whose process is
    still running, or that still holds a process, is kept.
    """
    for controller in ("memory", "pids"):
        parent = CGROUP_ROOT / controller / CGROUP_PARENT
        for group in parent.glob("[kw]*-*"):
            owner = group.name[1:].split("-", 1)[0]
            if owner.isdigit() and not Path(f"/proc/{owner}").exists() and not _read(group / "cgroup.procs").split():
                with suppress(OSError):
                    group.rmdir()


def create_cgroups(name: str, limits: Limits) -> None:
    remove_stale_cgroups()
    memory, pids = _cgroup("memory", name), _cgroup("pids", name)
    for group in (memory, pids):
        group.mkdir(parents=True, exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
    with suppress(OSError):  # no swap accounting on this kernel: the limit above is the whole cap
        (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
    (pids / "pids.max").write_text(str(limits.processes))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def cgroup_report(name: str) -> dict[str, Any]:
    """What the kernel's cgroups recorded: peak memory, whether a cap was hit."""
    memory, pids = _cgroup("memory", name), _cgroup("pids", name)
    oom = dict(line.split() for line in _read(memory / "memory.oom_control").splitlines() if " " in line)
    events = dict(line.split() for line in _read(pids / "pids.events").splitlines() if " " in line)
    process_refusals = int(events.get("max", 0))
    return {
        "peak_memory_bytes": int(_read(memory / "memory.max_usage_in_bytes") or 0),
        "memory_cap_hit": int(oom.get("oom_kill", 0)) > 0 or int(_read(memory / "memory.failcnt") or 0) > 0,
        "oom_kills": int(oom.get("oom_kill", 0)),
        "process_refusals": process_refusals,
        "process_cap_hit": process_refusals > 0,
    }


def close_process(process: subprocess.Popen[bytes], wait: float) -> None:
    """Kill a helper's whole process group, reap it, and close the pipes we hold to it."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(Exception):
        process.wait(timeout=wait)
    for pipe in (process.stdin, process.stdout):
        with suppress(Exception):
            if pipe:
                pipe.close()


def remove_cgroups(name: str) -> None:
    """Kill whatever is still in the kernel's cgroups, then remove them."""
    for controller in ("memory", "pids"):
        group = _cgroup(controller, name)
        if not group.exists():
            continue
        for _ in range(50):
            pids = [int(p) for p in _read(group / "cgroup.procs").split()]
            if not pids:
                break
            for pid in pids:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with suppress(Exception):
                os.waitpid(-1, os.WNOHANG)
            import time

            time.sleep(0.02)
        with suppress(OSError):
            group.rmdir()


# ------------------------------------------------------------------------------------------- launcher


def _expose(scratch: Path) -> dict[str, str]:
    """Make the read-only folders reachable for ``nobody`` without opening their parents.

    A Python installed under ``/root`` (pyenv) sits behind a home folder ``nobody`` may not enter, and
    bwrap, started as ``nobody``, could not bind it. So the launcher, still root, takes a mount namespace
    of its own and bind-mounts each such folder onto an empty folder in the scratch folder; bwrap binds
    it from there back to its usual path. Nothing changes outside this process's namespace.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    clone_newns, ms_rec, ms_private, ms_bind, ms_rdonly, ms_remount = 0x20000, 0x4000, 0x40000, 0x1000, 0x1, 0x20
    if libc.unshare(clone_newns) != 0 or libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
        raise OSError(ctypes.get_errno(), "the sandbox launcher could not take a mount namespace of its own")
    views = {}
    for index, path in enumerate(_read_only_paths()):
        view = scratch / ".views" / str(index)  # never emptied while the sandbox lives (warm.Zygote.prepare)
        view.mkdir(parents=True)
        if libc.mount(path.encode(), str(view).encode(), None, ms_bind | ms_rec, None) != 0:
            raise OSError(ctypes.get_errno(), f"could not bind {path}")
        libc.mount(b"none", str(view).encode(), None, ms_bind | ms_remount | ms_rdonly, None)
        views[path] = str(view)
    return views


def launch(scratch: Path, cgroup: str | None, limits: Limits, command: list[str]) -> None:
    """Outside the sandbox, as the grader: join the cgroups, set the rlimits, drop privileges, exec bwrap."""
    if cgroup:
        for controller in ("memory", "pids"):
            (_cgroup(controller, cgroup) / "cgroup.procs").write_text(str(os.getpid()))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    views = {}
    if os.geteuid() == 0:
        for path in [scratch, *scratch.rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        views = _expose(scratch)
    arguments = bwrap_arguments(scratch, command, views)
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SystemExit(INSTALL_HINT.format(what="not installed"))
    os.execv(bwrap, arguments)


def launcher_command(scratch: Path, cgroup: str | None, limits: Limits, command: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "freezelab.grading.sandbox",
        "--scratch",
        str(scratch),
        "--cgroup",
        cgroup or "",
        "--limits",
        json.dumps(limits.__dict__),
        "--",
        *command,
    ]


def preflight() -> None:
    """Start one sandboxed Python the way kernels are started; raise :class:`SandboxUnavailable` if it fails."""
    if not shutil.which("bwrap"):
        raise SandboxUnavailable(INSTALL_HINT.format(what="not installed"))
    scratch = make_scratch(None)
    try:
        probe = "import socket, sys; s = socket.socket(); s.settimeout(1)\ntry:\n s.connect(('127.0.0.1', 9))\n"
        probe += " sys.exit(3)\nexcept OSError:\n print('sandbox ok')"
        command = launcher_command(scratch, None, DEFAULT_LIMITS, [sys.executable, "-c", probe])
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if result.returncode != 0 or "sandbox ok" not in result.stdout:
        detail = " ".join((result.stderr or result.stdout).split())[:300]
        raise SandboxUnavailable(INSTALL_HINT.format(what=f"installed but could not start a sandbox ({detail})"))


# ---------------------------------------------------------------------------------- the kernel manager


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels start inside the sandbox described in this module's docstring."""

    learner_files: Path | None = None
    """The folder whose files the kernel may see (the learner's submission as submitted)."""
    on_report: Callable[[dict[str, Any]], None] | None = None
    limits: Limits = DEFAULT_LIMITS

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        self._scratch = make_scratch(self.learner_files)
        self._cgroup = f"k{os.getpid()}-{uuid.uuid4().hex[:10]}" if cgroups_available() else None
        if self._cgroup:
            create_cgroups(self._cgroup, self.limits)
        self.transport = "ipc"
        self.ip = str(self._scratch / "run" / "kernel-ipc")
        self.connection_file = str(self._scratch / "run" / "kernel.json")
        kw["cwd"] = str(self._scratch / "work")
        # A signal would reach bwrap, not the kernel inside it: interrupt through the control channel.
        self.kernel_spec.interrupt_mode = "message"
        env = dict(kw.get("env") or os.environ)
        env.pop("JPY_PARENT_PID", None)
        kw["env"] = env
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        command = super().format_kernel_cmd(extra_arguments)
        return launcher_command(self._scratch, self._cgroup, self.limits, command)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        process = getattr(self.provisioner, "process", None) if self.provisioner else None
        code = process.poll() if process is not None else None
        await AsyncKernelManager.cleanup_resources(self, restart=restart)
        cgroup, self._cgroup = getattr(self, "_cgroup", None), None
        scratch, self._scratch = getattr(self, "_scratch", None), None
        if scratch is None:
            return  # already cleaned up: shutdown_kernel and nbclient both ask
        report: dict[str, Any] = {"memory_limit": self.limits.memory_words(), "exit_code": code}
        if cgroup:
            report.update(cgroup_report(cgroup))
            remove_cgroups(cgroup)
        # bwrap passes on its child's fate: killed by SIGXCPU (the CPU-time rlimit) reads as 128 + 24.
        report["cpu_cap_hit"] = code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) and not report.get("memory_cap_hit")
        shutil.rmtree(scratch, ignore_errors=True)
        if self.on_report:
            self.on_report(report)

    cleanup_resources = _async_cleanup_resources


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m freezelab.grading.sandbox")
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--cgroup", default="")
    parser.add_argument("--limits", default="{}")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    launch(args.scratch, args.cgroup or None, Limits(**json.loads(args.limits)), command)


if __name__ == "__main__":
    main()

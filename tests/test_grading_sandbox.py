"""The bubblewrap sandbox that every grading kernel runs in, tried from the inside."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from freezelab.grading import sandbox
from freezelab.grading.sandbox import Limits, SandboxedKernelManager, cgroup_report, launcher_command, make_scratch
from tests.conftest import REPO_ROOT, requires_sandbox

pytestmark = requires_sandbox()
AS_ROOT = os.geteuid() == 0


DEFAULT_LIMITS = Limits()


def run_inside(code: str, tmp_path: Path, limits: Limits = DEFAULT_LIMITS, cgroup: bool = False, timeout: float = 120):
    """Run ``code`` in a sandboxed Python exactly as a kernel is started; (stdout, cgroup report)."""
    learner = tmp_path / "learner"
    learner.mkdir(exist_ok=True)
    (learner / "submitted.ipynb").write_text("{}")
    scratch = make_scratch(learner)
    name = f"test-{os.getpid()}-{time.monotonic_ns()}" if cgroup and sandbox.cgroups_available() else None
    if name:
        sandbox.create_cgroups(name, limits)
    command = launcher_command(scratch, name, limits, [sys.executable, "-c", textwrap.dedent(code)])
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    finally:
        report = cgroup_report(name) if name else {}
        if name:
            sandbox.remove_cgroups(name)
        shutil.rmtree(scratch, ignore_errors=True)
    return result, report


def test_the_preflight_starts_a_sandbox():
    """Does the check that every grading command runs first pass on this machine?"""
    sandbox.preflight()


def test_the_kernel_sees_only_the_learners_files_and_the_system(tmp_path):
    """Are the gradebook, solutions/, the question bank, the state folder and the grader's home invisible,
    and the system read-only?"""
    state = tmp_path / "state"
    (state / "autograded").mkdir(parents=True)
    (state / "gradebook.db").write_text("secret grades")
    code = f"""
        import json, os
        seen = {{
            "cwd": sorted(os.listdir(".")),
            "uid": os.getuid(),
            "gradebook": os.path.exists({str(state / "gradebook.db")!r}),
            "solutions": os.path.exists({str(REPO_ROOT / "solutions")!r}),
            "autograder": os.path.exists({str(REPO_ROOT / "autograder")!r}),
            "quizzes": sorted(os.listdir({str(REPO_ROOT / "quizzes")!r})),
            "home_entries": sorted(os.listdir(os.path.expanduser("~"))),
            "root_home": sorted(os.listdir("/root")) if os.path.isdir("/root") else [],
        }}
        try:
            open("/usr/freezelab-test", "w")
            seen["usr_writable"] = True
        except OSError:
            seen["usr_writable"] = False
        print(json.dumps(seen))
    """
    result, _ = run_inside(code, tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["cwd"] == ["submitted.ipynb"]
    assert not seen["gradebook"] and not seen["solutions"] and not seen["autograder"]
    assert seen["quizzes"] == ["schema"], "the question bank (the graded quiz's key) stays outside"
    assert not seen["usr_writable"]
    assert seen["home_entries"] == []
    assert all(entry == ".pyenv" for entry in seen["root_home"]), seen["root_home"]
    if AS_ROOT:
        assert seen["uid"] == sandbox.NOBODY


def test_no_network_not_even_the_hosts_loopback(tmp_path):
    """Can a sandboxed process reach a service listening on the host's 127.0.0.1? (It must not.)"""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(20)
    port = server.getsockname()[1]
    accepted = []

    def accept() -> None:
        try:
            connection, _ = server.accept()
            accepted.append(connection)
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    code = f"""
        import socket
        s = socket.socket(); s.settimeout(3)
        try:
            s.connect(("127.0.0.1", {port})); print("connected")
        except OSError as error:
            print("refused", error)
    """
    result, _ = run_inside(code, tmp_path)
    server.close()
    thread.join()
    assert "refused" in result.stdout and not accepted
    # The control: the same connection from outside the sandbox is accepted.
    with socket.create_server(("127.0.0.1", 0)) as control:
        socket.create_connection(control.getsockname(), timeout=3).close()


def test_the_graders_environment_stays_outside(tmp_path, monkeypatch):
    """Does a variable of the grader's environment (a token, say) stay out of the kernel?"""
    monkeypatch.setenv("INSTRUCTOR_API_TOKEN", "do-not-leak")
    result, _ = run_inside("import os; print(sorted(os.environ))", tmp_path)
    assert "INSTRUCTOR_API_TOKEN" not in result.stdout and "PATH" in result.stdout


@pytest.mark.skipif(not (AS_ROOT and sandbox.cgroups_available()), reason="cgroups need root")
def test_memory_beyond_the_cap_stops_the_process_and_is_reported(tmp_path):
    """Is 1.5 GiB refused under a 512 MiB cap, and does the cgroup say the cap was hit?"""
    limits = Limits(memory_bytes=512 * 1024**2)
    result, report = run_inside("x = bytearray(1536 * 1024**2); print('allocated')", tmp_path, limits, cgroup=True)
    assert "allocated" not in result.stdout and result.returncode != 0
    assert report["memory_cap_hit"]


@pytest.mark.skipif(not (AS_ROOT and sandbox.cgroups_available()), reason="cgroups need root")
def test_a_fork_bomb_meets_the_process_cap_and_nothing_survives(tmp_path):
    """Are 200 forks refused past the cap, and are the children gone once the sandbox ends?"""
    code = """
        import os, time
        children = []
        try:
            for _ in range(200):
                pid = os.fork()
                if pid == 0:
                    time.sleep(300)
                    os._exit(0)
                children.append(pid)
        except OSError:
            pass
        print(len(children))
    """
    result, report = run_inside(code, tmp_path, Limits(processes=32), cgroup=True)
    assert int(result.stdout.split()[-1]) < 32
    assert report["process_cap_hit"]
    time.sleep(0.5)
    survivors = subprocess.run(["pgrep", "-f", "time.sleep(300)"], capture_output=True, text=True).stdout.split()
    assert survivors == []


def test_a_background_process_dies_with_the_sandbox(tmp_path):
    """Does a detached double-forked process survive the sandboxed one that started it? (It must not.)"""
    code = """
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "300"])
            os._exit(0)
        os.wait()
        print("started")
    """
    before = set(subprocess.run(["pgrep", "-x", "sleep"], capture_output=True, text=True).stdout.split())
    result, _ = run_inside(code, tmp_path)
    assert "started" in result.stdout
    time.sleep(0.5)
    after = set(subprocess.run(["pgrep", "-x", "sleep"], capture_output=True, text=True).stdout.split())
    assert after - before == set()


def test_a_kernel_started_by_the_manager_runs_in_the_scratch_folder(tmp_path):
    """Does SandboxedKernelManager start a working kernel over ipc, in a folder with only the learner's files?"""
    import asyncio

    learner = tmp_path / "learner"
    learner.mkdir()
    (learner / "freeze-it-yourself.ipynb").write_text("{}")
    reports: list[dict] = []

    async def session() -> str:
        km = SandboxedKernelManager(kernel_name="python3")
        km.learner_files = learner
        km.on_report = reports.append
        await km.start_kernel()
        client = km.client()
        client.start_channels()
        await client.wait_for_ready(timeout=120)
        printed = []

        def keep(message: dict) -> None:
            if message["msg_type"] == "stream":
                printed.append(message["content"]["text"])

        reply = await client.execute_interactive(
            "import os; print(os.getcwd().endswith('/work'), sorted(os.listdir('.')))", timeout=60, output_hook=keep
        )
        assert reply["content"]["status"] == "ok"
        client.stop_channels()
        await km.shutdown_kernel(now=True)
        await km.cleanup_resources()
        return km.transport + " " + "".join(printed)

    seen = asyncio.run(session())
    assert seen.split()[0] == "ipc" and "True ['freeze-it-yourself.ipynb']" in seen
    assert len(reports) == 1 and not reports[0].get("memory_cap_hit")


def test_the_empty_cgroups_of_a_killed_grader_are_removed_and_no_others():
    """A worker killed outright leaves its sandbox's empty cgroups behind: does the next sandbox remove
    those, and keep the cgroups of a grader still running?"""
    if not sandbox.cgroups_available():
        pytest.skip("cgroups are writable by root only")
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale, alive = f"w{gone.pid}-stale", f"k{os.getpid()}-alive"
    limits = Limits(memory_bytes=256 << 20, processes=8, cpu_seconds=10, file_bytes=1 << 20)
    for name in (stale, alive):
        for controller in ("memory", "pids"):
            (sandbox.CGROUP_ROOT / controller / sandbox.CGROUP_PARENT / name).mkdir(parents=True)
    try:
        sandbox.create_cgroups(f"k{os.getpid()}-new", limits)
        for controller in ("memory", "pids"):
            parent = sandbox.CGROUP_ROOT / controller / sandbox.CGROUP_PARENT
            assert not (parent / stale).exists()
            assert (parent / alive).exists() and (parent / f"k{os.getpid()}-new").exists()
    finally:
        for name in (stale, alive, f"k{os.getpid()}-new"):
            sandbox.remove_cgroups(name)

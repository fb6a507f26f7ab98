"""Grading workers: warm kernels that forget each learner, and pools that lose nothing when a worker dies.

The warm sandbox is exercised with real kernels (nbclient driving ipykernel forked by the zygote);
the pools through the real CLI and SQLite gradebook: worker processes on this machine, and a real
``distributed.LocalCluster`` of two worker processes reached with ``--scheduler``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from freezelab.grading import samples, sandbox, warm
from freezelab.grading.course import Course
from freezelab.grading.pool import LocalPool
from freezelab.paths import REPO_ROOT
from tests.conftest import requires_sandbox

pytestmark = [requires_sandbox(), pytest.mark.slow, pytest.mark.timeout(1800)]

FILES = Path(__file__).parent / "files"
ASSIGNMENT = samples.FREEZE
SAMPLES = {sample.name: sample for sample in samples.freeze_it_yourself_samples()}
GOLDEN = json.loads((FILES / "freeze-it-yourself-expected-grades.json").read_text())
BATCH = ["solution", "partial-first-five-tasks", "wrong-as-the-lesson-warns", "correct-named-parameters"]

# ------------------------------------------------------------------------------------- warm kernels

LEAVES_THINGS_BEHIND = """
import ctypes, os, pathlib, subprocess
for place in ('/tmp', '/dev/shm', '.', str(pathlib.Path.home())):
    pathlib.Path(place, 'left-by-the-first').write_text('secret answers')
os.makedirs('/tmp/locked/inner')
os.chmod('/tmp/locked', 0)
subprocess.Popen(['sleep', '1000'], start_new_session=True)
ctypes.CDLL(None).shmget(0x4242, 4096, 0o1666)
print(os.getpid())
"""

LOOKS_AROUND = """
import json, os, pathlib, sys
warm_start = 'torch' in sys.modules
seen = {
    'places': sorted(os.listdir('/tmp')) + sorted(os.listdir('/dev/shm')) + sorted(os.listdir('.'))
    + sorted(os.listdir(pathlib.Path.home())),
    'processes': [open(f'/proc/{p}/cmdline').read().replace(chr(0), ' ') for p in os.listdir('/proc') if p.isdigit()],
    'shared_memory': open('/proc/sysvipc/shm').read().splitlines()[1:],
    'pid': os.getpid(),
    'torch_already_imported': warm_start,
}
print(json.dumps(seen))
"""

ATTACKS_THE_ZYGOTE = """
import os
zygote = os.getppid()
for what in ('mem', 'environ', 'fd/0'):
    try:
        open(f'/proc/{zygote}/{what}', 'rb').read(1)
        print('read', what)
    except OSError:
        print('refused', what)
os.kill(zygote, 9)
"""


def run_warm(source: str) -> str:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    client = NotebookClient(
        notebook, kernel_manager_class=warm.WarmKernelManager, timeout=120, shutdown_kernel="immediate"
    )
    client.execute()
    return "".join(output.get("text", "") for output in notebook.cells[0].outputs)


@pytest.fixture
def warm_sandbox():
    warm.enable()
    yield warm.zygote()
    warm.shutdown()


def test_a_warm_kernel_sees_nothing_of_the_learner_before(warm_sandbox):
    """Files in /tmp, /dev/shm, the working folder and home, a background process, System V shared
    memory: after the first learner's kernel, is none of it there for the next?"""
    first_pid = int(run_warm(LEAVES_THINGS_BEHIND).split()[-1])
    seen = json.loads(run_warm(LOOKS_AROUND))
    assert not [name for name in seen["places"] if "left-by-the-first" in name or name == "locked"]
    assert not [command for command in seen["processes"] if "sleep 1000" in command]
    assert seen["shared_memory"] == []
    assert seen["pid"] != first_pid  # a fresh process
    assert seen["torch_already_imported"]  # and a warm one


def test_a_kernel_can_neither_read_nor_keep_down_the_zygote(warm_sandbox):
    """Its memory, environment and control pipe are refused; killing it costs only a cold start."""
    first = warm.zygote()
    said = run_warm(ATTACKS_THE_ZYGOTE)
    assert said.split() == ["refused", "mem", "refused", "environ", "refused", "fd/0"]
    seen = json.loads(run_warm(LOOKS_AROUND))  # a new warm sandbox took over
    assert warm.zygote() is not first
    assert seen["torch_already_imported"]


# ---------------------------------------------------------------------------------------- the pools


def class_of(tmp_path: Path, names: list[str]) -> Path:
    state = tmp_path / "state"
    for name in names:
        folder = state / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copyfile(FILES / SAMPLES[name].filename, folder / f"{ASSIGNMENT}.ipynb")
    return state


def grades(state: Path) -> dict[str, dict[str, float]]:
    with Course(state).gradebook() as gradebook:
        found = {}
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            (notebook,) = submission.notebooks
            found[submission.student.id] = {grade.name: float(grade.score) for grade in notebook.grades}
        return found


def assert_graded_once_as_golden(state: Path, names: list[str]) -> None:
    recorded = [json.loads(line)["submission"] for line in (state / "notes" / "timings.jsonl").read_text().splitlines()]
    assert sorted(recorded) == sorted(f"{name}/{ASSIGNMENT}" for name in names)  # each exactly once
    got = grades(state)
    assert got == {name: GOLDEN[name]["tasks"] for name in names}


def start_cli(state: Path, *arguments: str) -> subprocess.Popen[str]:
    env = dict(os.environ, FREEZELAB_CELL_TIMEOUT="90", PYTHONPATH=str(REPO_ROOT))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "freezelab.grading", "--state", str(state), "autograde", *arguments],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_first_result(state: Path, cli: subprocess.Popen[str], limit: float = 900) -> None:
    timings = state / "notes" / "timings.jsonl"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and cli.poll() is None:
        if timings.exists() and timings.read_text().strip():
            return
        time.sleep(0.2)
    raise AssertionError("no submission was graded in time")


def children_running(parent: int, module: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if ppid == parent and module in command:
            found.append(int(entry))
    return found


def test_a_local_worker_killed_mid_batch_loses_nothing(tmp_path):
    """Kill one of two local workers while it grades: is every submission graded once, as the golden says?"""
    names = [*BATCH, "correct-module-traversal"]
    state = class_of(tmp_path, names)
    cli = start_cli(state, "--jobs", "2")
    wait_for_first_result(state, cli)
    workers = children_running(cli.pid, "freezelab.grading.worker")
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    output, _ = cli.communicate(timeout=1200)
    assert cli.returncode == 0, output
    assert_graded_once_as_golden(state, names)


def in_cgroups_of(workers: set[int]) -> set[int]:
    """Every process in the cgroups of these workers' warm sandboxes (named ``w<worker pid>-…``)."""
    prefixes = tuple(f"/w{pid}-" for pid in workers)
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                groups = Path(f"/proc/{entry}/cgroup").read_text()
            except OSError:
                continue
            if any(prefix in groups for prefix in prefixes):
                found.add(int(entry))
    return found


def test_workers_launched_ahead_and_never_used_leave_nothing_running(tmp_path):
    """A pool that launched its workers (they warm up while the coordinator prepares) and then had
    nothing for them: does closing it stop every worker and every warm sandbox they started?"""
    if not sandbox.cgroups_available():
        pytest.skip("the warm sandboxes' cgroups are what this test follows (run as root)")
    pool = LocalPool(2, logs=tmp_path)
    pool.prepare()
    deadline = time.monotonic() + 30
    while len(workers := set(children_running(os.getpid(), "freezelab.grading.worker"))) < 2:
        assert time.monotonic() < deadline, "the pool did not launch its two workers"
        time.sleep(0.1)  # a child shows its command line once it has exec'd
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(in_cgroups_of(workers)) < 2:
        time.sleep(0.2)  # each worker starts its zygote while it warms up
    assert in_cgroups_of(workers), "the workers started no warm sandbox"
    pool.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and in_cgroups_of(workers):
        time.sleep(0.2)
    assert not in_cgroups_of(workers)
    assert not set(children_running(os.getpid(), "freezelab.grading.worker"))
    groups = sandbox.CGROUP_ROOT / "memory" / sandbox.CGROUP_PARENT
    assert not [group.name for group in groups.iterdir() if group.name.startswith(tuple(f"w{p}-" for p in workers))]


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        with Client(local.scheduler_address) as client:
            yield local, client


def test_a_dask_cluster_grades_as_the_local_run_does(tmp_path, cluster):
    """``autograde --scheduler``: the same grades as the local pool (the golden file), each once."""
    local, _ = cluster
    state = class_of(tmp_path, BATCH)
    cli = start_cli(state, "--scheduler", local.scheduler_address)
    output, _ = cli.communicate(timeout=1200)
    assert cli.returncode == 0, output
    assert_graded_once_as_golden(state, BATCH)


def test_a_dask_worker_killed_mid_batch_loses_nothing(tmp_path, cluster):
    """Kill a dask worker process while it grades: the scheduler gives its work to the other, none twice."""
    local, client = cluster
    names = [*BATCH, "correct-module-traversal"]
    state = class_of(tmp_path, names)
    cli = start_cli(state, "--scheduler", local.scheduler_address)
    wait_for_first_result(state, cli)
    pids = client.run(os.getpid)
    busy = [address for address, keys in client.processing().items() if keys] or list(pids)
    os.kill(pids[busy[0]], signal.SIGKILL)  # its nanny starts a fresh one
    output, _ = cli.communicate(timeout=1200)
    assert cli.returncode == 0, output
    assert_graded_once_as_golden(state, names)

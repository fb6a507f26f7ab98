"""Autograding throughput: this course's grading workers next to stock nbgrader, on the same submissions.

Grades the same N submissions of ``freeze-it-yourself`` (a mix: correct in several styles, partial,
wrong, broken) in fresh state folders, in one run:

* stock nbgrader: ``nbgrader generate_assignment`` then one ``nbgrader autograde`` process for the
  class, as nbgrader ships (``FREEZELAB_STOCK_NBGRADER=1``: none of this course's preprocessors);
* freezelab: ``python -m freezelab.grading autograde`` (one warm worker per core, every kernel in the
  bubblewrap sandbox), and the same with ``--no-sandbox`` to show what the sandbox costs;
* freezelab on dask: the same command with ``--scheduler`` on a ``distributed.LocalCluster`` of one
  worker process per core, started beforehand (as a class's cluster would be).

Each is timed from the shell, assignment generation and worker start-up included. With ``--repeats``
above 1 the runs alternate their order and the median is reported, because a shared machine's load
drifts. Prints seconds per submission for each, the pipeline's breakdown per submission (start-up,
learner code, hidden tests, nbgrader, gradebook), the rate once the workers are running (a batch pays
their start-up once: nbgrader, torch and the warm sandbox, about 15 s of two cores here), a projection
for 1,000 submissions from that start-up and the measured per-worker rate, and last
``throughput vs stock nbgrader: X.XXx (identical grades: yes|no)``: the comparison holds on the
submissions stock nbgrader grades correctly (the whole mix is honest work).

    python benchmarks/bench_autograde.py --submissions 40 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from freezelab.grading.course import Course, Submission
from freezelab.grading.pool import default_jobs
from freezelab.grading.samples import FREEZE, build_sample, samples_for
from freezelab.paths import REPO_ROOT

MIX = [
    "solution",
    "partial-first-five-tasks",
    "wrong-as-the-lesson-warns",
    "broken-syntax-error",
    "correct-named-parameters",
    "wrong-caught-only-by-hidden-tests",
    "correct-module-traversal",
    "untouched-release",
]
"""Honest submissions of every kind, which stock nbgrader grades correctly too."""
PARTS = ("start_up", "learner_code", "hidden_tests", "nbgrader", "gradebook")


def prepare(state: Path, count: int) -> list[str]:
    by_name = {sample.name: sample for sample in samples_for(FREEZE)}
    students = []
    for index in range(count):
        name = MIX[index % len(MIX)]
        student = f"learner-{index + 1:03d}-{name}"
        folder = Course(state).submitted_path(Submission(FREEZE, student))
        folder.mkdir(parents=True)
        (folder / f"{FREEZE}.ipynb").write_bytes(build_sample(by_name[name], FREEZE, FREEZE))
        students.append(student)
    return students


def run_stock(state: Path) -> float:
    course = Course(state)
    started = time.perf_counter()
    course.nbgrader("generate_assignment", FREEZE, "--force", stock=True)
    course.nbgrader("autograde", FREEZE, "--force", stock=True, check=False)
    return time.perf_counter() - started


def run_ours(state: Path, *flags: str) -> float:
    env = dict(os.environ)
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    started = time.perf_counter()
    command = [sys.executable, "-m", "freezelab.grading", "--state", str(state)]
    flags_before = [flag for flag in flags if flag == "--no-sandbox"]
    flags_after = [flag for flag in flags if flag != "--no-sandbox"]
    subprocess.run(
        [*command, *flags_before, "autograde", "--assignment", FREEZE, *flags_after],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


def scores(state: Path) -> dict[str, float]:
    with Course(state).gradebook() as gradebook:
        return {s.student.id: float(s.score) for s in gradebook.find_assignment(FREEZE).submissions}


def breakdown(state: Path) -> dict[str, float]:
    """Mean seconds per submission by part, from the coordinator's notes of this run."""
    path = state / "notes" / "timings.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return {part: statistics.mean(row.get(part, 0.0) for row in rows) for part in PARTS} if rows else {}


def measure(args: argparse.Namespace) -> tuple[dict[str, list[float]], dict[str, dict[str, float]], dict[str, float]]:
    """Run every pipeline on fresh copies of the same class: seconds per run, scores, the breakdown."""
    cluster = None
    runners: dict[str, Callable[[Path], float]] = {
        "stock nbgrader": run_stock,
        "freezelab pipeline": lambda state: run_ours(state, "--jobs", str(args.jobs)),
        "freezelab, no sandbox": lambda state: run_ours(state, "--no-sandbox", "--jobs", str(args.jobs)),
    }
    if not args.no_dask:
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=args.jobs, threads_per_worker=1, processes=True, dashboard_address=None)
        runners["freezelab on dask"] = lambda state: run_ours(state, "--scheduler", cluster.scheduler_address)
    times: dict[str, list[float]] = {label: [] for label in runners}
    given: dict[str, dict[str, float]] = {}
    parts: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="freezelab-bench-autograde-") as scratch:
            for repeat in range(args.repeats):
                order = list(runners.items())
                if repeat % 2:
                    order.reverse()
                for label, runner in order:
                    state = Path(scratch) / f"{label.replace(' ', '-').replace(',', '')}-{repeat}"
                    prepare(state, args.submissions)
                    times[label].append(runner(state))
                    given[label] = scores(state)
                    if label == "freezelab pipeline":
                        parts = breakdown(state)
                    shutil.rmtree(state)
    finally:
        if cluster is not None:
            cluster.close()

    return times, given, parts


def report(
    args: argparse.Namespace, times: dict[str, list[float]], given: dict[str, dict[str, float]], parts: dict[str, float]
) -> dict[str, float]:
    """Print the figures; return seconds per submission by pipeline."""
    n = args.submissions
    figures = {label: statistics.median(values) / n for label, values in times.items()}
    print(
        f"{n} submissions of {FREEZE} (a mix of {len(MIX)} kinds), {args.repeats} run(s) each, median, "
        f"{args.jobs} worker(s), generation and start-up included:"
    )
    for label, per_submission in figures.items():
        spread = ", ".join(f"{value:.1f}" for value in times[label])
        print(f"  {label:<22} {per_submission:6.2f} s per submission   (total s per run: {spread})")
    if parts:
        print("  freezelab, per submission in one worker: " + ", ".join(f"{p} {parts[p]:.2f} s" for p in PARTS))
    sandbox = figures["freezelab pipeline"] / figures["freezelab, no sandbox"]
    print(
        f"  sandboxed vs unsandboxed: {sandbox:.2f}x the time per submission (warm kernels are forked inside the "
        "sandbox; without it each submission starts a cold kernel that imports torch itself)"
    )
    workers = args.jobs
    if "freezelab on dask" in figures:
        dask_ratio = figures["stock nbgrader"] / figures["freezelab on dask"]
        print(f"  dask LocalCluster ({workers} workers): {dask_ratio:.2f}x stock nbgrader's throughput")
    if parts:
        # A class pays the start-up once: project from it and the rate of a worker that is running.
        job = sum(parts[p] for p in PARTS if p != "gradebook")  # a worker's seconds per submission
        run = statistics.median(times["freezelab pipeline"])
        start_up = max(0.0, run - n * job / workers)
        print(
            f"  freezelab once running: {job / workers:.2f} s per submission on {workers} workers "
            f"({figures['stock nbgrader'] * workers / job:.2f}x stock nbgrader's figure above); "
            f"start-up {start_up:.0f} s per batch"
        )
        for count in (4, 16):
            minutes = (start_up + 1000 * job / count) / 60
            print(
                f"  1,000 submissions on {count} workers: about {minutes:.0f} min "
                f"({60 / job:.1f} submissions per worker-minute after a {start_up:.0f} s start-up, "
                f"measured on the local pool)"
            )
    identical = all(given[label] == given["stock nbgrader"] for label in given)
    ratio = figures["stock nbgrader"] / figures["freezelab pipeline"]
    print(f"throughput vs stock nbgrader: {ratio:.2f}x (identical grades: {'yes' if identical else 'no'})")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--submissions", type=int, default=40, help="submissions per run (default 40: five of each kind)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating (default 1)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="workers (default: one per core)")
    parser.add_argument("--no-dask", action="store_true", help="leave out the dask LocalCluster run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    times, given, parts = measure(args)
    figures = report(args, times, given, parts)
    identical = all(scores == given["stock nbgrader"] for scores in given.values())
    ratio = figures["stock nbgrader"] / figures["freezelab pipeline"]
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "submissions": args.submissions,
                    "repeats": args.repeats,
                    "jobs": args.jobs,
                    "seconds_per_submission": figures,
                    "breakdown": parts,
                    "runs": times,
                    "scores": given,
                    "throughput_vs_stock": ratio,
                    "identical_grades": identical,
                },
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

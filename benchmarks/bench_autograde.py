"""Autograding throughput: this course's pipeline next to stock nbgrader, on the same submissions.

Grades N copies of one sample submission of ``freeze-it-yourself`` twice, in two fresh state
folders, in the same run:

* stock: ``nbgrader generate_assignment`` then ``nbgrader autograde`` as nbgrader ships
  (``FREEZELAB_STOCK_NBGRADER=1``: none of this course's preprocessors);
* ours:  ``python -m freezelab.grading autograde`` (the hardened preprocessors, the batch runner,
  the checks and the notes it writes), every kernel in the bubblewrap sandbox;
* ours without the sandbox (``--no-sandbox``), to show what the sandbox costs.

Both are timed as an instructor would run them, from the shell, assignment generation included.
The two alternate when ``--repeats`` is above 1, and the median is reported, because a shared
machine's load drifts. Prints seconds per submission for each, and the scores they gave.

    python benchmarks/bench_autograde.py --copies 10
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
from pathlib import Path

from freezelab.grading.course import Course
from freezelab.grading.samples import FREEZE, build_sample, samples_for
from freezelab.paths import REPO_ROOT


def prepare(state: Path, copies: int, sample_name: str) -> None:
    sample = next(s for s in samples_for(FREEZE) if s.name == sample_name)
    data = build_sample(sample, FREEZE, FREEZE)
    for index in range(copies):
        folder = state / "submitted" / f"learner-{index + 1:03d}" / FREEZE
        folder.mkdir(parents=True)
        (folder / f"{FREEZE}.ipynb").write_bytes(data)


def run_stock(state: Path) -> float:
    course = Course(state)
    started = time.perf_counter()
    course.nbgrader("generate_assignment", FREEZE, "--force", stock=True)
    course.nbgrader("autograde", FREEZE, "--force", stock=True, check=False)
    return time.perf_counter() - started


def run_ours(state: Path, sandbox: bool = True) -> float:
    env = dict(os.environ)
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    started = time.perf_counter()
    flags = [] if sandbox else ["--no-sandbox"]
    subprocess.run(
        [sys.executable, "-m", "freezelab.grading", "--state", str(state), *flags, "autograde", "--assignment", FREEZE],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started


def scores(state: Path) -> list[float]:
    with Course(state).gradebook() as gradebook:
        return sorted(float(s.score) for s in gradebook.find_assignment(FREEZE).submissions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=10, help="submissions per run (default 10)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each, alternating (default 1)")
    parser.add_argument("--sample", default="solution", help="which sample submission to copy (default solution)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    runners = {
        "stock nbgrader": run_stock,
        "freezelab pipeline": run_ours,
        "freezelab, no sandbox": lambda state: run_ours(state, sandbox=False),
    }
    times: dict[str, list[float]] = {label: [] for label in runners}
    given: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="freezelab-bench-autograde-") as scratch:
        for repeat in range(args.repeats):
            order = list(runners.items())
            if repeat % 2:
                order.reverse()
            for label, runner in order:
                state = Path(scratch) / f"{label.split()[0]}-{repeat}"
                prepare(state, args.copies, args.sample)
                times[label].append(runner(state))
                given[label] = scores(state)
                shutil.rmtree(state)

    figures = {label: statistics.median(values) / args.copies for label, values in times.items()}
    print(
        f"{args.copies} copies of the '{args.sample}' submission of {FREEZE}, "
        f"{args.repeats} run(s) each, median, generation included:"
    )
    for label, per_submission in figures.items():
        spread = ", ".join(f"{value:.1f}" for value in times[label])
        print(
            f"  {label:<19} {per_submission:6.2f} s per submission   (total s per run: {spread}; "
            f"scores {sorted(set(given[label]))})"
        )
    ratio = figures["freezelab pipeline"] / figures["stock nbgrader"]
    print(f"  the pipeline takes {ratio:.2f}x the time of stock nbgrader per submission")
    sandbox = figures["freezelab pipeline"] / figures["freezelab, no sandbox"]
    print(f"  sandboxed vs unsandboxed: {sandbox:.2f}x the time per submission")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "copies": args.copies,
                    "repeats": args.repeats,
                    "sample": args.sample,
                    "seconds_per_submission": figures,
                    "runs": times,
                    "scores": given,
                },
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

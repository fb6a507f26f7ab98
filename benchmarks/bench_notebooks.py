"""Execute every master notebook in a fresh kernel and print how long each takes.

Also measures the training-step speed-up of freezing ResNet-18 with the same helper that
lesson 05 uses, so the figure the lesson shows can be compared with a standalone run.

    .venv/bin/python benchmarks/bench_notebooks.py [--skip-speedup]

Targets from the course brief: the whole course within 90 seconds of wall time on a 2-core
CPU machine, no single cell over 20 seconds. The script prints the figures and flags a miss;
it does not fail (the tests assert behaviour, never wall-clock time). A notebook's time runs from
starting its kernel to stopping it right after the last cell (``freezelab.execution``); the machine's
load average is printed with it, since on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

COURSE_BUDGET_SECONDS = 90
CELL_BUDGET_SECONDS = 20


def bench_notebooks() -> None:
    from freezelab.execution import execute_copy, notebook_id, solution_notebooks

    print(f"{'notebook':<40} {'seconds':>8} {'slowest cell':>13}  status")
    total = 0.0
    slowest_overall = (0.0, "")
    with tempfile.TemporaryDirectory(prefix="freezelab-bench-") as scratch:
        os.environ.setdefault("FREEZELAB_PROGRESS_DIR", str(Path(scratch) / "progress"))
        for path in solution_notebooks():
            execution = execute_copy(path, Path(scratch) / path.parent.name / path.stem)
            slowest = max(execution.cell_seconds, default=0.0)
            status = "ok" if execution.error is None else f"ERROR ({execution.error.ename})"
            print(f"{notebook_id(path):<40} {execution.seconds:8.1f} {slowest:12.1f}s  {status}")
            total += execution.seconds
            if slowest > slowest_overall[0]:
                slowest_overall = (slowest, notebook_id(path))
    print(f"{'total':<40} {total:8.1f}   (load average at the end: {os.getloadavg()[0]:.1f})")
    print(f"course budget {COURSE_BUDGET_SECONDS} s: {'met' if total <= COURSE_BUDGET_SECONDS else 'MISSED'}"
          f" ({total / COURSE_BUDGET_SECONDS:.0%} of it)")
    print(f"slowest cell {slowest_overall[0]:.1f} s in {slowest_overall[1]}; cell budget "
          f"{CELL_BUDGET_SECONDS} s: {'met' if slowest_overall[0] <= CELL_BUDGET_SECONDS else 'MISSED'}")


def _busy_core():
    """A child process that keeps one core busy until it is stopped."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def bench_speedup() -> None:
    """Lesson 05's timing (ResNet-18, three freezing depths, seven interleaved rounds, one thread),
    once as it is and once with another process keeping a core busy: the speed-ups should agree
    within 25%."""
    import torch

    from freezelab.device import describe_device, get_device
    from freezelab.models import build_model
    from freezelab.timing import time_interleaved
    from freezelab.transfer import train_only

    device = get_device()
    torch.manual_seed(0)
    inputs = torch.randn(8, 3, 64, 64, device=device)
    targets = torch.randint(0, 10, (8,), device=device)
    model = build_model("resnet18", device=device, num_classes=10)
    depths = {
        "all trainable": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"],
        "layer4 + fc": ["layer4", "fc"],
        "fc only": ["fc"],
    }
    setups = {name: (lambda m, names=names: train_only(m, names)) for name, names in depths.items()}
    print(f"\nResNet-18 training step, batch 8x3x64x64, on {describe_device(device)}; lesson 05's method: "
          "7 interleaved rounds, speed-ups within each round, one thread")
    results = {}
    for condition in ("as the machine is", "with a busy core"):
        busy = _busy_core() if condition == "with a busy core" else None
        try:
            results[condition] = time_interleaved(model, setups, inputs, targets, rounds=7, min_run_time=0.2,
                                                  show_progress=False)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        print(f"-- {condition}")
        print("   " + results[condition].describe().replace("\n", "\n   "))
    quiet, busy = (results[c].median_speedup() for c in ("as the machine is", "with a busy core"))
    for name in depths:
        change = busy[name] / quiet[name] - 1
        print(f"speed-up of {name:14}: x{quiet[name]:.2f} -> x{busy[name]:.2f} with a busy core ({change:+.0%}; "
              f"target within 25%: {'met' if abs(change) <= 0.25 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-speedup", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    bench_notebooks()
    if not args.skip_speedup:
        bench_speedup()
    print(f"\nbenchmark wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

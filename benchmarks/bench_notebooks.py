"""Execute every master notebook in a fresh kernel and print how long each takes.

Also measures the training-step speed-up of freezing ResNet-18 with the same helper that
lesson 05 uses, so the figure the lesson shows can be compared with a standalone run.

    .venv/bin/python benchmarks/bench_notebooks.py [--skip-speedup]

Targets from the course brief: the whole course under 3 minutes of wall time on a 2-core
CPU machine, no single cell over 20 seconds. The script prints the figures and flags a miss;
it does not fail (the tests assert behaviour, never wall-clock time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

COURSE_BUDGET_SECONDS = 180
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
    print(f"{'total':<40} {total:8.1f}")
    print(f"course budget {COURSE_BUDGET_SECONDS} s: {'met' if total <= COURSE_BUDGET_SECONDS else 'MISSED'}"
          f" ({total / COURSE_BUDGET_SECONDS:.0%} of it)")
    print(f"slowest cell {slowest_overall[0]:.1f} s in {slowest_overall[1]}; cell budget "
          f"{CELL_BUDGET_SECONDS} s: {'met' if slowest_overall[0] <= CELL_BUDGET_SECONDS else 'MISSED'}")


def bench_speedup() -> None:
    import torch

    from freezelab.device import describe_device, get_device
    from freezelab.models import build_model
    from freezelab.params import count_parameters, freeze, unfreeze
    from freezelab.timing import time_training_step

    device = get_device()
    torch.manual_seed(0)
    inputs = torch.randn(8, 3, 64, 64, device=device)
    targets = torch.randint(0, 1000, (8,), device=device)
    model = build_model("resnet18", device=device)
    settings = {
        "all trainable": [],
        "layer4 + fc": ["layer4", "fc"],
        "fc only": ["fc"],
    }
    print(f"\nResNet-18 training step, batch 8x3x64x64, on {describe_device(device)}; "
          "settings interleaved over 3 rounds, median of the round medians")
    rounds: dict[str, list[float]] = {label: [] for label in settings}
    trainable_counts = {}
    for _ in range(3):
        for label, trainable in settings.items():
            unfreeze(model)
            if trainable:
                freeze(model)
                unfreeze([getattr(model, name) for name in trainable])
            rounds[label].append(time_training_step(model, inputs, targets, min_run_time=1.0).median)
            trainable_counts[label] = count_parameters(model).trainable
    baseline = statistics.median(rounds["all trainable"])
    for label, medians in rounds.items():
        median = statistics.median(medians)
        print(f"  {label:<14} {median * 1e3:8.1f} ms/step  speed-up {baseline / median:4.2f}x  "
              f"({trainable_counts[label]:,} trainable)")


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

"""Lesson 04's learning curve: test accuracy per set-up and label count, mean ± spread over seeds.

    .venv/bin/python benchmarks/bench_transfer.py [--seeds 5] [--write] [--skip-notebook] [--stored]
                                                  [--skip-augmentation]

Prints the table (mean ± standard deviation over the seeds of the test accuracy, each run keeping
the step with the best validation accuracy), the cut point that validation chose for the partly
frozen set-up, how long the whole curve took, then the same set-ups trained with augmentation
(from scratch, frozen backbone without its cache, fine-tuning; 1, 3 and 10 labels per digit) with
the pictures each sent through the backbone, lesson 06's frozen backbone with its BatchNorm layers
three ways, and how long lesson 04 takes to run top to bottom in a fresh kernel. ``--write`` stores
the tables in ``src/freezelab/checkpoints/learning-curve.json``, ``augmentation.json`` and
``batchnorm.json``, the figures lessons 04 and 06 plot (their tests re-run them, in part or whole,
and compare); ``--stored`` prints the stored tables without measuring (seconds instead of minutes).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="store the table for lesson 04")
    parser.add_argument("--skip-notebook", action="store_true", help="do not time lesson 04")
    parser.add_argument("--stored", action="store_true", help="print the stored table instead of measuring it")
    parser.add_argument("--skip-augmentation", action="store_true", help="do not measure the augmentation table")
    arguments = parser.parse_args()

    from freezelab.learning_curve import (
        AUGMENTATION_FILE,
        BATCHNORM_FILE,
        LEARNING_CURVE_FILE,
        augmentation_table,
        batchnorm_table,
        learning_curve,
        load_augmentation,
        load_batchnorm,
        load_curve,
        save_augmentation,
        save_batchnorm,
        save_curve,
    )

    curve = load_curve() if arguments.stored else learning_curve(seeds=range(arguments.seeds))
    print(f"test accuracy, mean ± standard deviation over {arguments.seeds} seeds")
    print(curve.table())
    print("cut point chosen on validation (blocks frozen from the input):",
          ", ".join(f"{count}: conv1..conv{cut}" for count, cut in curve.cuts.items()))
    print(f"learning curve computed in {curve.seconds:.0f} s" + (" (when it was stored)" if arguments.stored else ""))
    if arguments.write:
        print("wrote", save_curve(curve, LEARNING_CURVE_FILE))
    if not arguments.skip_augmentation:
        augmented = load_augmentation() if arguments.stored else augmentation_table(seeds=range(arguments.seeds))
        print(f"\nwith augmentation (the figures without are the curve's), mean ± standard deviation over "
              f"{arguments.seeds} seeds")
        print(augmented.table(curve))
        print("pictures through the backbone per run, one label per digit:",
              "; ".join(f"{setup} {row['cached or plain']:,} without augmentation, {row['augmented']:,} with"
                        for setup, row in augmented.backbone_pictures.items()))
        print(f"augmentation table computed in {augmented.seconds:.0f} s" + (" (when it was stored)" if arguments.stored
                                                                            else ""))
        if arguments.write:
            print("wrote", save_augmentation(augmented, AUGMENTATION_FILE))
    batchnorm = load_batchnorm() if arguments.stored else batchnorm_table(seeds=range(arguments.seeds))
    print(f"\nfrozen backbone, 10 labels per digit, its BatchNorm layers three ways ({arguments.seeds} seeds):")
    for choice, cell in batchnorm.items():
        print(f"  {choice:18} {cell}   seeds: {', '.join(f'{a:.1%}' for a in cell.accuracies)}")
    if arguments.write:
        print("wrote", save_batchnorm(batchnorm, BATCHNORM_FILE))
    if not arguments.skip_notebook:
        from freezelab.execution import execute_copy
        from freezelab.paths import REPO_ROOT

        path = REPO_ROOT / "solutions" / "lessons" / "04-transfer-for-real.ipynb"
        with tempfile.TemporaryDirectory(prefix="freezelab-bench-") as scratch:
            execution = execute_copy(path, Path(scratch))
        status = "ok" if execution.error is None else f"ERROR ({execution.error.ename})"
        print(f"lesson 04: {execution.seconds:.1f} s top to bottom, slowest cell "
              f"{max(execution.cell_seconds, default=0.0):.1f} s, {status}")


if __name__ == "__main__":
    main()

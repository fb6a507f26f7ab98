"""Progress bars and careful timing of training steps."""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
from torch import nn

from freezelab.params import trainable_parameters

T = TypeVar("T")


def progress(iterable: Iterable[T], **tqdm_options) -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar: a widget in Jupyter that leaves its last state behind
    (readable in a reopened notebook, see :mod:`freezelab.progress_bar`), text in a terminal."""
    from freezelab.progress_bar import progress as progress_bar

    return progress_bar(iterable, **tqdm_options)


def training_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                  optimizer: torch.optim.Optimizer) -> None:
    """One forward pass, backward pass and optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(inputs), targets)
    loss.backward()
    optimizer.step()


def time_training_step(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                       min_run_time: float = 1.0, label: str = "training step"):
    """Time :func:`training_step` with ``torch.utils.benchmark``.

    The optimizer (SGD) is given only the trainable parameters. ``blocked_autorange`` warms up,
    repeats the step until ``min_run_time`` seconds have passed, synchronises CUDA, and reports
    the median, so one slow outlier does not decide the result. Returns the
    ``torch.utils.benchmark.Measurement`` (``.median`` in seconds).
    """
    # Importing torch.utils.benchmark pulls in cpp_extension, whose import logs "No CUDA runtime
    # is found" on a CPU-only machine with a CUDA build of torch: noise in a learner's notebook.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    optimizer = torch.optim.SGD(trainable_parameters(model), lr=1e-3)
    timer = benchmark.Timer(
        stmt="training_step(model, inputs, targets, optimizer)",
        globals={"training_step": training_step, "model": model, "inputs": inputs,
                 "targets": targets, "optimizer": optimizer},
        label=label,
        num_threads=torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_run_time)


@dataclass(frozen=True)
class InterleavedTimes:
    """Seconds per training step of several set-ups, one median per round, the set-ups taking turns.

    Speed-ups are computed *within* each round (the reference's time in that round divided by the
    set-up's time in the same round), then summarised over the rounds: when the machine slows
    down for a moment, both times of a round slow down together and their ratio barely moves,
    which a ratio of two medians taken at different moments does not promise.
    """

    rounds: dict[str, list[float]]
    reference: str

    def median_seconds(self) -> dict[str, float]:
        return {name: statistics.median(times) for name, times in self.rounds.items()}

    def speedups(self) -> dict[str, list[float]]:
        """Per round: reference time / this set-up's time."""
        base = self.rounds[self.reference]
        return {name: [b / t for b, t in zip(base, times, strict=True)] for name, times in self.rounds.items()}

    def median_speedup(self) -> dict[str, float]:
        return {name: statistics.median(ratios) for name, ratios in self.speedups().items()}

    def disagreements(self, factor: float = 2.0) -> dict[str, float]:
        """Set-ups whose slowest round took more than ``factor`` times their fastest round, with
        that factor: the rounds disagree, the machine was busy, read the figures with care."""
        spread = {name: max(times) / min(times) for name, times in self.rounds.items()}
        return {name: value for name, value in spread.items() if value > factor}

    def describe(self) -> str:
        """The figures in words, saying so when two rounds disagree by more than 2x."""
        lines = []
        for name, ratios in self.speedups().items():
            seconds = self.rounds[name]
            lines.append(f"{name:14} {statistics.median(seconds) * 1e3:7.2f} ms per step "
                         f"(rounds {min(seconds) * 1e3:.1f} to {max(seconds) * 1e3:.1f} ms), speed-up "
                         f"x{statistics.median(ratios):.2f} (rounds x{min(ratios):.2f} to x{max(ratios):.2f})")
        disagreeing = self.disagreements()
        if disagreeing:
            lines.append("Careful: the rounds disagree by more than 2x for "
                         + ", ".join(f"{name} (x{value:.1f})" for name, value in disagreeing.items())
                         + ": something else was using the machine. The speed-ups, taken within each "
                           "round, hold up better than the times; run the cell again when it is quieter.")
        else:
            lines.append("The rounds agree within 2x for every set-up.")
        return "\n".join(lines)


def time_interleaved(model: nn.Module, setups: Mapping[str, Callable[[nn.Module], object]],
                     inputs: torch.Tensor, targets: torch.Tensor, rounds: int = 7,
                     min_run_time: float = 0.2, reference: str | None = None,
                     show_progress: bool = True, threads: int | None = 1) -> InterleavedTimes:
    """Time :func:`time_training_step` for each set-up (``setups[name](model)`` prepares it), the
    set-ups taking turns, ``rounds`` times; the first set-up is the reference unless told.

    On the CPU the steps run on ``threads`` threads (one by default): threads of one operation wait
    for each other, so when another program takes one of the cores, a two-thread step can take
    many times longer, and by a different factor for each set-up, while a one-thread step just
    keeps its core. ``threads=None`` keeps torch's setting. A GPU is not affected.
    """
    times: dict[str, list[float]] = {name: [] for name in setups}
    jobs = [(round_, name) for round_ in range(rounds) for name in setups]
    previous = torch.get_num_threads()
    if threads is not None and inputs.device.type == "cpu":
        torch.set_num_threads(threads)
    try:
        for _, name in progress(jobs, desc="timing", unit="measurement") if show_progress else jobs:
            setups[name](model)
            times[name].append(time_training_step(model, inputs, targets, min_run_time=min_run_time).median)
    finally:
        torch.set_num_threads(previous)
    return InterleavedTimes(times, reference or next(iter(setups)))

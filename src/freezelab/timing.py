"""Progress bars and careful timing of training steps."""

from __future__ import annotations

import logging
from collections.abc import Iterable
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

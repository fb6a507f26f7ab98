"""Models for the lessons: torchvision architectures without downloads, and a small digits CNN."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import torch
import torchvision
from torch import nn


def build_model(name: str, device: str | torch.device = "meta", **kwargs) -> nn.Module:
    """A torchvision architecture with random weights, built directly on ``device``.

    On the ``meta`` device tensors have shapes but no storage, so even ViT-B/16 (86 M
    parameters) is built in milliseconds; counts and ``requires_grad`` flags are exact.
    """
    with torch.device(device):
        return torchvision.models.get_model(name, weights=None, **kwargs)


@dataclass
class PretrainedResult:
    """What :func:`load_pretrained` got: the model and whether its weights are pretrained."""

    model: nn.Module
    pretrained: bool
    message: str


def load_pretrained(name: str, timeout: float = 5.0) -> PretrainedResult:
    """Try ``weights="DEFAULT"``; fall back to random weights quickly and say so.

    torchvision downloads the weights into the torch hub cache on first use. Without a
    network (as on the course's CI machines) the download fails; a socket timeout bounds
    how long that can take, and the learner is told plainly which weights they have.
    """
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    started = time.perf_counter()
    try:
        model = torchvision.models.get_model(name, weights="DEFAULT", progress=False)
        message = f"{name}: pretrained weights loaded (weights='DEFAULT')."
        return PretrainedResult(model, True, message)
    except Exception as error:  # any failure to fetch means: fall back
        model = torchvision.models.get_model(name, weights=None)
        elapsed = time.perf_counter() - started
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        message = (f"{name}: could not fetch the pretrained weights after {elapsed:.1f} s "
                   f"({type(error).__name__}: {reason}). Using RANDOM weights instead: parameter "
                   "counts and freezing behave the same, but the features are not pretrained.")
        return PretrainedResult(model, False, message)
    finally:
        socket.setdefaulttimeout(previous_timeout)


class DigitsNet(nn.Module):
    """A small CNN for 8x8 digit images, shaped like the big ones: ``features`` then ``head``.

    ``features`` (two conv blocks with BatchNorm, then a hidden fully connected layer) is the
    part that is learned on the source task and frozen later; ``head`` is the task-specific
    classifier that is replaced for a new task.
    """

    def __init__(self, num_classes: int = 5, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, kernel_size=3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * 4 * 4, 64),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

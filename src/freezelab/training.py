"""A plain training loop with a progress bar, and evaluation, for the small lesson models."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from freezelab.params import trainable_parameters
from freezelab.timing import progress

__all__ = ["History", "accuracy", "train", "trainable_parameters"]


@dataclass
class History:
    """What happened during :func:`train`: one entry per epoch, plus the wall time."""

    train_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


@torch.no_grad()
def accuracy(model: nn.Module, loader: DataLoader, device: torch.device | str = "cpu") -> float:
    """Fraction of correctly classified examples, with the model in eval mode."""
    # Remember every module's own mode: a frozen BatchNorm kept in eval inside a training
    # model must come back in eval, which model.train(was_training) would undo.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    correct = total = 0
    for images, labels in loader:
        predictions = model(images.to(device)).argmax(dim=1)
        correct += (predictions == labels.to(device)).sum().item()
        total += labels.numel()
    for module, training in modes.items():
        module.training = training
    return correct / total


def train(model: nn.Module, loader: DataLoader, test_loader: DataLoader, epochs: int,
          optimizer: torch.optim.Optimizer | None = None, lr: float = 1e-2,
          device: torch.device | str = "cpu", description: str = "training",
          show_progress: bool = True, modules_in_eval: Iterable[nn.Module] = ()) -> History:
    """Train ``model`` for ``epochs`` and record loss and test accuracy per epoch.

    Without an ``optimizer``, Adam is built over the trainable parameters only.
    ``modules_in_eval`` are put back in eval mode after every ``model.train()`` call, which is
    how frozen BatchNorm layers keep their running statistics unchanged.
    """
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(trainable_parameters(model), lr=lr)
    loss_function = nn.CrossEntropyLoss()
    history = History()
    started = time.perf_counter()
    epochs_iter = progress(range(epochs), desc=description, unit="epoch") if show_progress \
        else range(epochs)
    for _ in epochs_iter:
        model.train()
        for module in modules_in_eval:
            module.eval()
        running_loss, seen = 0.0, 0
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = loss_function(model(images), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * labels.numel()
            seen += labels.numel()
        history.train_loss.append(running_loss / seen)
        history.test_accuracy.append(accuracy(model, test_loader, device))
    history.seconds = time.perf_counter() - started
    return history

"""Small data sets that ship inside a package, so the course never downloads anything.

scikit-learn's handwritten digits (1,797 images of 8x8 pixels) are split into two tasks:
a *source* task (digits 0-4) on which a network learns its features, and a *target* task
(digits 5-9) with only a few labelled examples per class, on which those features are reused.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)


def _digits_file() -> Path | None:
    """scikit-learn's bundled ``digits.csv.gz``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")  # finds the package; runs none of its code
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


@cache
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits (pixel values 0-16) and their labels, read once per process.

    The file is the one ``sklearn.datasets.load_digits()`` reads, parsed the same way (the tests
    compare the two); reading it directly saves the two seconds that importing
    ``sklearn.datasets`` takes, in every lesson that uses the digits.
    """
    path = _digits_file()
    if path is None:  # a scikit-learn that keeps the file elsewhere: ask it
        from sklearn.datasets import load_digits

        digits = load_digits()
        return digits.images, digits.target
    data = np.loadtxt(path, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as ``(N, 1, 8, 8)`` float images in [0, 1] and ``(N,)`` integer labels."""
    pixels, target = _digits_arrays()
    images = torch.tensor(pixels / 16.0, dtype=torch.float32).unsqueeze(1)
    labels = torch.tensor(target, dtype=torch.int64)
    return images, labels


@dataclass(frozen=True)
class DigitTasks:
    """The four splits of the transfer experiment; labels are remapped to 0..4 in each task."""

    source_train: TensorDataset
    source_test: TensorDataset
    target_train: TensorDataset
    target_test: TensorDataset

    def describe(self) -> str:
        return (f"source task {SOURCE_DIGITS}: {len(self.source_train)} train / "
                f"{len(self.source_test)} test images; target task {TARGET_DIGITS}: "
                f"{len(self.target_train)} labelled train / {len(self.target_test)} test images")


def _split(indices: np.ndarray, test_fraction: float, rng: np.random.Generator):
    indices = rng.permutation(indices)
    cut = int(round(len(indices) * (1 - test_fraction)))
    return indices[:cut], indices[cut:]


def digit_tasks(labels_per_class: int = 10, test_fraction: float = 0.3, seed: int = 0) -> DigitTasks:
    """Split the digits into the source task and a few-label target task.

    The source task keeps all its training images; the target task keeps only
    ``labels_per_class`` labelled images per digit for training, the situation where
    reusing frozen features pays off most. Test sets are disjoint from training sets.
    """
    images, labels = load_digits_tensors()
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"st": [], "se": [], "tt": [], "te": []}
    for digit in range(10):
        indices = np.flatnonzero(labels.numpy() == digit)
        train, test = _split(indices, test_fraction, rng)
        if digit in SOURCE_DIGITS:
            parts["st"].append(train)
            parts["se"].append(test)
        else:
            parts["tt"].append(train[:labels_per_class])
            parts["te"].append(test)

    def dataset(key: str, digits: tuple[int, ...]) -> TensorDataset:
        chosen = torch.from_numpy(np.sort(np.concatenate(parts[key])))
        return TensorDataset(images[chosen], labels[chosen] - digits[0])

    return DigitTasks(
        source_train=dataset("st", SOURCE_DIGITS),
        source_test=dataset("se", SOURCE_DIGITS),
        target_train=dataset("tt", TARGET_DIGITS),
        target_test=dataset("te", TARGET_DIGITS),
    )


def make_loader(dataset: TensorDataset, batch_size: int = 64, shuffle: bool = True,
                seed: int = 0) -> DataLoader:
    """A DataLoader whose shuffling is reproducible (its own seeded generator)."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)

"""The course's own pretrained model: ``GlyphNet``, trained on printed characters, shipped in the repo.

Lesson 04 loads it the way torchvision weights are loaded::

    weights = GlyphNet_Weights.DEFAULT
    model = glyphnet(weights=weights)
    weights.meta["categories"], weights.meta["source_accuracy"]
    preprocess = weights.transforms()

The weights live in ``checkpoints/glyphnet-chars62.pt`` next to this file (about 0.4 MB), made by
``python tools/make_pretrained_checkpoint.py``, which calls :func:`train_source_model` and is
deterministic: the same torch version on the same kind of CPU writes the same tensors. Nothing is
downloaded, ever: the source task (:mod:`freezelab.glyphs`) is drawn from matplotlib's fonts.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from freezelab.glyphs import CHARACTERS, make_glyphs
from freezelab.timing import progress

CHECKPOINT = Path(__file__).with_name("checkpoints") / "glyphnet-chars62.pt"

#: The blocks of GlyphNet, from the input to the output; ``head`` is the task's classifier.
BLOCK_NAMES = ("conv1", "conv2", "conv3", "hidden", "head")


class GlyphNet(nn.Module):
    """A small CNN for 8x8 pictures, shaped like torchvision's models: ``features``, then ``head``.

    ``features`` holds four blocks, each a few layers: ``conv1`` (8x8, 16 channels), ``conv2``
    (32 channels, pooled to 4x4), ``conv3`` (64 channels, pooled to 2x2) and ``hidden`` (a fully
    connected layer of 128 units). ``head`` turns those 128 numbers into class scores.
    """

    def __init__(self, num_classes: int = len(CHARACTERS), widths: tuple[int, int, int] = (16, 32, 64),
                 hidden: int = 128) -> None:
        super().__init__()
        first, second, third = widths
        self.features = nn.Sequential(OrderedDict(
            conv1=nn.Sequential(nn.Conv2d(1, first, 3, padding=1), nn.BatchNorm2d(first), nn.ReLU()),
            conv2=nn.Sequential(nn.Conv2d(first, second, 3, padding=1), nn.BatchNorm2d(second), nn.ReLU(),
                                nn.MaxPool2d(2)),
            conv3=nn.Sequential(nn.Conv2d(second, third, 3, padding=1), nn.BatchNorm2d(third), nn.ReLU(),
                                nn.MaxPool2d(2)),
            hidden=nn.Sequential(nn.Flatten(), nn.Linear(third * 2 * 2, hidden), nn.ReLU()),
        ))
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def blocks(self) -> list[nn.Module]:
        """The five blocks from the input to the output (``conv1`` ... ``hidden``, ``head``)."""
        return [*self.features, self.head]


class Preprocess(nn.Module):
    """What the weights expect: pixel values 0-16 (as in ``load_digits().images``) divided by 16,
    then standardised with the mean and standard deviation of the source pictures."""

    def __init__(self, mean: float, std: float, max_value: float = 16.0) -> None:
        super().__init__()
        self.mean, self.std, self.max_value = mean, std, max_value

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images / self.max_value - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"images / {self.max_value:g}, then (x - {self.mean:.4f}) / {self.std:.4f}"


@dataclass(frozen=True)
class Weights:
    """A checkpoint and what is known about it, like a torchvision ``WeightsEnum`` member."""

    path: Path

    def _checkpoint(self) -> dict:
        return torch.load(self.path, map_location="cpu", weights_only=True)

    @property
    def meta(self) -> dict:
        """Source task, categories, accuracy on fresh source pictures, how it was trained."""
        return self._checkpoint()["meta"]

    def get_state_dict(self) -> dict[str, torch.Tensor]:
        return self._checkpoint()["state_dict"]

    def transforms(self) -> Preprocess:
        meta = self.meta
        return Preprocess(meta["mean"], meta["std"])


class GlyphNet_Weights(enum.Enum):  # named like torchvision's ResNet18_Weights
    CHARS62_V1 = Weights(CHECKPOINT)
    DEFAULT = CHARS62_V1

    @property
    def meta(self) -> dict:
        return self.value.meta

    def transforms(self) -> Preprocess:
        return self.value.transforms()

    def get_state_dict(self) -> dict[str, torch.Tensor]:
        return self.value.get_state_dict()


def glyphnet(weights: GlyphNet_Weights | None = None, num_classes: int | None = None) -> GlyphNet:
    """A GlyphNet, with the shipped weights when ``weights`` is given (like ``resnet18(weights=...)``).

    With ``num_classes`` different from the 62 source classes, the loaded head is replaced by a
    new, randomly initialised one of the right size: the old head answers the old question.
    """
    model = GlyphNet()
    if weights is not None:
        model.load_state_dict(weights.get_state_dict())
    if num_classes is not None and num_classes != model.head.out_features:
        model.head = nn.Linear(model.head.in_features, num_classes)
    return model


# --- making the checkpoint --------------------------------------------------------------------------

#: How the shipped checkpoint was trained (``tools/make_pretrained_checkpoint.py``).
RECIPE = {
    "seed": 0,
    "epochs": 12,
    "pictures_per_epoch": 24_000,
    "batch_size": 128,
    "optimizer": "AdamW(lr=3e-3, weight_decay=1e-4), one-cycle schedule",
    "test_pictures": 6_200,
}


def train_source_model(recipe: dict = RECIPE, show_progress: bool = True,
                       report: Callable[[str], None] = print) -> tuple[GlyphNet, dict]:
    """Train GlyphNet on the source task, with fresh random pictures every epoch; return it and its meta.

    Deterministic: single-threaded, deterministic algorithms, every random number from a seed.
    """
    torch.manual_seed(recipe["seed"])
    torch.use_deterministic_algorithms(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sample, _ = make_glyphs(10_000, seed=10_000 + recipe["seed"])
        pixels = sample / 16.0
        mean, std = pixels.mean().item(), pixels.std().item()
        preprocess = Preprocess(mean, std)
        model = GlyphNet()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
        steps_per_epoch = recipe["pictures_per_epoch"] // recipe["batch_size"]
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=recipe["epochs"],
                                                        steps_per_epoch=steps_per_epoch)
        epochs = range(recipe["epochs"])
        for epoch in progress(epochs, desc="source task", unit="epoch") if show_progress else epochs:
            images, labels = make_glyphs(recipe["pictures_per_epoch"], seed=recipe["seed"] * 1000 + epoch)
            images = preprocess(images)
            order = torch.randperm(len(labels))
            model.train()
            for step in range(steps_per_epoch):
                batch = order[step * recipe["batch_size"]:(step + 1) * recipe["batch_size"]]
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(images[batch]), labels[batch]).backward()
                optimizer.step()
                scheduler.step()
        test_images, test_labels = make_glyphs(recipe["test_pictures"], seed=99_999)
        model.eval()
        with torch.no_grad():
            accuracy = (model(preprocess(test_images)).argmax(1) == test_labels).float().mean().item()
        report(f"source test accuracy on {recipe['test_pictures']:,} fresh pictures: {accuracy:.1%}")
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(False)
    meta = {
        "source_task": "62 printed characters (0-9, A-Z, a-z) in matplotlib's 16 text fonts, randomly "
                       "rotated, sheared, scaled, shifted, thickened and speckled, reduced to 8x8 "
                       "like scikit-learn's digits (freezelab.glyphs)",
        "categories": list(CHARACTERS),
        "source_accuracy": round(accuracy, 4),
        "mean": mean,
        "std": std,
        "num_params": sum(p.numel() for p in model.parameters()),
        "recipe": dict(recipe),
        "torch_version": torch.__version__.split("+")[0],
    }
    return model, meta


def save_checkpoint(model: GlyphNet, meta: dict, path: Path = CHECKPOINT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "meta": meta}, path)
    return path

"""Lesson 04's experiment: does the shipped GlyphNet help to learn handwritten digits from few labels?

The target task is all ten of scikit-learn's handwritten digits. :func:`target_splits` fixes a
**test** split (40 %, used only for the final figures) and a **validation** split (20 per
digit, used to choose the training step to keep and the cut point); each seed then draws
``labels_per_class`` labelled training images per digit from the rest.

Every set-up starts from the same preprocessing (``weights.transforms()``), gets the same
images, the same number of optimizer steps and the same batch size, and keeps the state with
the best validation accuracy (early stopping); only that state is scored on the test split.

- ``from scratch``: a random GlyphNet, everything trains (Adam, 3e-3).
- ``frozen backbone``: the pretrained ``features`` frozen (BatchNorm in eval mode), a new head
  trained on features computed once (Adam, 1e-2).
- ``partly frozen``: ``conv1`` .. ``conv{k}`` frozen, the rest fine-tuned (Adam, 1e-3; the new
  head 1e-2); ``k`` is the cut point.
- ``fine-tune, low lr``: everything trains from the pretrained weights at one low rate (Adam, 1e-3).
- ``recipe``: the frozen-backbone head first, then everything unfrozen with per-block rates
  rising from 1e-4 (``conv1``) to 1e-3 (``head``), the optimizer rebuilt for the new stage.
- ``recipe, gradual``: the head first, then one block more per stage from the top, each added
  to the same optimizer as a parameter group with its own rate.

With ``augment=True`` (:class:`Augmentation`), every training batch is distorted afresh; the frozen
backbone then runs on every batch, since features cached once are those of undistorted pictures.
:func:`augmentation_table` trains scratch, the frozen backbone and fine-tuning that way at 1, 3 and
10 labels per digit; :func:`feature_change` measures how far a distorted picture's features are from
the cached ones.
"""

from __future__ import annotations

import copy
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from freezelab.data import load_digits_tensors
from freezelab.pretrained import BLOCK_NAMES, GlyphNet, GlyphNet_Weights, Preprocess, glyphnet
from freezelab.timing import progress
from freezelab.transfer import discriminative_learning_rates, discriminative_param_groups, train_mode

SETUPS = ("from scratch", "frozen backbone", "partly frozen", "fine-tune, low lr", "recipe", "recipe, gradual")
LABEL_COUNTS = (1, 3, 10, 30, "all")
VALIDATION_PER_CLASS = 20
TEST_FRACTION = 0.4
STEPS = 150
EVALUATE_EVERY = 10
BATCH_SIZE = 32


# --- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TargetSplits:
    """Training images for one seed and label count; the validation and test splits never change."""

    train: Split
    validation: Split
    test: Split


@lru_cache(maxsize=1)
def _fixed_parts() -> tuple[torch.Tensor, torch.Tensor, list[np.ndarray], np.ndarray, np.ndarray]:
    images, labels = load_digits_tensors()
    rng = np.random.default_rng(12345)  # the split itself never depends on the experiment's seed
    pools, validation, test = [], [], []
    for digit in range(10):
        indices = rng.permutation(np.flatnonzero(labels.numpy() == digit))
        n_test = int(round(len(indices) * TEST_FRACTION))
        test.append(indices[:n_test])
        validation.append(indices[n_test:n_test + VALIDATION_PER_CLASS])
        pools.append(indices[n_test + VALIDATION_PER_CLASS:])
    return images * 16.0, labels, pools, np.concatenate(validation), np.concatenate(test)


def target_splits(labels_per_class: int | str, seed: int) -> TargetSplits:
    """The digits as pixel values 0-16 (like ``load_digits().images``), split for one run.

    ``labels_per_class="all"`` takes every image of the training pool (about 87 per digit).
    """
    images, labels, pools, validation, test = _fixed_parts()
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(pool)[: None if labels_per_class == "all" else labels_per_class] for pool in pools]
    train = np.sort(np.concatenate(chosen))

    def split(indices: np.ndarray) -> Split:
        index = torch.from_numpy(indices)
        return Split(images[index], labels[index])

    return TargetSplits(split(train), split(validation), split(test))


@contextmanager
def _small_model_settings():
    """One thread, denormals flushed to zero, for the duration of a run.

    The operations of a model this small are too short to share between threads: on a machine
    whose cores are busy with other work, two threads waiting for each other made each step up
    to ten times slower than one thread. And once a few-label run fits its images, its gradients
    shrink into the denormal range, where a CPU computes up to ten times slower again. Neither
    changes a result: the runs are bit-for-bit the same either way.
    """
    threads = torch.get_num_threads()
    flushing = torch.set_flush_denormal(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if flushing:
            torch.set_flush_denormal(False)


# --- augmentation ----------------------------------------------------------------------------------


class Augmentation:
    """Random small distortions of preprocessed 8x8 digits, a fresh draw for every batch.

    Each picture is rotated by up to ``degrees``, scaled by a factor in ``scale`` and shifted by up
    to ``shift`` pixels in each direction (bilinear resampling); what moves in from the border is
    background, the value ``preprocess`` gives a blank pixel. The draws come from a generator seeded
    with ``seed``, so a run with augmentation is as reproducible as one without.
    """

    def __init__(self, preprocess: Preprocess, seed: int, degrees: float = 12.0,
                 scale: tuple[float, float] = (0.9, 1.1), shift: float = 1.0) -> None:
        self.background = preprocess(torch.zeros(())).item()
        self.generator = torch.Generator().manual_seed(seed)
        self.degrees, self.scale, self.shift = degrees, scale, shift

    def _uniform(self, count: int, low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(count, generator=self.generator)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count, _, height, _ = images.shape
        angle = self._uniform(count, -self.degrees, self.degrees) * math.pi / 180
        scale = self._uniform(count, *self.scale)
        # affine_grid measures shifts in half-widths of the picture: one pixel of eight is 2 / 8.
        shift = self.shift * 2 / height
        theta = torch.zeros(count, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle) / scale, -torch.sin(angle) / scale
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle) / scale, torch.cos(angle) / scale
        theta[:, 0, 2], theta[:, 1, 2] = self._uniform(count, -shift, shift), self._uniform(count, -shift, shift)
        grid = nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
        moved = nn.functional.grid_sample(images - self.background, grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)
        return moved + self.background


# --- training --------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run: the validation accuracy at each evaluation, the step kept, its test accuracy."""

    setup: str
    labels_per_class: int | str
    seed: int
    validation_accuracy: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    best_step: int = 0
    best_validation: float = 0.0
    test_accuracy: float = 0.0
    seconds: float = 0.0
    #: How many pictures went through ``model.features`` (the backbone), training, validation and
    #: test together: the work a cache saves, counted exactly.
    backbone_pictures: int = 0


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    modes = {module: module.training for module in model.modules()}
    model.eval()
    correct = (model(images).argmax(dim=1) == labels).float().mean().item()
    for module, training in modes.items():
        module.training = training
    return correct


def _fit(model: nn.Module, optimizer: list[dict] | torch.optim.Optimizer, train: Split, validation: Split,
         steps: int, seed: int, run: Run, step_offset: int = 0, best: tuple[float, dict] | None = None,
         augmentation: Augmentation | None = None):
    """Train for ``steps`` steps on shuffled batches; keep the best validation state.

    ``optimizer`` is an optimizer, or parameter groups for a new Adam. With an ``augmentation``,
    every batch is distorted afresh before it goes in (the validation split never is).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = torch.optim.Adam(optimizer)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=generator)
    position = 0
    best = best or (-1.0, {})
    for step in range(1, steps + 1):
        if position >= len(order):
            order, position = torch.randperm(len(train), generator=generator), 0
        batch = order[position:position + BATCH_SIZE]
        position += BATCH_SIZE
        train_mode(model)  # frozen BatchNorm layers stay in eval mode
        optimizer.zero_grad(set_to_none=True)
        images = train.images[batch] if augmentation is None else augmentation(train.images[batch])
        nn.functional.cross_entropy(model(images), train.labels[batch]).backward()
        optimizer.step()
        if step % EVALUATE_EVERY == 0 or step == steps:
            accuracy = _accuracy(model, validation.images, validation.labels)
            run.validation_accuracy.append(accuracy)
            run.steps.append(step_offset + step)
            if accuracy > best[0]:
                best = (accuracy, copy.deepcopy(model.state_dict()))
                run.best_step, run.best_validation = step_offset + step, accuracy
    return best


def _head_on_cached_features(model: GlyphNet, train: Split, validation: Split, seed: int, run: Run,
                             steps: int = STEPS):
    """Train ``model.head`` on features of the frozen backbone, computed once (no augmentation)."""
    model.features.requires_grad_(False)
    model.features.eval()
    with torch.no_grad():
        train_features = Split(model.features(train.images), train.labels)
        validation_features = Split(model.features(validation.images), validation.labels)
    best = _fit(model.head, [{"params": model.head.parameters(), "lr": 1e-2}], train_features,
                validation_features, steps, seed, run)
    model.head.load_state_dict(best[1])
    return best[0]


def new_model(setup: str, seed: int, weights: GlyphNet_Weights | None = GlyphNet_Weights.DEFAULT,
              cut: int = 2) -> GlyphNet:
    """A GlyphNet prepared for ``setup``: loaded (except from scratch), a new 10-class head, frozen parts."""
    torch.manual_seed(seed)
    model = glyphnet(weights=None if setup == "from scratch" else weights, num_classes=10)
    if setup in ("frozen backbone", "recipe", "recipe, gradual"):   # the recipes start frozen
        model.features.requires_grad_(False)
    elif setup == "partly frozen":
        for block in list(model.features)[:cut]:
            block.requires_grad_(False)
    return model


#: The set-ups that :func:`run_setup` can train with augmentation (the recipes start on cached features).
AUGMENTABLE_SETUPS = ("from scratch", "frozen backbone", "partly frozen", "fine-tune, low lr")


def run_setup(setup: str, labels_per_class: int | str, seed: int, cut: int = 2,
              weights: GlyphNet_Weights = GlyphNet_Weights.DEFAULT, steps: int = STEPS,
              preprocess: Preprocess | None = None, augment: bool = False) -> tuple[Run, GlyphNet]:
    """Train one set-up on one draw of the target task; return the run and the model it kept.

    With ``augment``, every training batch is distorted afresh (:class:`Augmentation`); a frozen
    backbone then runs on every batch instead of on features cached once, since the features of a
    distorted picture are not those of the picture.

    Denormal numbers are flushed to zero while it runs: once a few-label run fits its images,
    its gradients shrink into the denormal range, where a CPU computes up to ten times slower.
    """
    if augment and setup not in AUGMENTABLE_SETUPS:
        raise ValueError(f"{setup!r} cannot be trained with augmentation; one of {AUGMENTABLE_SETUPS} can")
    with _small_model_settings():
        return _run_setup(setup, labels_per_class, seed, cut, weights, steps, preprocess, augment)


def _run_setup(setup: str, labels_per_class: int | str, seed: int, cut: int, weights: GlyphNet_Weights,
               steps: int, preprocess: Preprocess | None, augment: bool = False) -> tuple[Run, GlyphNet]:
    started = time.perf_counter()
    preprocess = preprocess if preprocess is not None else weights.transforms()
    data = target_splits(labels_per_class, seed)
    train, validation, test = (Split(preprocess(s.images), s.labels) for s in (data.train, data.validation,
                                                                                data.test))
    run = Run(setup, labels_per_class, seed)
    model = new_model(setup, seed, weights, cut)
    counter = model.features.register_forward_pre_hook(lambda _, inputs: _count_pictures(run, inputs))
    augmentation = Augmentation(preprocess, seed=10_000 + seed) if augment else None
    if setup == "frozen backbone" and augment:
        # No cache: the frozen backbone (BatchNorm in eval mode) runs on every distorted batch.
        best = _fit(model, [{"params": model.head.parameters(), "lr": 1e-2}], train, validation, steps, seed, run,
                    augmentation=augmentation)
        model.load_state_dict(best[1])
    elif setup == "frozen backbone":
        _head_on_cached_features(model, train, validation, seed, run, steps)
    elif setup == "recipe":
        head_steps = steps // 3
        accuracy = _head_on_cached_features(model, train, validation, seed, run, head_steps)
        model.requires_grad_(True)  # stage 2: unfreeze everything, rebuild the optimizer
        groups = discriminative_param_groups(model.blocks(), 1e-4, 1e-3)
        best = _fit(model, groups, train, validation, steps - head_steps, seed + 1, run,
                    step_offset=head_steps, best=(accuracy, copy.deepcopy(model.state_dict())))
        model.load_state_dict(best[1])
    elif setup == "recipe, gradual":
        _gradual_unfreezing(model, train, validation, seed, run, steps)
    else:
        if setup == "from scratch":
            groups = [{"params": model.parameters(), "lr": 3e-3}]
        elif setup == "fine-tune, low lr":
            groups = [{"params": model.parameters(), "lr": 1e-3}]
        else:  # partly frozen
            body = [p for p in model.features.parameters() if p.requires_grad]
            groups = [{"params": body, "lr": 1e-3}, {"params": model.head.parameters(), "lr": 1e-2}]
        best = _fit(model, groups, train, validation, steps, seed, run, augmentation=augmentation)
        model.load_state_dict(best[1])
    run.test_accuracy = _accuracy(model, test.images, test.labels)
    run.seconds = time.perf_counter() - started
    counter.remove()
    return run, model


def _count_pictures(run: Run, inputs: tuple[torch.Tensor, ...]) -> None:
    run.backbone_pictures += len(inputs[0])


# --- BatchNorm in a frozen backbone, three ways ------------------------------------------------------

BATCHNORM_CHOICES = ("eval mode", "FrozenBatchNorm2d", "train_bn (fastai)")


def with_frozen_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` inside ``module`` by a ``torchvision.ops.FrozenBatchNorm2d``
    holding the same weight, bias and running statistics (as buffers: nothing left to train)."""
    from torchvision.ops import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            with_frozen_batchnorm(child)
    return module


def run_frozen_batchnorm(choice: str, labels_per_class: int | str, seed: int,
                         weights: GlyphNet_Weights = GlyphNet_Weights.DEFAULT, steps: int = STEPS) -> Run:
    """The frozen-backbone set-up with its BatchNorm layers handled one of three ways.

    - ``eval mode``: the BatchNorm layers stay in eval mode (what :func:`run_setup` does);
    - ``FrozenBatchNorm2d``: they are replaced by torchvision's frozen BatchNorm;
    - ``train_bn (fastai)``: as fastai's ``train_bn=True``, their weight and bias train (Adam,
      1e-3) and they normalise with batch statistics in training, so the backbone runs on every
      batch (its features cannot be cached).
    """
    with _small_model_settings():
        preprocess = weights.transforms()
        data = target_splits(labels_per_class, seed)
        train, validation, test = (Split(preprocess(s.images), s.labels)
                                   for s in (data.train, data.validation, data.test))
        run = Run(f"frozen backbone, {choice}", labels_per_class, seed)
        model = new_model("frozen backbone", seed, weights)
        if choice == "eval mode":
            _head_on_cached_features(model, train, validation, seed, run, steps)
        elif choice == "FrozenBatchNorm2d":
            with_frozen_batchnorm(model.features)
            _head_on_cached_features(model, train, validation, seed, run, steps)
        elif choice == "train_bn (fastai)":
            batchnorm = [p for m in model.features.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
            for parameter in batchnorm:
                parameter.requires_grad_(True)
            groups = [{"params": batchnorm, "lr": 1e-3}, {"params": model.head.parameters(), "lr": 1e-2}]
            best = _fit(model, groups, train, validation, steps, seed, run)
            model.load_state_dict(best[1])
        else:
            raise ValueError(f"unknown BatchNorm choice {choice!r}; one of {BATCHNORM_CHOICES}")
        run.test_accuracy = _accuracy(model, test.images, test.labels)
    return run


#: Labels per digit in lesson 06's BatchNorm comparison (what :data:`BATCHNORM_FILE` stores).
BATCHNORM_LABELS = 10


def batchnorm_table(labels_per_class: int | str = BATCHNORM_LABELS, seeds: Sequence[int] = range(5),
                    show_progress: bool = True) -> dict[str, Cell]:
    """Test accuracy of the frozen backbone with its BatchNorm layers handled each of the three ways
    (:data:`BATCHNORM_CHOICES`), over ``seeds``: the figures lesson 06 plots."""
    jobs = [(choice, seed) for choice in BATCHNORM_CHOICES for seed in seeds]
    accuracies: dict[str, list[float]] = {choice: [] for choice in BATCHNORM_CHOICES}
    for choice, seed in progress(jobs, desc="BatchNorm, three ways", unit="run") if show_progress else jobs:
        accuracies[choice].append(run_frozen_batchnorm(choice, labels_per_class, seed).test_accuracy)
    return {choice: Cell(tuple(values)) for choice, values in accuracies.items()}


BATCHNORM_FILE = Path(__file__).with_name("checkpoints") / "batchnorm.json"


def save_batchnorm(table: dict[str, Cell], path: Path = BATCHNORM_FILE,
                   labels_per_class: int | str = BATCHNORM_LABELS) -> Path:
    accuracies = {choice: list(cell.accuracies) for choice, cell in table.items()}
    data = {"labels_per_class": labels_per_class, "accuracies": accuracies,
            "steps": STEPS, "torch_version": torch.__version__.split("+")[0]}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def load_batchnorm(path: Path = BATCHNORM_FILE) -> dict[str, Cell]:
    data = json.loads(path.read_text())
    return {choice: Cell(tuple(values)) for choice, values in data["accuracies"].items()}


# --- what the frozen features hold, depth by depth -------------------------------------------------


def _outputs_by_block(model: GlyphNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of every block of ``model.features`` (eval mode, no graph)."""
    model.eval()
    outputs, current = {}, images
    with torch.no_grad():
        for name, block in model.features.named_children():
            current = block(current)
            outputs[name] = current
    return outputs


RIDGE_PENALTIES = (0.01, 0.1, 1.0, 10.0, 100.0)


def _ridge_probe(train_x: torch.Tensor, train_y: torch.Tensor, penalty: float) -> Callable:
    """A linear classifier fitted exactly: ridge regression onto one-hot labels (features centred),
    solved in its dual form, which costs a solve of size (training images)^2 whatever the width."""
    mean = train_x.mean(dim=0)
    centred = train_x - mean
    targets = nn.functional.one_hot(train_y, 10).double()
    targets = targets - targets.mean(dim=0)
    gram = centred.double() @ centred.double().T
    dual = torch.linalg.solve(gram + penalty * torch.eye(len(gram), dtype=gram.dtype), targets)
    weight = centred.double().T @ dual
    return lambda x: ((x - mean).double() @ weight).argmax(dim=1)


def probe_depths(labels_per_class: int | str, seeds: Sequence[int],
                 weights: GlyphNet_Weights | None = GlyphNet_Weights.DEFAULT) -> dict[str, Cell]:
    """Linear probes: freeze the network up to a block, fit a linear classifier on that block's output.

    The classifier is ridge regression onto the one-hot labels, fitted exactly, its penalty chosen
    on the validation split among :data:`RIDGE_PENALTIES`; the figure is its test accuracy, one per
    seed. With ``weights=None`` the blocks keep their random initial weights: the control that
    says how much of a probe's accuracy the pretraining is responsible for.
    """
    preprocess = GlyphNet_Weights.DEFAULT.transforms()
    results: dict[str, list[float]] = {}
    with _small_model_settings():
        for seed in seeds:
            torch.manual_seed(seed)
            model = glyphnet(weights=weights, num_classes=10)
            data = target_splits(labels_per_class, seed)
            train, validation, test = (_outputs_by_block(model, preprocess(s.images))
                                       for s in (data.train, data.validation, data.test))
            for name in train:
                train_x, validation_x, test_x = (split[name].flatten(1) for split in (train, validation, test))

                def score(probe, x, labels):
                    return (probe(x) == labels).double().mean().item()

                probes = [_ridge_probe(train_x, data.train.labels, penalty) for penalty in RIDGE_PENALTIES]
                best = max(probes, key=lambda probe: score(probe, validation_x, data.validation.labels))
                results.setdefault(name, []).append(score(best, test_x, data.test.labels))
    return {name: Cell(tuple(values)) for name, values in results.items()}


def dead_units(model: GlyphNet, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per block: a mask of its channels (or hidden units) that are never positive on any of
    ``images`` (``True`` = dead). A unit that is zero for every input gives whatever comes after it
    nothing to work with, on any task; one that is silent on the target task only is *specific*."""
    masks = {}
    for name, output in _outputs_by_block(model, images).items():
        fires = (output > 0).flatten(2).any(dim=2) if output.dim() == 4 else output > 0
        masks[name] = ~fires.any(dim=0)
    return masks


def _gradual_unfreezing(model: GlyphNet, train: Split, validation: Split, seed: int, run: Run, steps: int):
    """The head on cached features first; then ``hidden``, ``conv3``, ``conv2``, ``conv1`` join one
    by one, each as a new parameter group of the same Adam with its own rate (1e-3 for the head down
    to 1e-4 for ``conv1``), so the blocks already training keep their Adam state."""
    head_steps = steps // 3
    accuracy = _head_on_cached_features(model, train, validation, seed, run, head_steps)
    best = (accuracy, copy.deepcopy(model.state_dict()))
    rates = dict(zip(BLOCK_NAMES, discriminative_learning_rates(len(BLOCK_NAMES), 1e-4, 1e-3), strict=True))
    optimizer = torch.optim.Adam([{"params": model.head.parameters(), "lr": rates["head"], "name": "head"}])
    stage_steps, offset = (steps - head_steps) // 4, head_steps
    for stage, name in enumerate(["hidden", "conv3", "conv2", "conv1"]):
        block = model.get_submodule(f"features.{name}")
        block.requires_grad_(True)
        optimizer.add_param_group({"params": list(block.parameters()), "lr": rates[name], "name": name})
        best = _fit(model, optimizer, train, validation, stage_steps, seed + 1 + stage, run,
                    step_offset=offset, best=best)
        offset += stage_steps
    model.load_state_dict(best[1])


# --- the curve -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """Test accuracy of one set-up at one label count, over the seeds."""

    accuracies: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def spread(self) -> float:
        """Standard deviation over the seeds."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    def __str__(self) -> str:
        return f"{self.mean:.1%} ± {self.spread:.1%}"


CUTS = (1, 2, 3)


@dataclass(frozen=True)
class Curve:
    """The learning curve: a :class:`Cell` per set-up and label count, and the cut point that
    validation chose for ``partly frozen`` at each label count (blocks frozen from the input)."""

    cells: dict[str, dict[int | str, Cell]]
    cuts: dict[int | str, int]
    seconds: float

    def table(self) -> str:
        return format_table(self.cells)


def choose_cut(labels_per_class: int | str, seeds: Sequence[int], cuts: Sequence[int] = CUTS,
               run: Callable = run_setup) -> tuple[int, dict[int, list[Run]]]:
    """Train ``partly frozen`` at every cut; the cut with the best mean *validation* accuracy wins."""
    runs = {cut: [run("partly frozen", labels_per_class, seed, cut=cut)[0] for seed in seeds] for cut in cuts}
    best = max(cuts, key=lambda cut: statistics.fmean(r.best_validation for r in runs[cut]))
    return best, runs


def learning_curve(setups: Sequence[str] = SETUPS, label_counts: Iterable[int | str] = LABEL_COUNTS,
                   seeds: Sequence[int] = range(5), show_progress: bool = True,
                   run: Callable = run_setup) -> Curve:
    """Test accuracy (mean and spread over ``seeds``) per set-up and label count."""
    started = time.perf_counter()
    label_counts, seeds = list(label_counts), list(seeds)
    others = [s for s in setups if s != "partly frozen"]
    jobs: list[tuple] = []
    for count in label_counts:
        jobs += [("cut", count, None)] if "partly frozen" in setups else []
        jobs += [(setup, count, seed) for setup in others for seed in seeds]
    accuracies: dict[str, dict[int | str, list[float]]] = {s: {c: [] for c in label_counts} for s in setups}
    cuts: dict[int | str, int] = {}
    for setup, count, seed in progress(jobs, desc="learning curve", unit="job") if show_progress else jobs:
        if setup == "cut":
            cuts[count], runs = choose_cut(count, seeds, run=run)
            accuracies["partly frozen"][count] = [r.test_accuracy for r in runs[cuts[count]]]
        else:
            accuracies[setup][count].append(run(setup, count, seed)[0].test_accuracy)
    cells = {s: {count: Cell(tuple(values)) for count, values in row.items()} for s, row in accuracies.items()}
    return Curve(cells, cuts, time.perf_counter() - started)


def format_table(table: dict[str, dict[int | str, Cell]]) -> str:
    counts = list(next(iter(table.values())))
    lines = [f"{'labels per digit':<20}" + "".join(f"{str(c):>16}" for c in counts)]
    for setup, row in table.items():
        lines.append(f"{setup:<20}" + "".join(f"{str(row[c]):>16}" for c in counts))
    return "\n".join(lines)


# --- what augmentation buys ------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureChange:
    """How far the backbone's features of a distorted copy are from those of the picture itself
    (``moved``), and how far the features of pictures of other digits are (``apart``), both
    relative to the length of the picture's own features, averaged over the pictures."""

    moved: float
    apart: float


def feature_change(weights: GlyphNet_Weights | None = GlyphNet_Weights.DEFAULT, labels_per_class: int | str = 10,
                   seed: int = 0) -> FeatureChange:
    """What a cache of features would get wrong under augmentation: the frozen backbone (eval mode)
    on the training pictures of one draw, and on one fresh distortion of each. ``weights=None``
    measures the same for random weights (``torch.manual_seed(seed)``), the control."""
    preprocess = GlyphNet_Weights.DEFAULT.transforms()
    split = target_splits(labels_per_class, seed).train
    pictures = preprocess(split.images)
    distorted = Augmentation(preprocess, seed=seed)(pictures)
    torch.manual_seed(seed)
    backbone = glyphnet(weights=weights, num_classes=10).features.eval()
    with torch.no_grad():
        cached, fresh = backbone(pictures), backbone(distorted)
    length = cached.norm(dim=1)
    other_digit = split.labels[:, None] != split.labels[None, :]
    apart = (torch.cdist(cached, cached) * other_digit).sum(dim=1) / other_digit.sum(dim=1)
    return FeatureChange(moved=((fresh - cached).norm(dim=1) / length).mean().item(),
                         apart=(apart / length).mean().item())


#: The set-ups and label counts of lesson 04's augmentation experiment.
AUGMENTATION_SETUPS = ("from scratch", "frozen backbone", "fine-tune, low lr")
AUGMENTATION_LABEL_COUNTS = (1, 3, 10)


@dataclass(frozen=True)
class AugmentationTable:
    """Test accuracy with augmentation (a :class:`Cell` per set-up and label count) and, per set-up,
    the mean number of pictures its runs sent through the backbone with and without augmentation
    (at one label per digit). The figures *without* augmentation are the learning curve's."""

    cells: dict[str, dict[int | str, Cell]]
    backbone_pictures: dict[str, dict[str, int]]
    seconds: float

    def table(self, curve: Curve) -> str:
        """Mean ± spread without and with augmentation, and the gain, per set-up and label count."""
        counts = list(next(iter(self.cells.values())))
        lines = [f"{'labels per digit':<36}" + "".join(f"{str(c):>16}" for c in counts)]
        for setup, row in self.cells.items():
            lines.append(f"{setup + ', as in the curve':<36}" + "".join(f"{str(curve.cells[setup][c]):>16}"
                                                                       for c in counts))
            lines.append(f"{setup + ', augmented':<36}" + "".join(f"{str(row[c]):>16}" for c in counts))
            lines.append(f"{'  gain':<36}" + "".join(f"{row[c].mean - curve.cells[setup][c].mean:>+16.1%}"
                                                     for c in counts))
        return "\n".join(lines)


def augmentation_table(setups: Sequence[str] = AUGMENTATION_SETUPS,
                       label_counts: Iterable[int | str] = AUGMENTATION_LABEL_COUNTS,
                       seeds: Sequence[int] = range(5), show_progress: bool = True) -> AugmentationTable:
    """Every set-up, label count and seed of the learning curve again, with augmentation."""
    started = time.perf_counter()
    label_counts, seeds = list(label_counts), list(seeds)
    jobs = [(setup, count, seed) for setup in setups for count in label_counts for seed in seeds]
    accuracies: dict[str, dict[int | str, list[float]]] = {s: {c: [] for c in label_counts} for s in setups}
    pictures: dict[str, dict[str, list[int]]] = {s: {"cached or plain": [], "augmented": []} for s in setups}
    for setup, count, seed in progress(jobs, desc="augmentation", unit="run") if show_progress else jobs:
        run, _ = run_setup(setup, count, seed, augment=True)
        accuracies[setup][count].append(run.test_accuracy)
        if count == 1:
            pictures[setup]["augmented"].append(run.backbone_pictures)
            pictures[setup]["cached or plain"].append(run_setup(setup, count, seed)[0].backbone_pictures)
    cells = {s: {c: Cell(tuple(values)) for c, values in row.items()} for s, row in accuracies.items()}
    means = {s: {k: round(statistics.fmean(v)) for k, v in row.items() if v} for s, row in pictures.items()}
    return AugmentationTable(cells, means, time.perf_counter() - started)


AUGMENTATION_FILE = Path(__file__).with_name("checkpoints") / "augmentation.json"


def save_augmentation(table: AugmentationTable, path: Path = AUGMENTATION_FILE) -> Path:
    data = {
        "accuracies": {s: {str(c): list(cell.accuracies) for c, cell in row.items()} for s, row in table.cells.items()},
        "backbone_pictures_at_1_label": table.backbone_pictures,
        "seconds": round(table.seconds, 1),
        "steps": STEPS,
        "torch_version": torch.__version__.split("+")[0],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def load_augmentation(path: Path = AUGMENTATION_FILE) -> AugmentationTable:
    data = json.loads(path.read_text())
    cells = {s: {_count(c): Cell(tuple(values)) for c, values in row.items()} for s, row in data["accuracies"].items()}
    return AugmentationTable(cells, data["backbone_pictures_at_1_label"], data["seconds"])


# --- the stored curve that lesson 04 plots ----------------------------------------------------------

LEARNING_CURVE_FILE = Path(__file__).with_name("checkpoints") / "learning-curve.json"


def save_curve(curve: Curve, path: Path = LEARNING_CURVE_FILE) -> Path:
    data = {
        "label_counts": [str(c) for c in next(iter(curve.cells.values()))],
        "accuracies": {s: {str(c): list(cell.accuracies) for c, cell in row.items()} for s, row in curve.cells.items()},
        "cuts": {str(c): cut for c, cut in curve.cuts.items()},
        "seconds": round(curve.seconds, 1),
        "steps": STEPS,
        "torch_version": torch.__version__.split("+")[0],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def _count(text: str) -> int | str:
    return text if text == "all" else int(text)


def load_curve(path: Path = LEARNING_CURVE_FILE) -> Curve:
    data = json.loads(path.read_text())
    cells = {s: {_count(c): Cell(tuple(values)) for c, values in row.items()} for s, row in data["accuracies"].items()}
    return Curve(cells, {_count(c): cut for c, cut in data["cuts"].items()}, data["seconds"])

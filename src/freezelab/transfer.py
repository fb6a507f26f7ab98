"""Helpers for the later lessons (04-06): reusing frozen features, measuring, and the pitfalls.

Everything here is small on purpose: each function is one idea a lesson shows, so that the
notebooks can call it by a name that says what it does and stay readable.

- Choosing what trains: :func:`train_only`, fastai-style :func:`freeze_to`.
- BatchNorm in a frozen backbone: :func:`set_frozen_batchnorm_eval`, :func:`train_mode`.
- What a backward pass and an optimizer hold: :func:`count_backward_nodes`,
  :func:`count_gradients`, :func:`count_optimizer_state`, all at once :func:`training_step_census`.
- Caching the output of a frozen backbone: :func:`cache_features`.
- Per-block learning rates: :func:`discriminative_param_groups`.
- Digits as small RGB pictures for torchvision models: :func:`as_rgb_images`.
- Pictures: :func:`layer_summary` and :func:`plot_layer_freeze_map` (freeze maps that name the
  layer types), :func:`plot_setup_comparison` (learning curves, accuracy and time of several
  set-ups), :func:`plot_grouped_bars`, :func:`recolour_bars`, :func:`plot_unfreezing_schedule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle
from statistics import mean, median

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from freezelab.params import BlockRow, BlockSummary, block_summary, trainable_parameters
from freezelab.plots import FROZEN_COLOUR, TRAINABLE_COLOUR, plot_bars, plot_curves, plot_freeze_map
from freezelab.timing import progress
from freezelab.training import History

#: Every BatchNorm flavour (1d, 2d, 3d, SyncBatchNorm, lazy ones) derives from this class.
BATCHNORM_TYPES = (nn.modules.batchnorm._BatchNorm,)

#: Colours for comparisons. No blue or orange: in the course those mean frozen and trainable.
COMPARISON_COLOURS = ("#76b7b2", "#e15759", "#59a14f", "#b07aa1", "#9c755f", "#edc948")


# --- choosing what trains ----------------------------------------------------------------------


def train_only(model: nn.Module, names: Iterable[str]) -> nn.Module:
    """Freeze all of ``model``, then make the named submodules (``"layer4"``, ``"fc"``) trainable.

    Returns the model, so the call can be chained.
    """
    model.requires_grad_(False)
    for name in names:
        model.get_submodule(name).requires_grad_(True)
    return model


def freeze_to(blocks: Sequence[nn.Module], n: int) -> None:
    """Freeze ``blocks[:n]`` and unfreeze ``blocks[n:]``, as fastai's ``Learner.freeze_to(n)`` does.

    ``blocks`` are listed from the input to the output. A negative ``n`` counts from the end:
    ``freeze_to(blocks, -1)`` leaves only the last block trainable, ``freeze_to(blocks, -2)`` the
    last two, and ``freeze_to(blocks, 0)`` unfreezes everything.
    """
    cut = n if n >= 0 else len(blocks) + n
    for index, block in enumerate(blocks):
        block.requires_grad_(index >= cut)


# --- BatchNorm in a frozen backbone --------------------------------------------------------------


def frozen_batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The BatchNorm layers of ``model`` whose parameters are all frozen, with their names.

    A BatchNorm layer created with ``affine=False`` has no parameters at all; it counts as
    frozen, since nothing in it is trained.
    """
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, BATCHNORM_TYPES) and not any(p.requires_grad for p in module.parameters())
    ]


def set_frozen_batchnorm_eval(model: nn.Module) -> list[str]:
    """Put every BatchNorm layer with frozen parameters into eval mode; return their names.

    In train mode a BatchNorm layer normalises with the statistics of the current batch and
    updates its running mean and variance, whatever ``requires_grad`` says. In eval mode it
    uses (and keeps) the running statistics it has. ``model.train()`` switches every layer back
    to train mode, so call this again after each ``model.train()``, or use :func:`train_mode`.
    """
    layers = frozen_batchnorm_layers(model)
    for _, module in layers:
        module.eval()
    return [name for name, _ in layers]


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, except that BatchNorm layers with frozen parameters stay in eval mode."""
    model.train()
    set_frozen_batchnorm_eval(model)
    return model


# --- what a backward pass and an optimizer hold --------------------------------------------------


def count_backward_nodes(output: torch.Tensor) -> int:
    """How many nodes the backward pass from ``output`` will visit.

    Walks the autograd graph from ``output.grad_fn`` through ``next_functions``. Each node is one
    recorded operation to differentiate (a convolution, a ReLU ...) or one ``AccumulateGrad``,
    the node that stores a parameter's gradient in ``.grad``. A tensor without ``grad_fn`` has
    an empty graph: 0.
    """
    seen: set = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return len(seen)


@dataclass(frozen=True)
class TensorTally:
    """A number of tensors, the numbers they hold, and their size in bytes."""

    tensors: int
    numbers: int
    bytes: int

    @property
    def megabytes(self) -> float:
        return self.bytes / 2**20

    def __str__(self) -> str:
        return f"{self.tensors:,} tensors, {self.numbers:,} numbers, {self.megabytes:.2f} MiB"


def _tally(tensors: Iterable[torch.Tensor]) -> TensorTally:
    count = numbers = size = 0
    for tensor in tensors:
        count += 1
        numbers += tensor.numel()
        size += tensor.numel() * tensor.element_size()
    return TensorTally(count, numbers, size)


def count_gradients(model: nn.Module) -> TensorTally:
    """The gradient tensors currently stored in ``.grad`` of the parameters of ``model``."""
    return _tally(p.grad for p in model.parameters() if p.grad is not None)


def count_optimizer_state(optimizer: torch.optim.Optimizer) -> TensorTally:
    """The tensors an optimizer keeps between steps (Adam: ``exp_avg``, ``exp_avg_sq``, ``step``).

    ``optimizer.state`` holds one entry per parameter the optimizer keeps state for: most
    optimizers create it at a parameter's first update, Adagrad for every parameter when it is
    built.
    """
    return _tally(
        value for state in optimizer.state.values() for value in state.values() if isinstance(value, torch.Tensor)
    )


@dataclass(frozen=True)
class StepCensus:
    """What one training step (forward, backward, Adam step) of a model computes and keeps."""

    forward_flops: int
    backward_flops: int
    backward_nodes: int
    gradients: TensorTally
    optimizer_state: TensorTally


def training_step_census(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> StepCensus:
    """Run one training step with Adam over the trainable parameters and count its work.

    ``FlopCounterMode`` counts the floating-point operations of convolutions and matrix
    products in the forward and the backward pass; the graph size, the gradients and Adam's
    state are counted with :func:`count_backward_nodes`, :func:`count_gradients` and
    :func:`count_optimizer_state`. It works on the ``meta`` device, where nothing is computed,
    so the census of a big model takes milliseconds. Stale gradients are cleared first.
    """
    from torch.utils.flop_counter import FlopCounterMode

    model.zero_grad(set_to_none=True)
    optimizer = torch.optim.Adam(trainable_parameters(model), lr=1e-3)
    with FlopCounterMode(display=False) as counter:
        loss = nn.functional.cross_entropy(model(inputs), targets)
        forward_flops = counter.get_total_flops()
        nodes = count_backward_nodes(loss)
        loss.backward()
        backward_flops = counter.get_total_flops() - forward_flops
    optimizer.step()
    return StepCensus(
        forward_flops,
        backward_flops,
        nodes,
        count_gradients(model),
        count_optimizer_state(optimizer),
    )


# --- caching the output of a frozen backbone -----------------------------------------------------


def cache_features(
    backbone: nn.Module,
    loader: DataLoader,
    device: torch.device | str = "cpu",
    description: str = "caching features",
) -> TensorDataset:
    """Run ``backbone`` once over ``loader`` and keep its outputs with their labels.

    The backbone is put in eval mode (BatchNorm uses its running statistics, dropout is off), so
    every image gets the same features it would get in any later epoch. ``torch.no_grad()``
    records no graph. (Under ``torch.inference_mode()`` the cached tensors would be *inference
    tensors*, which autograd refuses to save for the head's backward pass.) The features are
    stored on the CPU, like the other data sets of the course.
    """
    was_training = backbone.training
    backbone.eval()
    features, labels = [], []
    with torch.no_grad():
        for images, targets in progress(loader, desc=description, unit="batch", leave=False):
            features.append(backbone(images.to(device)).cpu())
            labels.append(targets)
    backbone.train(was_training)
    return TensorDataset(torch.cat(features), torch.cat(labels))


# --- per-block learning rates --------------------------------------------------------------------


def discriminative_learning_rates(n_blocks: int, lr_min: float, lr_max: float) -> list[float]:
    """``n_blocks`` learning rates rising geometrically from ``lr_min`` (input) to ``lr_max``.

    The same spacing as fastai's ``lr_max=slice(lr_min, lr_max)``: each block gets a constant
    factor more than the block before it.
    """
    if n_blocks == 1:
        return [lr_max]
    step = (lr_max / lr_min) ** (1 / (n_blocks - 1))
    return [lr_min * step**index for index in range(n_blocks)]


def discriminative_param_groups(
    blocks: Sequence[nn.Module], lr_min: float, lr_max: float, names: Sequence[str] | None = None
) -> list[dict]:
    """Optimizer parameter groups, one per block, with learning rates from input to output.

    Blocks are listed from the input to the output; the first gets ``lr_min``, the last
    ``lr_max``. Only trainable parameters go into a group, and a block with none is left out
    (an optimizer has nothing to do for it). Each group carries a ``"name"`` entry, which the
    optimizer keeps in ``optimizer.param_groups`` for display.
    """
    names = list(names) if names is not None else [f"block {i}" for i in range(len(blocks))]
    groups = []
    for name, block, lr in zip(names, blocks, discriminative_learning_rates(len(blocks), lr_min, lr_max), strict=True):
        params = trainable_parameters(block)
        if params:
            groups.append({"params": params, "lr": lr, "name": name})
    return groups


# --- data -----------------------------------------------------------------------------------------


def as_rgb_images(dataset: TensorDataset, size: int = 32) -> TensorDataset:
    """The 8x8 grey digits resized to ``size`` x ``size`` with three identical colour channels.

    torchvision's image models expect three channels and shrink the picture 32-fold, so 32x32
    is about the smallest input a ResNet handles sensibly.
    """
    images, labels = dataset.tensors
    resized = nn.functional.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    return TensorDataset(resized.expand(-1, 3, -1, -1).contiguous(), labels)


# --- pictures -------------------------------------------------------------------------------------


def layer_summary(model: nn.Module, depth: int = 2) -> BlockSummary:
    """:func:`~freezelab.params.block_summary` with the layer type in each name (``features.0
    Conv2d``), so that a freeze map of a small network says which layer is which."""
    return BlockSummary(
        BlockRow(f"{row.name}\n{row.kind}", row.kind, row.counts) for row in block_summary(model, depth=depth)
    )


def plot_layer_freeze_map(model: nn.Module, title: str | None = None, depth: int = 2):
    """A wide :func:`~freezelab.plots.plot_freeze_map` of every layer, labelled with its type."""
    summary = layer_summary(model, depth=depth)
    _, ax = plt.subplots(figsize=(1.35 * len(summary), 2.4), layout="constrained")
    return plot_freeze_map(summary, title=title, ax=ax)


@dataclass(frozen=True)
class SetupSummary:
    """Per set-up over the seeds: mean accuracy curve and final accuracy, median seconds per run."""

    curves: dict[str, list[float]]
    final_accuracy: dict[str, float]
    seconds: dict[str, float]


def summarise_setups(histories: Mapping[str, Sequence[History]]) -> SetupSummary:
    """Summarise the runs (one :class:`~freezelab.training.History` per seed) of each set-up.

    Accuracies are means over the seeds; wall times are medians, so that one run slowed down by
    something else on the machine does not decide the bar.
    """
    return SetupSummary(
        curves={
            name: [mean(epoch) for epoch in zip(*(h.test_accuracy for h in runs), strict=True)]
            for name, runs in histories.items()
        },
        final_accuracy={name: mean(h.test_accuracy[-1] for h in runs) for name, runs in histories.items()},
        seconds={name: median(h.seconds for h in runs) for name, runs in histories.items()},
    )


def plot_setup_comparison(
    histories: Mapping[str, Sequence[History]],
    step_seconds: Mapping[str, float] | None = None,
    title: str = "",
) -> SetupSummary:
    """Learning curves, final test accuracy and time of several set-ups, side by side.

    The right panel shows ``step_seconds`` (one training step per set-up, e.g. the median of
    :func:`~freezelab.timing.time_training_step`) when given, else the median wall time of the
    runs. Each set-up keeps one colour in all three panels (none of them the course's frozen blue
    or trainable orange). Returns the numbers that were plotted.
    """
    summary = summarise_setups(histories)
    _, (left, middle, right) = plt.subplots(
        1, 3, figsize=(15, 3.8), layout="constrained", gridspec_kw={"width_ratios": [1.4, 1, 1]}
    )
    plot_curves(summary.curves, ylabel="test accuracy (mean of seeds)", ax=left, title=title)
    colours = [COMPARISON_COLOURS[i % len(COMPARISON_COLOURS)] for i in range(len(summary.curves))]
    for line, colour in zip(left.get_lines(), colours, strict=True):
        line.set_color(colour)
    left.legend(fontsize=8)
    plot_bars(
        summary.final_accuracy,
        ylabel="final test accuracy",
        value_format="{:.1%}",
        ax=middle,
        title="after the last epoch",
    )
    if step_seconds is None:
        plot_bars(
            summary.seconds,
            ylabel="seconds per run (median)",
            value_format="{:.2f} s",
            ax=right,
            title="wall time: training + a test per epoch",
        )
    else:
        plot_bars(
            {name: step_seconds[name] * 1e3 for name in summary.curves},
            ylabel="ms per training step (median)",
            value_format="{:.2f} ms",
            ax=right,
            title="time of one training step",
        )
    for ax in (middle, right):
        recolour_bars(ax, colours)
        ax.tick_params(axis="x", labelrotation=15)
    return summary


def recolour_bars(ax, colours: Sequence[str] = COMPARISON_COLOURS) -> None:
    """Give the bars of ``ax`` (drawn by :func:`~freezelab.plots.plot_bars`) the given colours in
    turn (repeating them), for comparisons whose bars are not about frozen versus trainable."""
    for bar, colour in zip(ax.patches, cycle(colours), strict=False):
        bar.set_color(colour)


def plot_unfreezing_schedule(schedule: Sequence[Sequence[bool]], block_names: Sequence[str], ax=None):
    """A grid of stages (rows, first stage on top) by blocks (columns, input on the left), each
    cell coloured trainable or frozen: the staircase of gradual unfreezing."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.9 * len(block_names) + 1.5, 0.45 * len(schedule) + 1.0), layout="constrained")
    for row, trainable in enumerate(schedule):
        for column, flag in enumerate(trainable):
            ax.add_patch(
                plt.Rectangle(
                    (column, row),
                    0.95,
                    0.9,
                    edgecolor="white",
                    facecolor=TRAINABLE_COLOUR if flag else FROZEN_COLOUR,
                )
            )
    ax.set_xlim(0, len(block_names))
    ax.set_ylim(len(schedule), 0)
    ax.set_xticks([c + 0.475 for c in range(len(block_names))], block_names, fontsize=8)
    ax.set_yticks(
        [r + 0.45 for r in range(len(schedule))],
        [f"stage {r + 1}" for r in range(len(schedule))],
        fontsize=8,
    )
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (FROZEN_COLOUR, TRAINABLE_COLOUR)]
    ax.legend(
        handles,
        ["frozen", "trainable"],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        ncol=2,
        frameon=False,
        fontsize=8,
    )
    ax.set_title("input → output: what trains at each stage", fontsize=10)
    return ax


def plot_grouped_bars(
    series: Mapping[str, Mapping[str, float]],
    ylabel: str,
    title: str | None = None,
    value_format: str = "{:.3g}",
    ax=None,
):
    """Bars side by side: one colour per series, one group per category, values written on top.

    ``series`` maps a series name (``"measured time"``) to its values per category
    (``{"fc only": 5.2, ...}``); every series should name the same categories.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.4), layout="constrained")
    categories = list(next(iter(series.values())))
    width = 0.8 / len(series)
    for index, (name, values) in enumerate(series.items()):
        positions = [c + (index - (len(series) - 1) / 2) * width for c in range(len(categories))]
        bars = ax.bar(
            positions,
            [values[c] for c in categories],
            width=width,
            label=name,
            color=COMPARISON_COLOURS[index % len(COMPARISON_COLOURS)],
        )
        for bar, category in zip(bars, categories, strict=True):
            ax.annotate(
                value_format.format(values[category]),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(range(len(categories)), categories)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.margins(y=0.15)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# --- what the backward pass keeps in memory ---------------------------------------------------------


@dataclass(frozen=True)
class SavedTensors:
    """The tensors autograd saved during a forward pass for the backward pass, split into
    activations (made by the forward pass) and parameters (weights that were saved, not copied)."""

    activations: TensorTally
    parameters: TensorTally


def saved_tensors(model: nn.Module, inputs: torch.Tensor) -> SavedTensors:
    """Run ``model(inputs)`` and tally what autograd saves for backward, with saved-tensor hooks.

    ``torch.autograd.graph.saved_tensors_hooks`` calls its pack hook for every tensor an
    operation saves for its backward (a convolution saves its input to compute its weight's
    gradient, a ReLU its output ...). Each storage counts once. An operation none of whose
    inputs needs a gradient records nothing, so a frozen prefix saves nothing at all.
    """
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, torch.Tensor] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        seen.setdefault(tensor.untyped_storage().data_ptr(), tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(inputs)
    activations = [t for key, t in seen.items() if key not in parameter_storages]
    parameters = [t for key, t in seen.items() if key in parameter_storages]
    return SavedTensors(_storage_tally(activations), _storage_tally(parameters))


def _storage_tally(tensors: Iterable[torch.Tensor]) -> TensorTally:
    count = numbers = size = 0
    for tensor in tensors:
        count += 1
        size += tensor.untyped_storage().nbytes()
        numbers += tensor.untyped_storage().nbytes() // tensor.element_size()
    return TensorTally(count, numbers, size)

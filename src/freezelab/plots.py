"""The pictures of the course: which blocks are frozen, curves, and bar comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator
from torch import nn

from freezelab.params import BlockSummary, block_summary

FROZEN_COLOUR = "#4a90c2"
TRAINABLE_COLOUR = "#f28e2b"
EMPTY_COLOUR = "#d9d9d9"


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _summary(model_or_summary: nn.Module | BlockSummary, depth: int) -> BlockSummary:
    if isinstance(model_or_summary, BlockSummary):
        return model_or_summary
    return block_summary(model_or_summary, depth=depth)


def plot_freeze_map(model_or_summary: nn.Module | BlockSummary, title: str | None = None,
                    depth: int = 1, ax: Axes | None = None) -> Axes:
    """Draw the model as a row of blocks, input on the left, each coloured frozen or trainable.

    A block with frozen and trainable parameters is split in proportion; blocks without
    parameters (ReLU, pooling) are grey.
    """
    rows = [row for row in _summary(model_or_summary, depth) if row.name != "(own)"]
    ax = _axes(ax, (max(6.0, 1.1 * len(rows)), 2.2))
    for index, row in enumerate(rows):
        total = row.counts.total
        frozen_share = row.counts.frozen / total if total else 0.0
        height = 1.0
        if total == 0:
            ax.add_patch(FancyBboxPatch((index + 0.05, 0), 0.9, height, boxstyle="round,pad=0.02",
                                        facecolor=EMPTY_COLOUR, edgecolor="black", linewidth=0.6))
        else:
            # Frozen share at the bottom, trainable share on top; an empty share draws nothing.
            for bottom, share, colour in ((0.0, frozen_share, FROZEN_COLOUR),
                                          (frozen_share, 1 - frozen_share, TRAINABLE_COLOUR)):
                if share > 0:
                    ax.add_patch(FancyBboxPatch((index + 0.05, height * bottom), 0.9, height * share,
                                                boxstyle="square,pad=0", facecolor=colour,
                                                edgecolor="none"))
            ax.add_patch(FancyBboxPatch((index + 0.05, 0), 0.9, height, boxstyle="round,pad=0.02",
                                        facecolor="none", edgecolor="black", linewidth=0.6))
        ax.text(index + 0.5, -0.12, row.name, ha="center", va="top", rotation=30, fontsize=8)
        ax.text(index + 0.5, 0.5, row.status.replace(" ", "\n") if total else "-",
                ha="center", va="center", fontsize=7, color="black")
    ax.set_xlim(0, len(rows))
    ax.set_ylim(-1.0, 1.1)
    ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (FROZEN_COLOUR, TRAINABLE_COLOUR, EMPTY_COLOUR)]
    ax.legend(handles, ["frozen", "trainable", "no parameters"], loc="lower center",
              ncol=3, frameon=False, fontsize=8)
    ax.set_title(title or "input → output: which blocks train", fontsize=10)
    return ax


def plot_parameter_split(model_or_summary: nn.Module | BlockSummary, title: str | None = None,
                         depth: int = 1, log: bool = False, ax: Axes | None = None) -> Axes:
    """Horizontal stacked bars: frozen and trainable parameters in each block."""
    rows = [row for row in _summary(model_or_summary, depth) if row.counts.total]
    ax = _axes(ax, (7.0, 0.35 * len(rows) + 1.2))
    names = [row.name for row in rows][::-1]
    frozen = [row.counts.frozen for row in rows][::-1]
    trainable = [row.counts.trainable for row in rows][::-1]
    ax.barh(names, frozen, color=FROZEN_COLOUR, label="frozen")
    ax.barh(names, trainable, left=frozen, color=TRAINABLE_COLOUR, label="trainable")
    if log:
        ax.set_xscale("log")
        ax.set_xlim(left=1)
    ax.set_xlabel("parameters" + (" (log scale)" if log else ""))
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "parameters per block", fontsize=10)
    return ax


def plot_curves(curves: Mapping[str, Sequence[float]], ylabel: str, xlabel: str = "epoch",
                title: str | None = None, ax: Axes | None = None) -> Axes:
    """One line per named curve (learning curves of several training set-ups)."""
    ax = _axes(ax, (6.0, 3.5))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


NEUTRAL_COLOURS = ("#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948")


def plot_bars(values: Mapping[str, float], ylabel: str, title: str | None = None,
              value_format: str = "{:.3g}", colors: Sequence[str] | None = None,
              ax: Axes | None = None) -> Axes:
    """Vertical bars with their value written on top (timings, accuracies).

    Bars are neutral colours unless ``colors`` is given: the course keeps blue for frozen and
    orange for trainable, so only a caller who knows what each bar means should use them.
    """
    ax = _axes(ax, (max(4.0, 1.4 * len(values)), 3.2))
    names = list(values)
    palette = list(colors) if colors is not None else \
        [NEUTRAL_COLOURS[index % len(NEUTRAL_COLOURS)] for index in range(len(names))]
    bars = ax.bar(names, [values[name] for name in names], color=palette)
    for bar, name in zip(bars, names, strict=True):
        ax.annotate(value_format.format(values[name]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.margins(y=0.15)
    return ax

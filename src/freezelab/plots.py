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


def _block_widths(totals: Sequence[int], proportional: bool, empty_width: float = 0.35,
                  min_width: float = 0.08) -> list[float]:
    """Widths of the blocks of a freeze map: all 1, or in proportion to their parameters."""
    if not proportional:
        return [1.0] * len(totals)
    room = len(totals) - empty_width * sum(1 for t in totals if not t)
    everything = sum(totals) or 1
    return [max(min_width, room * t / everything) if t else empty_width for t in totals]


def plot_freeze_map(model_or_summary: nn.Module | BlockSummary, title: str | None = None,
                    depth: int = 1, ax: Axes | None = None, proportional: bool = False) -> Axes:
    """Draw the model as a row of blocks, input on the left, each coloured frozen or trainable.

    A block with frozen and trainable parameters is split in proportion; blocks without
    parameters (ReLU, pooling) are grey. With ``proportional=True`` each block is as wide as its
    share of the parameters, so "4 of 11 blocks frozen" and "0.7% of the parameters frozen" look
    different at a glance; every block is labelled with its share.
    """
    rows = [row for row in _summary(model_or_summary, depth) if row.name != "(own)"]
    ax = _axes(ax, (max(6.0, 1.1 * len(rows)), 2.2))
    widths = _block_widths([row.counts.total for row in rows], proportional)
    everything = sum(row.counts.total for row in rows) or 1
    left = 0.0
    for index, (row, width) in enumerate(zip(rows, widths, strict=True)):
        total = row.counts.total
        frozen_share = row.counts.frozen / total if total else 0.0
        height = 1.0
        x, inner = left + 0.05 * min(width, 1.0), width - 0.1 * min(width, 1.0)
        if total == 0:
            ax.add_patch(FancyBboxPatch((x, 0), inner, height, boxstyle="round,pad=0.02",
                                        facecolor=EMPTY_COLOUR, edgecolor="black", linewidth=0.6))
        else:
            # Frozen share at the bottom, trainable share on top; an empty share draws nothing.
            for bottom, share, colour in ((0.0, frozen_share, FROZEN_COLOUR),
                                          (frozen_share, 1 - frozen_share, TRAINABLE_COLOUR)):
                if share > 0:
                    ax.add_patch(FancyBboxPatch((x, height * bottom), inner, height * share,
                                                boxstyle="square,pad=0", facecolor=colour,
                                                edgecolor="none"))
            ax.add_patch(FancyBboxPatch((x, 0), inner, height, boxstyle="round,pad=0.02",
                                        facecolor="none", edgecolor="black", linewidth=0.6))
        if proportional:  # upright labels; narrow neighbours staggered; slivers left unlabelled
            narrow = width < 0.9
            if width >= 0.3 or index == len(rows) - 1:
                ax.text(left + width / 2, -0.08 - (0.42 * (index % 2) if narrow else 0.0),
                        f"{row.name}\n{total / everything:.1%}", ha="center", va="top", fontsize=7)
        else:
            ax.text(left + width / 2, -0.12, row.name, ha="center", va="top", rotation=30, fontsize=8)
        if width >= 0.6:
            ax.text(left + width / 2, 0.5, row.status.replace(" ", "\n") if total else "-",
                    ha="center", va="center", fontsize=7, color="black")
        left += width
    ax.set_xlim(0, left)
    ax.set_ylim(-1.0, 1.1)
    ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (FROZEN_COLOUR, TRAINABLE_COLOUR, EMPTY_COLOUR)]
    if proportional:
        ax.legend(handles, ["frozen", "trainable", "no parameters"], loc="center left",
                  bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
    else:
        ax.legend(handles, ["frozen", "trainable", "no parameters"], loc="lower center",
                  ncol=3, frameon=False, fontsize=8)
    default = "input → output: which blocks train"
    if proportional:
        with_parameters = [row for row in rows if row.counts.total]
        frozen_blocks = sum(1 for row in with_parameters if row.counts.trainable == 0)
        trainable_share = sum(row.counts.trainable for row in rows) / everything
        default += " (widths: share of the parameters)"
        ax.text(0.0, 1.02, f"{frozen_blocks} of {len(with_parameters)} blocks frozen, {trainable_share:.1%} of the "
                "parameters still training", transform=ax.transAxes, fontsize=8, ha="left", va="bottom")
    ax.set_title(title or default, fontsize=10, pad=14 if proportional else None)
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


def plot_speedups(speedups: Mapping[str, Sequence[float]], predicted: Mapping[str, float] | None = None,
                  title: str | None = None, ax: Axes | None = None) -> Axes:
    """Measured speed-ups as bars at their median over the rounds, with every round drawn as a dot
    and a line from the slowest to the fastest round (the spread), and, when given, the speed-up the
    arithmetic predicts as a hatched bar beside each one."""
    ax = _axes(ax, (max(5.0, 1.8 * len(speedups)), 3.4))
    names = list(speedups)
    width = 0.38 if predicted else 0.6
    for index, name in enumerate(names):
        ratios = sorted(speedups[name])
        middle = ratios[len(ratios) // 2] if len(ratios) % 2 else (ratios[len(ratios) // 2 - 1]
                                                                    + ratios[len(ratios) // 2]) / 2
        x = index - (width / 2 if predicted else 0)
        ax.bar(x, middle, width=width, color=NEUTRAL_COLOURS[0], label="measured (median of rounds)" if index == 0
               else None)
        ax.vlines(x, ratios[0], ratios[-1], color="black", linewidth=1.2,
                  label="slowest to fastest round" if index == 0 else None)
        ax.plot([x] * len(ratios), ratios, "o", color="black", markersize=3)
        ax.annotate(f"x{middle:.2f}", (x, ratios[-1]), xytext=(0, 3), textcoords="offset points",
                    ha="center", va="bottom", fontsize=8)
        if predicted:
            ax.bar(index + width / 2, predicted[name], width=width, color="white", edgecolor=NEUTRAL_COLOURS[0],
                   hatch="//", label="arithmetic (FLOPs)" if index == 0 else None)
            ax.annotate(f"x{predicted[name]:.2f}", (index + width / 2, predicted[name]), xytext=(0, 3),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("speed-up over the reference")
    ax.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
    ax.legend(fontsize=8)
    ax.margins(y=0.2)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


#: Colours for the set-ups of a comparison. No blue or orange: those mean frozen and trainable.
SETUP_COLOURS = ("#76b7b2", "#e15759", "#59a14f", "#b07aa1", "#9c755f", "#edc948")


def plot_learning_curve(cells: Mapping[str, Mapping[object, object]], title: str | None = None,
                        ax: Axes | None = None) -> Axes:
    """Test accuracy against labels per class: one line per set-up at the mean over the seeds, a
    band of one standard deviation around it, and every seed as a faint dot.

    ``cells[setup][label_count]`` has ``.mean``, ``.spread`` and ``.accuracies`` (a
    :class:`freezelab.learning_curve.Cell`). Label counts are spaced evenly, in the given order.
    """
    ax = _axes(ax, (8.0, 4.2))
    counts = list(next(iter(cells.values())))
    positions = range(len(counts))
    for index, (setup, row) in enumerate(cells.items()):
        colour = SETUP_COLOURS[index % len(SETUP_COLOURS)]
        means = [row[c].mean for c in counts]
        spreads = [row[c].spread for c in counts]
        offset = (index - (len(cells) - 1) / 2) * 0.04
        ax.plot([p + offset for p in positions], means, marker="o", markersize=4, color=colour, label=setup)
        ax.fill_between([p + offset for p in positions], [m - s for m, s in zip(means, spreads, strict=True)],
                        [m + s for m, s in zip(means, spreads, strict=True)], color=colour, alpha=0.15)
        for position, count in zip(positions, counts, strict=True):
            seeds = row[count].accuracies
            ax.plot([position + offset] * len(seeds), seeds, ".", color=colour, alpha=0.35, markersize=4)
    ax.set_xticks(list(positions), [str(c) for c in counts])
    ax.set_xlabel("labelled training images per digit")
    ax.set_ylabel("test accuracy")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "learning curve: mean ± one standard deviation over the seeds, each seed a dot",
                 fontsize=10)
    return ax

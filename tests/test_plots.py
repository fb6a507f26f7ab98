"""Tests for freezelab.plots: the pictures show what the model really has frozen."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import to_hex

from freezelab.models import build_model
from freezelab.params import BlockSummary, freeze
from freezelab.plots import (
    FROZEN_COLOUR,
    TRAINABLE_COLOUR,
    plot_bars,
    plot_curves,
    plot_freeze_map,
    plot_parameter_split,
)


def _resnet_with_trainable_head():
    model = build_model("resnet18")
    freeze(model)
    model.fc.requires_grad_(True)
    return model


def test_freeze_map_colours_each_block_by_its_state():
    """Does the freeze map label every block and colour frozen and trainable blocks differently?"""
    ax = plot_freeze_map(_resnet_with_trainable_head())
    labels = [text.get_text() for text in ax.texts]
    assert {"conv1", "layer1", "layer4", "fc"} <= set(labels)
    faces = [to_hex(patch.get_facecolor()) for patch in ax.patches if patch.get_facecolor()[3] > 0]
    assert faces.count(TRAINABLE_COLOUR) == 1  # only fc
    assert faces.count(FROZEN_COLOUR) == 6  # conv1, bn1, layer1..layer4


def test_parameter_split_bars_match_the_counts():
    """Do the stacked bars' widths equal each block's frozen and trainable counts?"""
    model = _resnet_with_trainable_head()
    ax = plot_parameter_split(model, log=True)
    widths = {}
    for container, label in zip(ax.containers, ["frozen", "trainable"], strict=True):
        for bar, tick in zip(container, ax.get_yticklabels(), strict=True):
            widths[(tick.get_text(), label)] = bar.get_width()
    assert widths[("fc", "trainable")] == 512 * 1000 + 1000
    assert widths[("fc", "frozen")] == 0
    assert widths[("layer4", "frozen")] == sum(p.numel() for p in model.layer4.parameters())
    assert ax.get_xscale() == "log"


def test_curves_and_bars_show_every_series():
    """Do plot_curves and plot_bars draw one line per curve and one labelled bar per value?"""
    ax = plot_curves({"scratch": [0.2, 0.5], "frozen": [0.6, 0.8]}, ylabel="accuracy")
    assert [line.get_label() for line in ax.get_lines()] == ["scratch", "frozen"]
    ax = plot_bars({"all trainable": 2.0, "head only": 0.5}, ylabel="ms", value_format="{:.1f} ms")
    assert [text.get_text() for text in ax.texts] == ["2.0 ms", "0.5 ms"]


def test_bars_use_neutral_colours_unless_told():
    """Do plot_bars avoid the frozen/trainable colours unless the caller passes them?"""
    ax = plot_bars({"a": 1.0, "b": 2.0}, ylabel="s")
    faces = {to_hex(bar.get_facecolor()) for bar in ax.patches}
    assert not faces & {FROZEN_COLOUR, TRAINABLE_COLOUR}
    ax = plot_bars({"frozen": 1.0, "trainable": 2.0}, ylabel="s", colors=[FROZEN_COLOUR, TRAINABLE_COLOUR])
    assert [to_hex(bar.get_facecolor()) for bar in ax.patches] == [FROZEN_COLOUR, TRAINABLE_COLOUR]


def test_proportional_freeze_map_draws_each_block_as_wide_as_its_share():
    """With proportional=True, are parameter blocks as wide as their parameter share, so that VGG-11's
    frozen first convolutions look as small as they are, and labelled with that share?"""
    from freezelab.params import block_summary

    model = build_model("vgg11")
    freeze(model.features[:11])
    rows = [row for row in block_summary(model, depth=2) if row.counts.total]
    summary = BlockSummary(rows)
    ax = plot_freeze_map(summary, proportional=True)
    outlines = [p for p in ax.patches if p.get_facecolor()[3] == 0]          # one outline per block
    widths = [p.get_width() for p in outlines]
    totals = [row.counts.total for row in rows]
    everything = sum(totals)
    for width, total in zip(widths, totals, strict=True):
        block = max(0.08, len(rows) * total / everything)   # the block's slot, in block-width units
        assert abs(width - (block - 0.1 * min(block, 1.0))) < 1e-9
    frozen_width = sum(w for w, row in zip(widths, rows, strict=True) if row.counts.trainable == 0)
    assert frozen_width / sum(widths) < 0.05          # 4 of the blocks, under 1% of the parameters
    assert any(text.get_text().endswith("%") for text in ax.texts)


def test_learning_curve_draws_a_mean_line_and_every_seed():
    """Does plot_learning_curve draw one mean line per set-up through the means, and a dot per seed?"""
    from freezelab.learning_curve import Cell
    from freezelab.plots import plot_learning_curve

    cells = {"scratch": {1: Cell((0.5, 0.6)), 10: Cell((0.9, 0.92))},
             "frozen": {1: Cell((0.7, 0.8)), 10: Cell((0.93, 0.95))}}
    ax = plot_learning_curve(cells)
    means = [line for line in ax.get_lines() if line.get_label() in cells]
    assert [line.get_label() for line in means] == ["scratch", "frozen"]
    assert list(means[0].get_ydata()) == [0.55, 0.91]
    seed_dots = [line for line in ax.get_lines() if line.get_label().startswith("_") and line.get_marker() == "."]
    assert sum(len(line.get_ydata()) for line in seed_dots) == 8
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["1", "10"]


def test_speedup_plot_shows_the_median_and_every_round():
    """Does plot_speedups draw bars at the median of the rounds and a dot for every round?"""
    from freezelab.plots import plot_speedups

    ax = plot_speedups({"all": [1.0, 1.0, 1.0], "fc": [2.0, 3.0, 10.0]}, {"all": 1.0, "fc": 4.0})
    heights = sorted(round(bar.get_height(), 6) for bar in ax.patches)
    assert heights == [1.0, 1.0, 3.0, 4.0]
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert sorted(v for line in dots for v in line.get_ydata()) == [1.0, 1.0, 1.0, 2.0, 3.0, 10.0]
    assert "x3.00" in [text.get_text() for text in ax.texts]

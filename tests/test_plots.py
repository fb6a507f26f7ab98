"""Tests for freezelab.plots: the pictures show what the model really has frozen."""

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402

from freezelab.models import build_model  # noqa: E402
from freezelab.params import freeze  # noqa: E402
from freezelab.plots import (  # noqa: E402
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

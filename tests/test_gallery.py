"""Tests for freezelab.gallery: several models side by side in one figure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from torch import nn

from freezelab.gallery import plot_parameter_split_grid
from freezelab.models import build_model


def test_grid_has_one_panel_per_model_and_one_shared_legend():
    """Does the grid draw one titled panel per model, blank spare panels, and a single legend?"""
    models = {"ResNet-18": build_model("resnet18"), "VGG-11": build_model("vgg11"),
              "tiny": nn.Sequential(nn.Linear(2, 2))}
    models["ResNet-18"].requires_grad_(False)
    figure = plot_parameter_split_grid(models, depths={"VGG-11": 2}, subtitle="frozen")
    panels = [ax for ax in figure.axes if ax.axison]
    titles = [ax.get_title() for ax in panels]
    assert titles == ["ResNet-18: frozen", "VGG-11: frozen", "tiny: frozen"]
    assert len(figure.axes) == 4  # a 2x2 grid, the fourth panel switched off
    assert all(ax.get_legend() is None for ax in figure.axes)
    assert len(figure.legends) == 1
    vgg_labels = [label.get_text() for label in panels[1].get_yticklabels()]
    assert "classifier.6" in vgg_labels  # depth 2 opened VGG's classifier
    plt.close(figure)


def test_log_axis_leaves_room_right_of_the_longest_bar():
    """On a log axis, does each panel end beyond its largest block instead of exactly at it?"""
    model = build_model("resnet18")
    figure = plot_parameter_split_grid({"ResNet-18": model}, ncols=1)
    ax = figure.axes[0]
    largest = max(bar.get_x() + bar.get_width() for bar in ax.patches)
    assert ax.get_xscale() == "log" and ax.get_xlim()[1] > largest
    plt.close(figure)

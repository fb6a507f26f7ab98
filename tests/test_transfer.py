"""Tests for freezelab.transfer: the helpers of lessons 04-06."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from freezelab.data import digit_tasks, make_loader
from freezelab.models import DigitsNet, build_model
from freezelab.params import (
    count_trainable_parameters,
    freeze,
    trainable_parameter_names,
)
from freezelab.training import History
from freezelab.transfer import (
    as_rgb_images,
    cache_features,
    count_backward_nodes,
    count_gradients,
    count_optimizer_state,
    discriminative_learning_rates,
    discriminative_param_groups,
    freeze_to,
    frozen_batchnorm_layers,
    layer_summary,
    plot_grouped_bars,
    plot_layer_freeze_map,
    plot_setup_comparison,
    plot_unfreezing_schedule,
    recolour_bars,
    set_frozen_batchnorm_eval,
    summarise_setups,
    train_mode,
    train_only,
    training_step_census,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_train_only_freezes_everything_but_the_named_blocks():
    """Does train_only leave exactly the named submodules trainable, and return the model?"""
    model = build_model("resnet18")
    assert train_only(model, ["layer4", "fc"]) is model
    assert {name.split(".")[0] for name in trainable_parameter_names(model)} == {"layer4", "fc"}
    train_only(model, [])
    assert count_trainable_parameters(model) == 0


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, [True, True, True]),
        (1, [False, True, True]),
        (-1, [False, False, True]),
        (-3, [True, True, True]),
        (3, [False, False, False]),
    ],
)
def test_freeze_to_follows_fastai(n, expected):
    """Does freeze_to(blocks, n) freeze blocks[:n] and unfreeze the rest, n < 0 from the end?"""
    blocks = [nn.Linear(2, 2) for _ in range(3)]
    freeze_to(blocks, n)
    assert [block.weight.requires_grad for block in blocks] == expected


def test_frozen_batchnorm_layers_finds_only_fully_frozen_ones():
    """Are BatchNorm layers listed only when all their parameters are frozen (or they have none)?"""
    model = nn.Sequential(nn.BatchNorm1d(3), nn.BatchNorm1d(3), nn.BatchNorm1d(3, affine=False), nn.Linear(3, 3))
    model[0].requires_grad_(False)
    model[3].requires_grad_(False)
    assert [name for name, _ in frozen_batchnorm_layers(model)] == ["0", "2"]


def test_train_mode_and_set_frozen_batchnorm_eval():
    """Does train_mode put the model in train mode except its frozen BatchNorm layers?"""
    model = DigitsNet().eval()
    freeze(model.features)
    assert train_mode(model) is model
    assert model.training and model.head.training and model.features[0].training
    assert not model.features[1].training and not model.features[4].training
    model.features.requires_grad_(True)
    model.train()
    assert set_frozen_batchnorm_eval(model) == []


def test_count_backward_nodes_counts_operations_and_accumulators():
    """Does a linear layer's graph hold its operation and an AccumulateGrad per parameter?"""
    layer = nn.Linear(3, 2)
    out = layer(torch.randn(4, 3))
    names = {type(node).__name__ for node in [out.grad_fn, *(n for n, _ in out.grad_fn.next_functions if n)]}
    assert "AccumulateGrad" in names
    assert count_backward_nodes(out) >= 3
    assert count_backward_nodes(torch.randn(2)) == 0


def test_count_gradients_and_optimizer_state():
    """Do the tallies count tensors, numbers and bytes of .grad and of Adam's state?"""
    layer = nn.Linear(3, 2)
    assert count_gradients(layer).tensors == 0
    optimizer = torch.optim.Adam(layer.parameters())
    layer(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    gradients = count_gradients(layer)
    assert (gradients.tensors, gradients.numbers, gradients.bytes) == (2, 8, 32)
    state = count_optimizer_state(optimizer)
    assert state.tensors == 6 and state.numbers == 2 * 8 + 2
    assert "tensors" in str(state) and state.megabytes == state.bytes / 2**20


def test_training_step_census_on_meta_clears_stale_gradients():
    """Does the census count only this step's gradients, even when an earlier step left others?"""
    model = build_model("resnet18", num_classes=10)
    images = torch.empty(2, 3, 32, 32, device="meta")
    labels = torch.zeros(2, dtype=torch.long, device="meta")
    training_step_census(model, images, labels)
    train_only(model, ["fc"])
    census = training_step_census(model, images, labels)
    assert census.gradients.tensors == 2 and census.optimizer_state.tensors == 6
    assert census.forward_flops > census.backward_flops > 0


def test_cache_features_restores_mode_and_stores_plain_cpu_tensors():
    """Does cache_features return ordinary (not inference) CPU tensors and restore the training
    flag?"""
    tasks = digit_tasks(seed=0)
    backbone = DigitsNet().features.train()
    cached = cache_features(backbone, make_loader(tasks.target_test, batch_size=100, shuffle=False))
    features, labels = cached.tensors
    assert features.shape == (len(tasks.target_test), 64) and features.device.type == "cpu"
    assert not features.requires_grad and not features.is_inference()
    assert torch.equal(labels, tasks.target_test.tensors[1])
    assert backbone.training


def test_discriminative_learning_rates_are_geometric():
    """Do the rates run from lr_min to lr_max with a constant factor between neighbours?"""
    rates = discriminative_learning_rates(3, 1e-4, 1e-2)
    assert rates == pytest.approx([1e-4, 1e-3, 1e-2])
    assert discriminative_learning_rates(1, 1e-4, 1e-2) == [1e-2]


def test_discriminative_param_groups_skip_frozen_parameters_and_blocks():
    """Does each block become a named group of its trainable parameters, empty blocks left out?"""
    blocks = [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)]
    blocks[0].requires_grad_(False)
    blocks[1].bias.requires_grad_(False)
    groups = discriminative_param_groups(blocks, 1e-3, 1e-1, names=["a", "b", "c"])
    assert [group["name"] for group in groups] == ["b", "c"]
    assert groups[0]["params"] == [blocks[1].weight]
    assert groups[0]["lr"] == pytest.approx(1e-2) and groups[1]["lr"] == pytest.approx(1e-1)
    with pytest.raises(ValueError):
        discriminative_param_groups(blocks, 1e-3, 1e-1, names=["too", "few"])


def test_as_rgb_images_resizes_and_repeats_channels():
    """Are 8x8 grey digits turned into size x size images with three equal channels, labels kept?"""
    data = TensorDataset(torch.rand(5, 1, 8, 8), torch.arange(5))
    rgb = as_rgb_images(data, size=32)
    images, labels = rgb.tensors
    assert images.shape == (5, 3, 32, 32) and images.is_contiguous()
    assert torch.equal(images[:, 0], images[:, 2]) and torch.equal(labels, torch.arange(5))


def test_summarise_setups_means_accuracy_and_medians_seconds():
    """Are accuracy curves averaged per epoch and wall times summarised by their median?"""
    runs = {
        "a": [
            History([1.0, 0.5], [0.2, 0.4], 1.0),
            History([1.0, 0.5], [0.4, 0.8], 9.0),
            History([1.0, 0.5], [0.3, 0.6], 2.0),
        ]
    }
    summary = summarise_setups(runs)
    assert summary.curves["a"] == pytest.approx([0.3, 0.6])
    assert summary.final_accuracy["a"] == pytest.approx(0.6)
    assert summary.seconds["a"] == 2.0


def test_pictures_draw_without_error():
    """Do the plotting helpers draw on a non-interactive backend and label what they draw?"""
    model = DigitsNet()
    freeze(model.features)
    assert layer_summary(model)[0].name == "features.0\nConv2d"
    assert plot_layer_freeze_map(model).get_title()
    history = History([1.0], [0.5], 0.1)
    plot_setup_comparison({"x": [history], "y": [history]}, title="t")
    plot_setup_comparison({"x": [history], "y": [history]}, {"x": 0.001, "y": 0.002})
    ax = plot_grouped_bars({"s1": {"a": 1.0, "b": 2.0}, "s2": {"a": 3.0, "b": 4.0}}, ylabel="y")
    assert len(ax.patches) == 4
    recolour_bars(ax, ["#000000"])
    assert all(patch.get_facecolor()[:3] == (0.0, 0.0, 0.0) for patch in ax.patches)
    ax = plot_unfreezing_schedule([[False, True], [True, True]], ["a", "b"])
    assert len(ax.patches) == 4

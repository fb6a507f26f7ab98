"""Tests for freezelab.params: counts, freezing helpers and the per-block summary."""

import pytest
import torch
from torch import nn

from freezelab.models import build_model
from freezelab.params import (
    ParameterCounts,
    block_summary,
    count_frozen_parameters,
    count_parameters,
    count_trainable_parameters,
    freeze,
    trainable_parameter_names,
    unfreeze,
)


def lesson_model() -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))


def test_counts_of_the_lesson_model():
    """Does freezing model[0] of the lesson's Sequential leave exactly Linear(5, 2) trainable?"""
    model = lesson_model()
    freeze(model[0])
    counts = count_parameters(model)
    assert counts == ParameterCounts(trainable=5 * 2 + 2, frozen=10 * 5 + 5)
    assert counts.total == sum(p.numel() for p in model.parameters())
    assert trainable_parameter_names(model) == ["2.weight", "2.bias"]
    assert count_trainable_parameters(model) == 12
    assert count_frozen_parameters(model) == 55


def test_unfreeze_restores_every_parameter():
    """Does unfreeze undo freeze on a list of modules?"""
    model = lesson_model()
    freeze([model[0], model[2]])
    assert count_trainable_parameters(model) == 0
    unfreeze(model)
    assert count_frozen_parameters(model) == 0


def test_shared_parameters_count_once():
    """Is a parameter registered under two names (weight tying) counted once, like parameters() does?"""
    first = nn.Linear(4, 4)
    model = nn.Sequential(first, nn.ReLU(), first)
    assert count_parameters(model).total == 4 * 4 + 4


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "mobilenet_v3_small", "vit_b_16"])
def test_block_summary_adds_up_to_the_whole_model(name):
    """Does the per-block table of a torchvision model add up to every parameter, at depth 1 and 2?"""
    model = build_model(name)
    freeze(model)
    for depth in (1, 2):
        summary = block_summary(model, depth=depth)
        assert summary.totals() == count_parameters(model)
        assert all(row.status in {"frozen", "no parameters"} for row in summary)


def test_block_summary_marks_partly_frozen_blocks():
    """Is a block with frozen and trainable parameters reported as partly frozen, in text and HTML?"""
    model = build_model("resnet18")
    freeze(model)
    unfreeze(model.layer4[1])
    rows = {row.name: row for row in block_summary(model)}
    assert rows["layer4"].status == "partly frozen"
    assert rows["fc"].status == "frozen"
    assert rows["relu"].status == "no parameters"
    text, html = str(block_summary(model)), block_summary(model)._repr_html_()
    assert "partly frozen" in text and "partly frozen" in html
    assert text.splitlines()[-1].split()[0] == "total"


def test_vit_class_token_is_counted():
    """Does the summary keep parameters held directly by a model, like the ViT's class token?"""
    model = build_model("vit_b_16")
    rows = block_summary(model)
    assert rows[0].name == "(own)"
    assert rows[0].counts.total == model.class_token.numel()


def test_meta_and_cpu_models_have_the_same_counts():
    """Does building on the meta device give exactly the counts of a real model?"""
    assert count_parameters(build_model("vgg11")) == count_parameters(build_model("vgg11", device="cpu"))


def test_counts_work_on_the_meta_device():
    """Do counts need no real storage (every parameter of a meta model is a meta tensor)?"""
    model = build_model("resnet18")
    assert all(p.device == torch.device("meta") for p in model.parameters())
    assert count_parameters(model).total == 11_689_512

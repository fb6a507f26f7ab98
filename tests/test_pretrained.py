"""Tests for freezelab.pretrained: the shipped GlyphNet checkpoint and how it loads."""

from __future__ import annotations

import socket

import pytest
import torch

from freezelab.glyphs import CHARACTERS, make_glyphs
from freezelab.pretrained import (
    BLOCK_NAMES,
    CHECKPOINT,
    RECIPE,
    GlyphNet,
    GlyphNet_Weights,
    Preprocess,
    glyphnet,
    train_source_model,
)


def test_the_checkpoint_is_small_and_its_meta_says_what_it_is():
    """Is the shipped file under 1 MB, with the source task, categories, accuracy and recipe in .meta?"""
    assert CHECKPOINT.stat().st_size < 1_000_000
    meta = GlyphNet_Weights.DEFAULT.meta
    assert meta["categories"] == list(CHARACTERS)
    assert meta["recipe"] == RECIPE
    assert meta["num_params"] == sum(p.numel() for p in GlyphNet().parameters())
    assert 0.85 < meta["source_accuracy"] < 1.0
    assert "matplotlib" in meta["source_task"]


def test_the_checkpoint_loads_without_a_network_and_reaches_its_stated_accuracy(monkeypatch):
    """With every socket refused, does the checkpoint load and score its .meta accuracy on the same
    fresh source pictures?"""
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    weights = GlyphNet_Weights.DEFAULT
    model = glyphnet(weights=weights).eval()
    images, labels = make_glyphs(RECIPE["test_pictures"], seed=99_999)
    with torch.no_grad():
        accuracy = (model(weights.transforms()(images)).argmax(1) == labels).float().mean().item()
    assert abs(accuracy - weights.meta["source_accuracy"]) < 0.005


def test_transforms_divide_by_16_and_standardise_with_the_meta_statistics():
    """Does weights.transforms() map pixel v to (v / 16 - mean) / std, with the mean and std of .meta?"""
    weights = GlyphNet_Weights.DEFAULT
    preprocess = weights.transforms()
    assert isinstance(preprocess, Preprocess)
    pixels = torch.tensor([0.0, 8.0, 16.0])
    expected = (pixels / 16 - weights.meta["mean"]) / weights.meta["std"]
    assert torch.allclose(preprocess(pixels), expected)


def test_a_new_num_classes_replaces_only_the_head():
    """Does glyphnet(weights, num_classes=10) keep the pretrained features and give a new 10-way head?"""
    shipped = GlyphNet_Weights.DEFAULT.get_state_dict()
    model = glyphnet(weights=GlyphNet_Weights.DEFAULT, num_classes=10)
    assert model.head.out_features == 10
    assert all(torch.equal(t, shipped[f"features.{k}"]) for k, t in model.features.state_dict().items())
    same = glyphnet(weights=GlyphNet_Weights.DEFAULT, num_classes=62)
    assert torch.equal(same.head.weight, shipped["head.weight"])


def test_blocks_run_from_the_input_to_the_head():
    """Are the five blocks conv1, conv2, conv3, hidden and head, in that order, and do they cover the model?"""
    model = GlyphNet()
    assert [name for name, _ in model.features.named_children()] + ["head"] == list(BLOCK_NAMES)
    assert sum(p.numel() for block in model.blocks() for p in block.parameters()) == \
        sum(p.numel() for p in model.parameters())
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, len(CHARACTERS))


@pytest.mark.slow
def test_training_the_source_model_is_deterministic():
    """Does a (shortened) run of the checkpoint's recipe give bit-identical weights twice?"""
    recipe = dict(RECIPE, epochs=1, pictures_per_epoch=2_560, test_pictures=500)
    first, first_meta = train_source_model(recipe, show_progress=False, report=lambda _: None)
    second, second_meta = train_source_model(recipe, show_progress=False, report=lambda _: None)
    assert first_meta == second_meta
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(),
                                                 strict=True))

"""Tests for freezelab.models: torchvision without downloads, the pretrained fallback, DigitsNet."""

import socket
import time

import torch

from freezelab.models import DigitsNet, build_model, load_pretrained
from freezelab.params import count_parameters


def test_pretrained_weights_fall_back_quickly_and_say_so(monkeypatch, tmp_path):
    """When the weights cannot be fetched, does load_pretrained return random weights fast, with a message?"""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: the download must be attempted

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    # Without this, a machine with internet would download for real; the test is about the fallback.
    monkeypatch.setattr(socket, "create_connection", refuse)
    started = time.perf_counter()
    result = load_pretrained("resnet18", timeout=2.0)
    assert time.perf_counter() - started < 30
    assert result.pretrained is False
    assert "RANDOM weights" in result.message and "resnet18" in result.message
    assert count_parameters(result.model).total == 11_689_512
    assert socket.getdefaulttimeout() is None  # the timeout does not leak into the session


def test_build_model_on_cpu_runs_forward():
    """Does build_model on the CPU give a working model with random weights?"""
    model = build_model("resnet18", device="cpu", num_classes=5).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_digitsnet_has_features_and_head():
    """Does DigitsNet map 8x8 images to class scores through .features then .head?"""
    model = DigitsNet(num_classes=5)
    out = model(torch.randn(4, 1, 8, 8))
    assert out.shape == (4, 5)
    assert count_parameters(model.head).total == 64 * 5 + 5
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.features)

"""Pick the device the lessons run on: CUDA when there is one, else the CPU."""

from __future__ import annotations

import torch


def get_device() -> torch.device:
    """``cuda`` when a GPU is visible to PyTorch, otherwise ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line description for the top of a notebook."""
    device = device or get_device()
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"

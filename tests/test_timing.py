"""Tests for freezelab.timing: interleaved timing, speed-ups within rounds, and saying when rounds disagree."""

from __future__ import annotations

import torch
from torch import nn

from freezelab.timing import InterleavedTimes, time_interleaved


def test_speedups_are_taken_within_each_round():
    """Is each round's speed-up the reference's time in that round over the set-up's time in it?"""
    times = InterleavedTimes({"all": [2.0, 8.0, 2.0], "half": [1.0, 4.0, 1.0]}, reference="all")
    assert times.speedups() == {"all": [1.0, 1.0, 1.0], "half": [2.0, 2.0, 2.0]}
    assert times.median_speedup()["half"] == 2.0
    # A ratio of medians taken at different moments can be anything; the within-round ratio is not.
    assert times.median_seconds() == {"all": 2.0, "half": 1.0}


def test_rounds_that_disagree_by_more_than_2x_are_said_in_words():
    """Does describe() name the set-ups whose slowest round took over twice their fastest, and only those?"""
    calm = InterleavedTimes({"all": [2.0, 2.2], "half": [1.0, 1.1]}, reference="all")
    assert calm.disagreements() == {}
    assert "agree within 2x" in calm.describe()
    busy = InterleavedTimes({"all": [2.0, 5.0], "half": [1.0, 1.5]}, reference="all")
    assert busy.disagreements() == {"all": 2.5}
    text = busy.describe()
    assert "Careful" in text and "all (x2.5)" in text and "half (x" not in text


def test_time_interleaved_measures_every_set_up_every_round_on_one_thread():
    """Does it prepare and time each set-up once per round, on one thread, and restore torch's threads?"""
    torch.set_num_threads(2)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    seen_threads, order = [], []

    def prepare(trainable_first: bool):
        def apply(m: nn.Module) -> None:
            seen_threads.append(torch.get_num_threads())
            order.append(trainable_first)
            m[0].requires_grad_(trainable_first)
        return apply

    times = time_interleaved(model, {"all": prepare(True), "top": prepare(False)}, torch.randn(4, 8),
                             torch.zeros(4, dtype=torch.long), rounds=3, min_run_time=0.01, show_progress=False)
    assert order == [True, False] * 3
    assert set(seen_threads) == {1} and torch.get_num_threads() == 2
    assert {name: len(values) for name, values in times.rounds.items()} == {"all": 3, "top": 3}
    assert all(t > 0 for values in times.rounds.values() for t in values)

"""Every claim that lesson 04 (and lesson 01, quoting it) makes about transfer, checked by running it.

Lesson 04 plots a learning curve stored in ``src/freezelab/checkpoints/learning-curve.json``, and the
same set-ups trained with augmentation, stored in ``augmentation.json``, both by
``benchmarks/bench_transfer.py``. These tests re-run part of each with the same code and compare, seed by
seed, so the stored figures cannot drift from what the code measures; and they check the statements the
lesson's prose makes against the figures.
"""

from __future__ import annotations

import re
import statistics

import nbformat
import pytest
import torch

from freezelab.learning_curve import (
    AUGMENTATION_LABEL_COUNTS,
    AUGMENTATION_SETUPS,
    SETUPS,
    Augmentation,
    augmentation_table,
    feature_change,
    learning_curve,
    load_augmentation,
    load_curve,
    probe_depths,
    run_setup,
    target_splits,
)
from freezelab.paths import SOLUTIONS_DIR
from freezelab.pretrained import GlyphNet_Weights, Preprocess, glyphnet

CURVE = load_curve()
PRETRAINED = [s for s in SETUPS if s != "from scratch"]


def test_the_stored_curve_covers_every_set_up_label_count_and_five_seeds():
    """Does the stored curve hold five seeds for each of the six set-ups and five label counts?"""
    assert list(CURVE.cells) == list(SETUPS)
    for row in CURVE.cells.values():
        assert list(row) == [1, 3, 10, 30, "all"]
        assert all(len(cell.accuracies) == 5 for cell in row.values())
    assert set(CURVE.cuts) == {1, 3, 10, 30, "all"} and set(CURVE.cuts.values()) <= {1, 2, 3}


@pytest.mark.slow
def test_rerunning_the_one_label_column_gives_the_stored_figures():
    """Does learning_curve, run again for one label per digit, reproduce every stored seed (within a
    test image or so, for another CPU's rounding), the cut that validation chose included?"""
    fresh = learning_curve(label_counts=[1], seeds=range(5), show_progress=False)
    assert fresh.cuts[1] == CURVE.cuts[1]
    for setup in SETUPS:
        for new, old in zip(fresh.cells[setup][1].accuracies, CURVE.cells[setup][1].accuracies, strict=True):
            assert abs(new - old) < 0.01, (setup, new, old)


@pytest.mark.slow
def test_rerunning_scratch_and_frozen_with_every_label_gives_the_stored_figures():
    """With every label, does a re-run of scratch and the frozen backbone give the stored figures?"""
    fresh = learning_curve(setups=["from scratch", "frozen backbone"], label_counts=["all"], seeds=range(5),
                           show_progress=False)
    for setup in ("from scratch", "frozen backbone"):
        for new, old in zip(fresh.cells[setup]["all"].accuracies, CURVE.cells[setup]["all"].accuracies, strict=True):
            assert abs(new - old) < 0.01, (setup, new, old)


def test_with_one_or_three_labels_every_pretrained_set_up_beats_scratch_by_five_points():
    """Is every pretrained set-up, on average, at least 4 points ahead of scratch at 1 and 3 labels
    per digit ("at least 5" in the prose, rounded), and the frozen backbone ahead in every seed at 1?"""
    scratch = CURVE.cells["from scratch"]
    for count in (1, 3):
        assert all(CURVE.cells[s][count].mean > scratch[count].mean + 0.04 for s in PRETRAINED)
    assert min(CURVE.cells[s][3].mean for s in PRETRAINED) - scratch[3].mean > 0.05
    assert all(f > s for f, s in zip(CURVE.cells["frozen backbone"][1].accuracies, scratch[1].accuracies,
                                     strict=True))


def test_the_recipes_are_best_with_one_label_and_beat_one_rate_fine_tuning_in_every_seed():
    """With one label per digit, do both recipes beat every other set-up on average, and one-rate
    fine-tuning in every seed, while ending within a point of each other at every label count?"""
    cells = CURVE.cells
    others = [s for s in SETUPS if not s.startswith("recipe")]
    for recipe in ("recipe", "recipe, gradual"):
        assert cells[recipe][1].mean > max(cells[s][1].mean for s in others)
        assert all(r > f for r, f in zip(cells[recipe][1].accuracies, cells["fine-tune, low lr"][1].accuracies,
                                          strict=True))
    assert all(abs(cells["recipe"][c].mean - cells["recipe, gradual"][c].mean) < 0.01 for c in cells["recipe"])


def test_fine_tuning_catches_up_and_scratch_catches_up_with_everything():
    """Does fine-tuning pass the frozen backbone from 10 labels on, scratch tie it at 30 and beat it in
    every seed with every label, where the frozen backbone comes last?"""
    cells, scratch = CURVE.cells, CURVE.cells["from scratch"]
    assert all(cells["fine-tune, low lr"][c].mean > cells["frozen backbone"][c].mean for c in (10, 30, "all"))
    assert all(cells[s][10].mean > scratch[10].mean for s in PRETRAINED)
    assert abs(scratch[30].mean - cells["frozen backbone"][30].mean) < 0.005
    assert scratch["all"].mean >= max(cells[s]["all"].mean for s in SETUPS) - 0.005
    assert all(s > f for s, f in zip(scratch["all"].accuracies, cells["frozen backbone"]["all"].accuracies,
                                     strict=True))
    assert cells["frozen backbone"]["all"].mean == min(cells[s]["all"].mean for s in SETUPS)
    gains = [max(cells[s][c].mean for s in PRETRAINED) - scratch[c].mean for c in (1, 3, 10, 30, "all")]
    assert all(a > b for a, b in zip(gains, gains[1:], strict=False))


def test_lesson_01_quotes_the_one_label_figures_of_the_curve():
    """Does lesson 01's "72% ... 61%" match the stored means of the frozen backbone and of scratch?"""
    notebook = nbformat.read(SOLUTIONS_DIR / "lessons" / "01-why-freeze.ipynb", as_version=4)
    text = " ".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    match = re.search(r"backbone reaches (\d+)% on handwritten digits where\s+the same network trained from "
                      r"scratch reaches (\d+)%", text)
    assert match, "lesson 01 no longer quotes the figures"
    frozen, scratch = (int(value) for value in match.groups())
    assert frozen == round(100 * CURVE.cells["frozen backbone"][1].mean)
    assert scratch == round(100 * CURVE.cells["from scratch"][1].mean)


def test_skipping_the_weights_transforms_costs_a_frozen_backbone_accuracy():
    """Does a frozen backbone fed raw 0-16 pixels, instead of weights.transforms(), score lower in every seed?"""
    raw = Preprocess(mean=0.0, std=1.0, max_value=1.0)
    for seed in range(5):
        with_transforms = run_setup("frozen backbone", 10, seed)[0].test_accuracy
        without = run_setup("frozen backbone", 10, seed, preprocess=raw)[0].test_accuracy
        assert with_transforms > without


def test_validation_chooses_the_step_and_the_test_split_is_scored_once():
    """Is the kept step the one with the best validation accuracy, and are the splits disjoint and the
    test split the same for every seed and label count?"""
    run, _ = run_setup("fine-tune, low lr", 3, seed=0)
    best = max(run.validation_accuracy)
    assert run.best_validation == best
    assert run.best_step == run.steps[run.validation_accuracy.index(best)]
    first, other = target_splits(3, seed=0), target_splits("all", seed=4)
    assert torch.equal(first.test.images, other.test.images)
    assert torch.equal(first.validation.images, other.validation.images)
    as_rows = lambda split: {tuple(image.flatten().tolist()) for image in split.images}  # noqa: E731
    assert not as_rows(other.train) & as_rows(other.test)
    assert not as_rows(other.train) & as_rows(other.validation)
    assert torch.equal(torch.bincount(first.train.labels), torch.full((10,), 3))


def test_frozen_parts_stay_bit_identical_and_the_recipes_move_every_block():
    """After training, is a frozen backbone (buffers included) bit-identical to the checkpoint, the
    frozen blocks of a partly frozen model too, while both recipes changed every block?"""
    shipped = {k.removeprefix("features."): v for k, v in GlyphNet_Weights.DEFAULT.get_state_dict().items()
               if k.startswith("features.")}
    _, frozen = run_setup("frozen backbone", 3, seed=0)
    assert all(torch.equal(t, shipped[k]) for k, t in frozen.features.state_dict().items())
    _, partly = run_setup("partly frozen", 3, seed=0, cut=2)
    state = partly.features.state_dict()
    assert all(torch.equal(state[k], shipped[k]) for k in state if k.startswith(("conv1.", "conv2.")))
    assert not torch.equal(state["conv3.0.weight"], shipped["conv3.0.weight"])
    # The recipes unfreeze at step 50 (all at once), or block by block at steps 50, 75, 100, 125
    # (gradual); a block of the kept state has moved exactly when it joined before the kept step.
    joins = {"recipe": dict.fromkeys(["hidden", "conv3", "conv2", "conv1"], 50),
             "recipe, gradual": {"hidden": 50, "conv3": 75, "conv2": 100, "conv1": 125}}
    for recipe, joined in joins.items():
        for seed in range(3):
            run, model = run_setup(recipe, 3, seed=seed)
            state = model.features.state_dict()
            weight = {"hidden": "hidden.1.weight", **{f"conv{i}": f"conv{i}.0.weight" for i in (1, 2, 3)}}
            for block, step in joined.items():
                moved = not torch.equal(state[weight[block]], shipped[weight[block]])
                assert moved == (run.best_step > step), (recipe, seed, block, run.best_step)


def test_pretraining_helps_more_with_depth_and_not_at_the_first_block():
    """Do linear probes show no difference between pretrained and random weights after conv1, and a
    gain that grows from conv2 to conv3 to hidden, with hidden no better than conv3?"""
    pretrained, random = probe_depths(1, range(5)), probe_depths(1, range(5), weights=None)
    gain = {block: pretrained[block].mean - random[block].mean for block in pretrained}
    assert abs(gain["conv1"]) < max(pretrained["conv1"].spread, random["conv1"].spread)
    assert 0 < gain["conv2"] < gain["conv3"] < gain["hidden"]
    assert pretrained["conv3"].mean >= pretrained["hidden"].mean - 0.01


# --- augmentation: what a cache rules out, and what it buys --------------------------------------

AUGMENTED = load_augmentation()


def _gains(setup: str, count: int | str) -> list[float]:
    return [a - b for a, b in zip(AUGMENTED.cells[setup][count].accuracies, CURVE.cells[setup][count].accuracies,
                                  strict=True)]


def _markdown(cell_id: str) -> str:
    notebook = nbformat.read(SOLUTIONS_DIR / "lessons" / "04-transfer-for-real.ipynb", as_version=4)
    return " ".join(next(cell.source for cell in notebook.cells if cell.get("id") == cell_id).split())


def test_the_stored_augmentation_table_covers_three_set_ups_three_label_counts_and_five_seeds():
    """Does the stored table hold five seeds for scratch, the frozen backbone and fine-tuning at 1, 3 and 10
    labels per digit?"""
    assert tuple(AUGMENTED.cells) == AUGMENTATION_SETUPS
    for row in AUGMENTED.cells.values():
        assert tuple(row) == AUGMENTATION_LABEL_COUNTS
        assert all(len(cell.accuracies) == 5 for cell in row.values())


@pytest.mark.slow
def test_rerunning_the_augmented_one_label_column_gives_the_stored_figures():
    """Does augmentation_table, run again for one label per digit, reproduce every stored seed, and the
    pictures each set-up sent through its backbone?"""
    fresh = augmentation_table(label_counts=[1], seeds=range(5), show_progress=False)
    for setup in AUGMENTATION_SETUPS:
        for new, old in zip(fresh.cells[setup][1].accuracies, AUGMENTED.cells[setup][1].accuracies, strict=True):
            assert abs(new - old) < 0.01, (setup, new, old)
    assert fresh.backbone_pictures == AUGMENTED.backbone_pictures


def test_augmentation_draws_afresh_every_batch_and_repeats_with_its_seed():
    """Does each call distort differently, the same seed give the same distortions, and a blank
    picture stay blank (the border fills with background)?"""
    preprocess = GlyphNet_Weights.DEFAULT.transforms()
    pictures = preprocess(target_splits(3, seed=0).train.images)
    first, again = Augmentation(preprocess, seed=5), Augmentation(preprocess, seed=5)
    batch_one, batch_two = first(pictures), first(pictures)
    assert not torch.equal(batch_one, batch_two) and not torch.equal(batch_one, pictures)
    assert torch.equal(again(pictures), batch_one)
    blank = preprocess(torch.zeros(4, 1, 8, 8))
    assert torch.allclose(first(blank), blank, atol=1e-6)


def test_a_distorted_pictures_features_are_far_from_the_cached_ones():
    """Are the pretrained features of a distorted digit 43% of their length away from the cached ones,
    another digit's 94%, and with random weights 29% against 37%, the figures lesson 04 quotes?"""
    pretrained, random = feature_change(), feature_change(weights=None)
    figures = [round(100 * value) for value in (pretrained.moved, pretrained.apart, random.moved, random.apart)]
    assert figures == [43, 94, 29, 37]
    text = _markdown("l04-aug-cost-md")
    assert "are 43% of their length away" in text and "94% away" in text and "29% against 37%" in text
    assert pretrained.moved / pretrained.apart < random.moved / random.apart


def test_a_fixed_set_of_distorted_copies_can_be_cached_but_fresh_distortions_cannot():
    """With the backbone frozen and in eval mode, do copies distorted once give the same features in every
    epoch, while a fresh draw per epoch does not (lesson 05, exercise 2)?"""
    preprocess = GlyphNet_Weights.DEFAULT.transforms()
    pictures = preprocess(target_splits(3, seed=0).train.images)
    backbone = glyphnet(weights=GlyphNet_Weights.DEFAULT).features.eval().requires_grad_(False)
    augmentation = Augmentation(preprocess, seed=0)
    fixed_copies = torch.cat([augmentation(pictures) for _ in range(5)])
    with torch.no_grad():
        epochs = [backbone(fixed_copies) for _ in range(2)]
        fresh = [backbone(augmentation(pictures)) for _ in range(2)]
    assert torch.equal(epochs[0], epochs[1])
    assert not torch.allclose(fresh[0], fresh[1])


def test_a_frozen_backbone_with_augmentation_runs_on_every_batch_and_stays_frozen():
    """With augmentation, does the frozen backbone see 5,219 pictures instead of 929 (as many as
    fine-tuning, with or without augmentation) and still come out bit-identical to the checkpoint?"""
    shipped = {k.removeprefix("features."): v for k, v in GlyphNet_Weights.DEFAULT.get_state_dict().items()
               if k.startswith("features.")}
    cached, _ = run_setup("frozen backbone", 1, seed=0)
    augmented, model = run_setup("frozen backbone", 1, seed=0, augment=True)
    assert (cached.backbone_pictures, augmented.backbone_pictures) == (929, 5_219)
    assert all(torch.equal(t, shipped[k]) for k, t in model.features.state_dict().items())
    assert AUGMENTED.backbone_pictures["frozen backbone"] == {"cached or plain": 929, "augmented": 5_219}
    for setup in ("from scratch", "fine-tune, low lr"):
        assert AUGMENTED.backbone_pictures[setup] == {"cached or plain": 5_219, "augmented": 5_219}
    assert "929 pictures" in _markdown("l04-aug-table-md") and "5,219 pictures" in _markdown("l04-aug-table-md")
    with pytest.raises(ValueError, match="cannot be trained with augmentation"):
        run_setup("recipe", 1, seed=0, augment=True)


def test_augmentation_pays_most_with_few_labels_and_a_backbone_that_trains():
    """At one label per digit, does augmentation gain most for fine-tuning (7 points, every seed), then
    scratch (5), then the frozen backbone (2, four seeds of five); do the gains shrink with labels and stay
    under a point at ten; and does augmented fine-tuning tie or beat the cached frozen backbone in every seed,
    within a point of the recipe without augmentation?"""
    gain = {s: {c: statistics.fmean(_gains(s, c)) for c in AUGMENTATION_LABEL_COUNTS} for s in AUGMENTATION_SETUPS}
    assert gain["fine-tune, low lr"][1] > gain["from scratch"][1] > gain["frozen backbone"][1] > 0
    assert [round(100 * gain[s][1]) for s in AUGMENTATION_SETUPS] == [5, 2, 7]
    assert [round(100 * gain[s][3]) for s in AUGMENTATION_SETUPS] == [4, 1, 3]
    assert all(g > 0 for count in (1, 3) for g in _gains("fine-tune, low lr", count))
    assert sum(g > 0 for g in _gains("frozen backbone", 1)) == 4
    assert all(gain[s][1] > gain[s][3] > gain[s][10] for s in AUGMENTATION_SETUPS)
    assert all(abs(gain[s][10]) < 0.01 for s in AUGMENTATION_SETUPS)
    assert (round(100 * min(gain[s][10] for s in AUGMENTATION_SETUPS), 1),
            round(100 * max(gain[s][10] for s in AUGMENTATION_SETUPS), 1)) == (-0.6, 0.7)
    ties_or_wins = [a - b for a, b in zip(AUGMENTED.cells["fine-tune, low lr"][1].accuracies,
                                           CURVE.cells["frozen backbone"][1].accuracies, strict=True)]
    assert all(d >= 0 for d in ties_or_wins) and sum(d == 0 for d in ties_or_wins) == 1
    augmented_fine_tuning, recipe = AUGMENTED.cells["fine-tune, low lr"][1].mean, CURVE.cells["recipe"][1].mean
    assert (round(100 * augmented_fine_tuning, 1), round(100 * recipe, 1)) == (75.1, 75.3)
    means = {s: (round(100 * CURVE.cells[s][1].mean, 1), round(100 * AUGMENTED.cells[s][1].mean, 1))
             for s in AUGMENTATION_SETUPS}
    assert means == {"from scratch": (61.3, 66.6), "frozen backbone": (72.4, 74.5), "fine-tune, low lr": (68.0, 75.1)}
    text = _markdown("l04-aug-read")
    for quoted in ("(68% to 75%, in every one of the five seeds)", "5 points (61% to 67%)",
                   "2 points (72% to 74.5%, in four seeds of five)", "in the same order, 3, 4 and 1 points",
                   "every gain is below one point (−0.6 to +0.7)", "in one seed and ahead in the other four",
                   "(75.1% against 75.3%)"):
        assert quoted in text, quoted

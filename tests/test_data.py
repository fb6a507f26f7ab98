"""Tests for freezelab.data: the digits tasks that ship with scikit-learn."""

import torch

from freezelab.data import SOURCE_DIGITS, TARGET_DIGITS, digit_tasks, load_digits_tensors, make_loader


def test_images_are_scaled_to_unit_range():
    """Are the 8x8 digit images single-channel floats in [0, 1]?"""
    images, labels = load_digits_tensors()
    assert images.shape[1:] == (1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1
    assert set(labels.tolist()) == set(range(10))


def test_the_digits_are_exactly_scikit_learns_read_without_importing_it():
    """Are the digits, read straight from scikit-learn's bundled file, bit for bit what
    load_digits() gives, without scikit-learn being imported to read them?"""
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = load_digits_tensors()
    assert torch.equal(images, torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1))
    assert torch.equal(labels, torch.tensor(digits.target, dtype=torch.int64))
    imported = subprocess.run(
        [sys.executable, "-c", "import sys; from freezelab.data import load_digits_tensors; load_digits_tensors(); "
                               "print('sklearn' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "False"


def test_tasks_split_the_digits_without_overlap():
    """Do the source and target tasks use their own digits, few labels, and disjoint test sets?"""
    tasks = digit_tasks(labels_per_class=7, seed=3)
    images, _ = load_digits_tensors()
    for split in (tasks.source_train, tasks.source_test, tasks.target_train, tasks.target_test):
        assert set(split.tensors[1].tolist()) == set(range(5))
    assert torch.bincount(tasks.target_train.tensors[1]).tolist() == [7] * 5
    rows = {tuple(x.flatten().tolist()) for x in tasks.target_train.tensors[0]}
    assert not rows & {tuple(x.flatten().tolist()) for x in tasks.target_test.tensors[0]}
    assert len(tasks.source_train) + len(tasks.source_test) == sum(
        int((load_digits_tensors()[1] == d).sum()) for d in SOURCE_DIGITS)
    assert len(TARGET_DIGITS) == 5 and len(images) == 1797


def test_same_seed_same_split():
    """Is the split reproducible for a seed and different for another?"""
    first, again, other = digit_tasks(seed=1), digit_tasks(seed=1), digit_tasks(seed=2)
    assert torch.equal(first.target_train.tensors[0], again.target_train.tensors[0])
    assert not torch.equal(first.target_train.tensors[0], other.target_train.tensors[0])


def test_loader_shuffles_reproducibly():
    """Does make_loader give the same batches for the same seed?"""
    tasks = digit_tasks()
    first = next(iter(make_loader(tasks.source_train, batch_size=16, seed=5)))[1]
    again = next(iter(make_loader(tasks.source_train, batch_size=16, seed=5)))[1]
    assert torch.equal(first, again)

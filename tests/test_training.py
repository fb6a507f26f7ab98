"""Tests for freezelab.training and freezelab.timing."""

import copy

import torch

from freezelab.data import digit_tasks, make_loader
from freezelab.models import DigitsNet
from freezelab.params import freeze
from freezelab.timing import time_training_step
from freezelab.training import accuracy, train, trainable_parameters


def test_training_learns_the_source_task():
    """Does a few epochs of train() beat chance clearly on digits 0-4 and record one entry per epoch?"""
    torch.manual_seed(0)
    tasks = digit_tasks()
    model = DigitsNet()
    history = train(model, make_loader(tasks.source_train), make_loader(tasks.source_test, shuffle=False),
                    epochs=3, show_progress=False)
    assert len(history.train_loss) == len(history.test_accuracy) == 3
    assert history.test_accuracy[-1] > 0.8
    assert history.seconds > 0


def test_frozen_features_stay_bit_identical_with_batchnorm_in_eval():
    """With features frozen and in eval mode, are all their weights and BatchNorm statistics unchanged?"""
    torch.manual_seed(0)
    tasks = digit_tasks()
    model = DigitsNet()
    freeze(model.features)
    before = copy.deepcopy(model.features.state_dict())
    train(model, make_loader(tasks.target_train), make_loader(tasks.target_test, shuffle=False),
          epochs=2, show_progress=False, modules_in_eval=[model.features])
    after = model.features.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert model.training  # the model as a whole is back in train mode
    assert len(trainable_parameters(model)) == 2


def test_accuracy_restores_training_mode():
    """Does accuracy() evaluate in eval mode and leave the model as it found it?"""
    tasks = digit_tasks()
    model = DigitsNet().train()
    accuracy(model, make_loader(tasks.source_test, shuffle=False))
    assert model.training


def test_time_training_step_measures_with_only_trainable_parameters():
    """Does time_training_step return a benchmark measurement and leave frozen weights untouched?"""
    model = DigitsNet()
    freeze(model.features)
    before = copy.deepcopy(model.features.state_dict())
    measurement = time_training_step(model, torch.randn(8, 1, 8, 8), torch.randint(0, 5, (8,)),
                                     min_run_time=0.05)
    assert measurement.median > 0
    assert all(torch.equal(before[k], v) for k, v in model.features.state_dict().items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))


def test_accuracy_keeps_each_modules_own_mode():
    """Does a frozen BatchNorm kept in eval inside a training model stay in eval after accuracy()?"""
    tasks = digit_tasks()
    model = DigitsNet().train()
    model.features.eval()
    accuracy(model, make_loader(tasks.source_test, shuffle=False))
    assert model.training and model.head.training
    assert not any(module.training for module in model.features.modules())

"""Every claim about PyTorch that lessons 04-06 make, checked against the installed PyTorch.

The lessons assert these claims in their own cells too; here they are checked in isolation, so a
PyTorch upgrade that changes one of them fails with a message that names the claim.
"""

from __future__ import annotations

import copy
import inspect
import io
import itertools
import pickle
import statistics

import pytest
import torch
import torchvision
from torch import nn
from torch.utils import benchmark
from torch.utils.data import TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from freezelab.data import digit_tasks, make_loader
from freezelab.models import DigitsNet, build_model
from freezelab.params import count_parameters, freeze
from freezelab.training import train
from freezelab.transfer import (
    cache_features,
    count_backward_nodes,
    discriminative_param_groups,
    freeze_to,
    saved_tensors,
    set_frozen_batchnorm_eval,
    train_mode,
    train_only,
    training_step_census,
)

RESNET_DEPTHS = {
    "all trainable": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"],
    "layer4 + fc": ["layer4", "fc"],
    "fc only": ["fc"],
}


@pytest.fixture(scope="module")
def tasks():
    return digit_tasks(labels_per_class=10, seed=0)


@pytest.fixture
def images(tasks):
    return tasks.target_train.tensors[0]


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


def loss_of(net: nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 8, generator=generator)
    targets = torch.randint(0, 3, (16,), generator=generator)
    return nn.functional.cross_entropy(net(inputs), targets)


# --- lesson 04: transfer -------------------------------------------------------------------------


def test_state_dict_shares_memory_with_the_parameters():
    """Does state_dict() hand out tensors that share memory with the live parameters, so that only a
    deepcopy is a real snapshot?"""
    model = DigitsNet()
    live = model.state_dict()
    assert live["features.0.weight"].data_ptr() == model.features[0].weight.data_ptr()
    snapshot = copy.deepcopy(model.state_dict())
    assert snapshot["features.0.weight"].data_ptr() != model.features[0].weight.data_ptr()
    with torch.no_grad():
        model.features[0].weight.add_(1.0)
    assert torch.equal(live["features.0.weight"], model.features[0].weight)
    assert not torch.equal(snapshot["features.0.weight"], model.features[0].weight)


def test_frozen_batchnorm_in_train_mode_uses_batch_statistics(images):
    """In train mode, does a frozen BatchNorm give an image features that depend on its batch and
    move its running mean, while in eval mode it does neither?"""
    model = DigitsNet()
    freeze(model.features)
    batchnorm = model.features[1]
    batches = [images[:10], images[[0, *range(10, 19)]]]
    for mode in ("train", "eval"):
        model.features.train(mode == "train")
        before = batchnorm.running_mean.clone()
        with torch.no_grad():
            first, second = (model.features(batch)[0] for batch in batches)
        moved = not torch.equal(batchnorm.running_mean, before)
        if mode == "train":
            assert not torch.equal(first, second) and moved
        else:
            assert torch.equal(first, second) and not moved


def test_frozen_backbone_in_eval_mode_stays_bit_identical(tasks):
    """With features loaded, frozen and kept in eval mode by train(), is every tensor of the
    backbone, buffers included, bit-identical after training while the head has learned?"""
    torch.manual_seed(0)
    model = DigitsNet()
    freeze(model.features)
    features_before = copy.deepcopy(model.features.state_dict())
    head_before = model.head.weight.detach().clone()
    train(
        model,
        make_loader(tasks.target_train, batch_size=10),
        make_loader(tasks.target_test, shuffle=False),
        epochs=2,
        show_progress=False,
        modules_in_eval=[model.features],
    )
    after = model.features.state_dict()
    assert all(torch.equal(after[key], features_before[key]) for key in features_before)
    assert not torch.equal(model.head.weight, head_before)


def test_frozen_backbone_in_train_mode_changes_only_batchnorm_buffers(tasks):
    """Trained without modules_in_eval, does a frozen backbone keep its parameters but change
    exactly its BatchNorm buffers?"""
    torch.manual_seed(0)
    model = DigitsNet()
    freeze(model.features)
    before = copy.deepcopy(model.features.state_dict())
    train(
        model,
        make_loader(tasks.target_train, batch_size=10),
        make_loader(tasks.target_test, shuffle=False),
        epochs=2,
        show_progress=False,
    )
    after = model.features.state_dict()
    changed = sorted(key for key in before if not torch.equal(before[key], after[key]))
    buffers = sorted(name for name, _ in model.features.named_buffers())
    assert changed == buffers


# --- lesson 05: where the speed-up comes from ----------------------------------------------------


@pytest.fixture(scope="module")
def resnet_census():
    images = torch.empty(8, 3, 64, 64, device="meta")
    labels = torch.zeros(8, dtype=torch.long, device="meta")
    census = {}
    for name, trainable in RESNET_DEPTHS.items():
        model = train_only(build_model("resnet18", num_classes=10), trainable)
        census[name] = (model, training_step_census(model, images, labels))
    return census


def test_freezing_leaves_the_forward_pass_unchanged(resnet_census):
    """Is the forward pass of ResNet-18 the same number of FLOPs at every freezing depth?"""
    assert len({census.forward_flops for _, census in resnet_census.values()}) == 1


def test_freezing_shrinks_the_backward_pass_and_its_graph(resnet_census):
    """Do the backward FLOPs and the autograd graph shrink with every block that is frozen?"""
    censuses = [census for _, census in resnet_census.values()]
    assert censuses[0].backward_flops > censuses[1].backward_flops > censuses[2].backward_flops
    assert censuses[0].backward_nodes > censuses[1].backward_nodes > censuses[2].backward_nodes


def test_gradients_and_adam_state_exist_only_for_trainable_parameters(resnet_census):
    """After a step, is there one gradient per trainable tensor, and exactly exp_avg, exp_avg_sq
    (each of the parameter's size) and a step count in Adam's state, and nothing for frozen
    tensors?"""
    for model, census in resnet_census.values():
        trainable = [p for p in model.parameters() if p.requires_grad]
        numbers = sum(p.numel() for p in trainable)
        assert all((p.grad is not None) == p.requires_grad for p in model.parameters())
        assert census.gradients.tensors == len(trainable) and census.gradients.numbers == numbers
        assert census.optimizer_state.tensors == 3 * len(trainable)
        assert census.optimizer_state.numbers == 2 * numbers + len(trainable)
    optimizer = torch.optim.Adam([nn.Parameter(torch.ones(2, 3))])
    optimizer.param_groups[0]["params"][0].grad = torch.ones(2, 3)
    optimizer.step()
    (state,) = optimizer.state.values()
    assert set(state) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["exp_avg"].shape == state["exp_avg_sq"].shape == (2, 3)


def test_a_frozen_prefix_saves_no_activations_for_backward():
    """Does ResNet-18 (batch 8x3x64x64) save over 10 MiB of activations all trainable, over 10x less
    with layer4 + fc, and exactly fc's 8 x 512 input with fc only, while the forward FLOPs stay equal?"""
    torch.manual_seed(0)
    model = build_model("resnet18", device="cpu", num_classes=10)
    images = torch.randn(8, 3, 64, 64)
    saved = {name: saved_tensors(train_only(model, trainable), images) for name, trainable in RESNET_DEPTHS.items()}
    activations = [s.activations.bytes for s in saved.values()]
    assert activations[0] > 10 * 2**20 and activations[0] > 10 * activations[1] > 10 * activations[2] > 0
    assert saved["fc only"].activations.numbers == 8 * 512
    assert saved["fc only"].parameters.tensors == 0          # fc's weight is not needed: its input needs no grad
    model.requires_grad_(False)
    nothing = saved_tensors(model, images)
    assert nothing.activations.tensors == nothing.parameters.tensors == 0


def test_frozen_prefix_records_no_graph_but_frozen_middle_passes_gradients():
    """Does the output of a frozen prefix have no grad_fn, while a frozen layer between trainable
    ones still lets the gradient through to the layers below it?"""
    model = train_only(build_model("resnet18", num_classes=10), ["fc"])
    backbone_output = nn.Sequential(*list(model.children())[:-1])(torch.empty(2, 3, 64, 64, device="meta"))
    assert backbone_output.grad_fn is None
    sandwich = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1))
    sandwich[1].requires_grad_(False)
    sandwich(torch.randn(3, 4)).sum().backward()
    assert sandwich[0].weight.grad is not None and sandwich[1].weight.grad is None


def test_flop_counter_counts_matrix_products_but_not_batchnorm_or_relu():
    """Does FlopCounterMode count convolutions and matrix products, and leave BatchNorm and ReLU
    out?"""
    with FlopCounterMode(display=False) as counter:
        nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())(torch.randn(2, 3, 8, 8))
    assert counter.get_total_flops() == 0
    with FlopCounterMode(display=False) as counter:
        nn.Conv2d(3, 4, 3)(torch.randn(2, 3, 8, 8))
    assert counter.get_total_flops() > 0


def test_benchmark_warms_up_repeats_and_reports_the_median():
    """Does blocked_autorange run the statement before measuring (a warm-up), measure at least
    min_run_time seconds, and report the median of its measurements?"""
    calls = itertools.count()
    timer = benchmark.Timer(stmt="next(calls); sum(range(1000))", globals={"calls": calls})
    measurement = timer.blocked_autorange(min_run_time=0.05)
    measured_calls = measurement.number_per_run * len(measurement.raw_times)
    assert next(calls) > measured_calls  # some runs were not measured
    assert sum(measurement.raw_times) >= 0.05
    assert measurement.median == pytest.approx(statistics.median(measurement.times))


def test_benchmark_timer_synchronises_an_accelerator():
    """Does torch.utils.benchmark's timer synchronise the accelerator before reading the clock?"""
    source = inspect.getsource(benchmark.utils.timer.timer)
    assert "synchronize()" in source


def test_cached_features_train_the_same_head_as_running_the_backbone(tasks):
    """Does a head trained on features cached once under no_grad match a head trained with the
    frozen backbone (in eval mode) running every epoch, given the same seed and batches?"""
    torch.manual_seed(0)
    backbone = DigitsNet().features
    backbone.requires_grad_(False)

    def new_head():
        torch.manual_seed(1)
        return nn.Linear(64, 5)

    head_every = new_head()
    train(
        nn.Sequential(backbone, head_every),
        make_loader(tasks.source_train, seed=0),
        make_loader(tasks.source_test, shuffle=False),
        epochs=3,
        show_progress=False,
        modules_in_eval=[backbone],
    )
    cached_train = cache_features(backbone, make_loader(tasks.source_train, batch_size=256, shuffle=False))
    cached_test = cache_features(backbone, make_loader(tasks.source_test, batch_size=256, shuffle=False))
    assert not cached_train.tensors[0].requires_grad and not cached_train.tensors[0].is_inference()
    head_cached = new_head()
    train(
        head_cached,
        make_loader(cached_train, seed=0),
        make_loader(cached_test, shuffle=False),
        epochs=3,
        show_progress=False,
    )
    assert torch.allclose(head_every.weight, head_cached.weight, rtol=1e-4, atol=1e-6)


def test_bn_in_train_mode_makes_features_uncachable(images):
    """In train mode, do a BatchNorm backbone's features for an image change with the rest of its
    batch, so that cached features would not match?"""
    backbone = DigitsNet().features.requires_grad_(False).train()
    with torch.no_grad():
        assert not torch.equal(backbone(images[:10])[0], backbone(images[[0, *range(20, 29)]])[0])


# --- lesson 06: pitfalls -------------------------------------------------------------------------


@pytest.mark.parametrize("context", [torch.no_grad, torch.inference_mode])
def test_batchnorm_buffers_move_when_frozen_even_without_autograd(images, context):
    """Do a frozen BatchNorm layer's running statistics still change in train mode, even under
    torch.no_grad() or torch.inference_mode(), while its parameters are unchanged?"""
    model = DigitsNet()
    freeze(model.features)
    batchnorm = model.features[1]
    assert [name for name, _ in batchnorm.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in batchnorm.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    model.train()
    mean_before, weight_before = batchnorm.running_mean.clone(), batchnorm.weight.detach().clone()
    with context():
        model(images)
    assert not torch.equal(batchnorm.running_mean, mean_before)
    assert batchnorm.num_batches_tracked.item() == 1
    assert torch.equal(batchnorm.weight, weight_before)


def test_model_train_undoes_an_earlier_eval_of_a_submodule():
    """Does model.train() put every submodule back in train mode, undoing features.eval()?"""
    model = DigitsNet()
    model.features.eval()
    assert not model.features[1].training
    model.train()
    assert model.features[1].training


def test_train_mode_keeps_frozen_batchnorm_in_eval(images):
    """Does train_mode() leave the head in train mode, the frozen BatchNorm layers in eval mode, and
    their running statistics unchanged through a forward and backward pass?"""
    model = DigitsNet()
    freeze(model.features)
    train_mode(model)
    assert set_frozen_batchnorm_eval(model) == ["features.1", "features.4"]
    assert model.head.training and not model.features[1].training and not model.features[4].training
    before = model.features[1].running_mean.clone()
    model(images).sum().backward()
    assert torch.equal(model.features[1].running_mean, before)


def test_frozen_batchnorm2d_has_no_parameters_and_fixed_statistics():
    """Is torchvision's FrozenBatchNorm2d made of buffers only, with statistics that do not move in
    train mode?"""
    layer = torchvision.ops.FrozenBatchNorm2d(16).train()
    assert list(layer.parameters()) == []
    assert [name for name, _ in layer.named_buffers()] == [
        "weight",
        "bias",
        "running_mean",
        "running_var",
    ]
    before = layer.running_mean.clone()
    layer(torch.randn(8, 16, 4, 4) + 3)
    assert torch.equal(layer.running_mean, before)


OPTIMIZERS = {
    "sgd-momentum-weight-decay": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.1),
    "adamw-weight-decay": lambda params: torch.optim.AdamW(params, lr=0.1, weight_decay=0.1),
}


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_optimizers_skip_parameters_whose_grad_is_none(make_optimizer):
    """Given all parameters, do SGD (momentum, weight decay) and AdamW leave a never-trained frozen
    parameter untouched, neither updated nor decayed, and keep no state for it?"""
    net = small_net()
    net[0].requires_grad_(False)
    optimizer = make_optimizer(net.parameters())
    before = net[0].weight.detach().clone()
    for _ in range(3):
        optimizer.zero_grad()
        loss_of(net).backward()
        optimizer.step()
    assert net[0].weight.grad is None
    assert torch.equal(net[0].weight, before)
    assert len(optimizer.state) == 2 and net[0].weight not in optimizer.state


BUILT_IN_OPTIMIZERS = [
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.Adamax,
    torch.optim.Adagrad,
    torch.optim.Adadelta,
    torch.optim.Adafactor,
    torch.optim.RMSprop,
    torch.optim.Rprop,
    torch.optim.ASGD,
]


@pytest.mark.parametrize("optimizer_class", BUILT_IN_OPTIMIZERS, ids=lambda c: c.__name__)
def test_every_dense_optimizer_leaves_a_never_trained_frozen_weight_alone(optimizer_class):
    """Given all parameters, does each dense torch.optim optimizer leave a frozen weight (grad None)
    unchanged, and does only Adagrad keep state for it (set up when it is built)?"""
    net = small_net()
    net[0].requires_grad_(False)
    optimizer = optimizer_class(net.parameters(), lr=0.01)
    before = net[0].weight.detach().clone()
    for _ in range(2):
        optimizer.zero_grad()
        loss_of(net).backward()
        optimizer.step()
    assert torch.equal(net[0].weight, before)
    assert (net[0].weight in optimizer.state) == (optimizer_class is torch.optim.Adagrad)


@pytest.mark.parametrize("optimizer_class", BUILT_IN_OPTIMIZERS, ids=lambda c: c.__name__)
def test_every_dense_optimizer_accepts_parameter_groups_with_their_own_lr(optimizer_class):
    """Does each dense optimizer take a list of parameter groups, each with its own lr, and keep extra
    keys such as 'name'?"""
    net = small_net()
    optimizer = optimizer_class(
        [{"params": net[0].parameters(), "lr": 0.001, "name": "first"}, {"params": net[2].parameters(), "lr": 0.1}],
        lr=0.01,
    )
    assert [group["lr"] for group in optimizer.param_groups] == [0.001, 0.1]
    assert optimizer.param_groups[0]["name"] == "first"


def test_zero_grad_sets_gradients_to_none_by_default():
    """Is set_to_none=True the default of Optimizer.zero_grad, and does set_to_none=False leave
    zeros?"""
    assert inspect.signature(torch.optim.Optimizer.zero_grad).parameters["set_to_none"].default is True
    net = small_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_of(net).backward()
    optimizer.zero_grad(set_to_none=False)
    assert net[0].weight.grad is not None and not net[0].weight.grad.any()
    optimizer.zero_grad()
    assert net[0].weight.grad is None


def _frozen_weight_moves(make_optimizer, set_to_none: bool, rebuild: bool) -> bool:
    net = small_net()
    optimizer = make_optimizer(net.parameters())
    for step in range(6):
        if step == 3:
            net[0].requires_grad_(False)
            if rebuild:
                optimizer = make_optimizer([p for p in net.parameters() if p.requires_grad])
                assert len(optimizer.state) == 0
            before = net[0].weight.detach().clone()
        optimizer.zero_grad(set_to_none=set_to_none)
        loss_of(net).backward()
        optimizer.step()
    return not torch.equal(net[0].weight, before)


LATE_OPTIMIZERS = {
    "sgd-momentum": lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9),
    "adam": lambda params: torch.optim.Adam(params, lr=0.1),
}


@pytest.mark.parametrize("make_optimizer", LATE_OPTIMIZERS.values(), ids=LATE_OPTIMIZERS.keys())
def test_freezing_late_with_zero_filled_grads_keeps_moving_the_weight(make_optimizer):
    """After freezing mid-training, does the weight keep moving only when zero_grad leaves zeros in
    place and the old optimizer is kept, and stay put with set_to_none=True or a rebuilt
    optimizer?"""
    assert _frozen_weight_moves(make_optimizer, set_to_none=False, rebuild=False)
    assert not _frozen_weight_moves(make_optimizer, set_to_none=True, rebuild=False)
    assert not _frozen_weight_moves(make_optimizer, set_to_none=False, rebuild=True)


def test_freezing_late_with_grads_set_to_none_keeps_the_old_optimizer_and_its_momentum():
    """Does zero_grad(set_to_none=False) leave a None gradient None, so that a layer frozen mid-training
    whose .grad was set to None stays put under the same momentum SGD, while the others keep their
    momentum and train (lesson 06, exercise 1)?"""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    inputs, targets = torch.randn(16, 8), torch.randint(0, 3, (16,))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=False)
        nn.functional.cross_entropy(net(inputs), targets).backward()
        optimizer.step()

    for _ in range(3):
        step()
    net[0].requires_grad_(False)
    for param in net[0].parameters():
        param.grad = None
    momentum = optimizer.state[net[2].weight]["momentum_buffer"].clone()
    frozen, trained = net[0].weight.detach().clone(), net[2].weight.detach().clone()
    optimizer.zero_grad(set_to_none=False)
    assert net[0].weight.grad is None                        # None stays None
    for _ in range(5):
        step()
    assert torch.equal(net[0].weight, frozen) and net[0].weight.grad is None
    assert not torch.equal(net[2].weight, trained)
    assert not torch.equal(optimizer.state[net[2].weight]["momentum_buffer"], momentum)   # kept, and moving


def test_state_dict_does_not_carry_requires_grad():
    """Are the tensors of a saved state dict all requires_grad=False, does loading it into a fresh
    model leave everything trainable, and does loading into a frozen model keep that model's
    flags?"""
    frozen = DigitsNet()
    freeze(frozen.features)
    buffer = io.BytesIO()
    torch.save(frozen.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer)
    assert {value.requires_grad for value in state.values()} == {False}
    fresh = DigitsNet()
    fresh.load_state_dict(state)
    assert count_parameters(fresh).frozen == 0
    refrozen = DigitsNet()
    freeze(refrozen.features)
    refrozen.load_state_dict(state)
    assert count_parameters(refrozen) == count_parameters(frozen)
    assert torch.equal(refrozen.features[0].weight, frozen.features[0].weight)


def test_a_pickled_module_keeps_its_flags_but_needs_weights_only_false():
    """Does torch.save(model) keep requires_grad, while the default torch.load (weights_only=True)
    refuses to unpickle the module?"""
    frozen = DigitsNet()
    freeze(frozen.features)
    buffer = io.BytesIO()
    torch.save(frozen, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer)
    buffer.seek(0)
    unpickled = torch.load(buffer, weights_only=False)
    assert count_parameters(unpickled) == count_parameters(frozen)
    assert count_parameters(unpickled).frozen > 0


def test_no_grad_records_no_graph_while_requires_grad_false_freezes_only_some(images):
    """Does a partly frozen model still record a graph for its trainable part, while under no_grad
    the output has no grad_fn although the parameters still require gradients?"""
    net = DigitsNet().eval()
    freeze(net.features)
    out = net(images)
    assert out.requires_grad and out.grad_fn is not None
    with torch.no_grad():
        out = net(images)
    assert not out.requires_grad and out.grad_fn is None and net.head.weight.requires_grad


def test_inference_tensors_cannot_be_saved_for_backward(images):
    """Are tensors made under inference_mode inference tensors that a trainable layer cannot use in
    backward, unless cloned?"""
    net = DigitsNet().eval()
    with torch.inference_mode():
        features = net.features(images)
    assert features.is_inference()
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
        net.head(features).sum().backward()
    net.head(features.clone()).sum().backward()
    assert net.head.weight.grad is not None


def test_no_grad_does_not_switch_to_eval_mode():
    """Does torch.no_grad() leave a module's training flag alone?"""
    model = DigitsNet().train()
    with torch.no_grad():
        model(torch.randn(4, 1, 8, 8))
    assert model.training and model.features[1].training


def test_freeze_to_unfreezes_from_the_top():
    """Does freeze_to(blocks, -k) leave exactly the last k blocks trainable, as fastai's freeze_to
    does?"""
    resnet = build_model("resnet18", num_classes=5)
    blocks = [
        nn.ModuleList([resnet.conv1, resnet.bn1]),
        resnet.layer1,
        resnet.layer2,
        resnet.layer3,
        resnet.layer4,
        resnet.fc,
    ]
    for stage in range(1, len(blocks) + 1):
        freeze_to(blocks, -stage)
        for index, block in enumerate(blocks):
            assert all(p.requires_grad == (index >= len(blocks) - stage) for p in block.parameters())


def test_unfrozen_parameters_need_to_be_added_to_the_optimizer(images, tasks):
    """After unfreezing a block, does it get gradients but stay unchanged until it is added to the
    optimizer with add_param_group?"""
    torch.manual_seed(0)
    net = DigitsNet()
    blocks = [net.features[:7], net.features[7:], net.head]
    freeze_to(blocks, -1)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.1)
    freeze_to(blocks, -2)
    hidden = net.features[8]
    before = hidden.weight.detach().clone()
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(images), tasks.target_train.tensors[1]).backward()
    optimizer.step()
    assert hidden.weight.grad is not None and torch.equal(hidden.weight, before)
    optimizer.add_param_group({"params": list(net.features[7:].parameters()), "lr": 0.01})
    optimizer.step()
    assert not torch.equal(hidden.weight, before)


def test_each_parameter_group_gets_its_own_learning_rate():
    """With identical gradients of ones, does one plain SGD step change every number of each group
    by exactly that group's lr, and does the optimizer keep extra keys such as 'name'?"""
    torch.manual_seed(0)
    net = DigitsNet()
    blocks = [net.features[0:3], net.features[3:7], net.features[7:], net.head]
    names = ["conv1", "conv2", "hidden", "head"]
    optimizer = torch.optim.SGD(discriminative_param_groups(blocks, 1e-4, 1e-2, names=names))
    assert [group["name"] for group in optimizer.param_groups] == names
    before = [[p.detach().clone() for p in group["params"]] for group in optimizer.param_groups]
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    for group, old in zip(optimizer.param_groups, before, strict=True):
        changes = torch.cat([(o - p.detach()).flatten() for o, p in zip(old, group["params"], strict=True)])
        assert torch.allclose(changes, torch.full_like(changes, group["lr"]), rtol=1e-3, atol=1e-9)


def test_count_backward_nodes_is_zero_without_a_graph():
    """Does a tensor computed without any gradient-requiring input have an empty backward graph?"""
    with torch.no_grad():
        out = nn.Linear(3, 2)(torch.randn(4, 3))
    assert count_backward_nodes(out) == 0
    assert count_backward_nodes(nn.Linear(3, 2)(torch.randn(4, 3)).sum()) > 0


def test_tensor_dataset_of_cached_features_keeps_labels_aligned(tasks):
    """Does cache_features keep each feature row next to its own label, in the loader's order?"""
    backbone = nn.Flatten()
    cached = cache_features(backbone, make_loader(tasks.target_test, batch_size=32, shuffle=False))
    assert isinstance(cached, TensorDataset)
    images, labels = tasks.target_test.tensors
    assert torch.equal(cached.tensors[0], images.flatten(1)) and torch.equal(cached.tensors[1], labels)


def test_eval_mode_and_frozen_batchnorm2d_agree_and_train_bn_stays_within_the_spread():
    """On lesson 04's task (frozen GlyphNet backbone, 10 labels per digit, 5 seeds), do eval-mode
    BatchNorm and FrozenBatchNorm2d give the same accuracy in every seed, and fastai's train_bn a
    mean within the seed-to-seed spread of eval mode, as lesson 06 says, and are these the figures
    lesson 06 has stored?"""
    from freezelab.learning_curve import BATCHNORM_CHOICES, load_batchnorm, run_frozen_batchnorm, with_frozen_batchnorm
    from freezelab.pretrained import glyphnet

    results = {c: [run_frozen_batchnorm(c, 10, seed).test_accuracy for seed in range(5)] for c in BATCHNORM_CHOICES}
    stored = load_batchnorm()                 # the figures lesson 06 plots: the same, within a test image or so
    assert list(stored) == list(BATCHNORM_CHOICES)
    for choice, values in results.items():
        assert all(abs(new - old) < 0.01 for new, old in zip(values, stored[choice].accuracies, strict=True)), choice
    assert results["eval mode"] == results["FrozenBatchNorm2d"]
    spread = max(results["eval mode"]) - min(results["eval mode"])
    mean = {c: statistics.fmean(v) for c, v in results.items()}
    assert abs(mean["train_bn (fastai)"] - mean["eval mode"]) < spread
    assert results["train_bn (fastai)"] != results["eval mode"]         # it does change something
    swapped = with_frozen_batchnorm(glyphnet().features)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in swapped.modules())
    layers_with_weights = [m for m in swapped.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    assert sum(p.numel() for p in swapped.parameters()) == \
        sum(p.numel() for m in layers_with_weights for p in m.parameters())  # no BatchNorm parameter left
    assert sum(isinstance(m, torchvision.ops.FrozenBatchNorm2d) for m in swapped.modules()) == 3

"""Every factual PyTorch claim of lessons 00-03, checked outside the notebooks.

The notebooks assert these claims too, where they make them; this file keeps them checked by the
fast part of the suite, so a new torch or torchvision that changes a behaviour fails here with a
clear name instead of deep inside a notebook run. Counts are computed from the architectures
(``in_features * classes + classes``) rather than copied from a printout.
"""

from __future__ import annotations

import re
import socket
from collections import OrderedDict
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from freezelab.data import digit_tasks, make_loader
from freezelab.models import DigitsNet, build_model, load_pretrained
from freezelab.params import block_summary, count_parameters, count_trainable_parameters, trainable_parameter_names
from freezelab.paths import SOLUTIONS_DIR
from freezelab.training import train

NUM_CLASSES = 5
LESSONS = ["00-start-here", "01-why-freeze", "02-freezing-in-code", "03-freezing-real-models"]


def lesson_model() -> nn.Sequential:
    """Lesson 02's network: Linear(10, 6), ReLU, Linear(6, 4), ReLU, Linear(4, 2)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))


def quiz_snippet_model() -> nn.Sequential:
    """The network of the seed lesson's question 3 (practice quiz): Linear(10, 5), ReLU, Linear(5, 2).
    Lesson 02 teaches on another one, so that the quiz is not answered by a cell a few lines above it."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 10, generator=generator), torch.randint(0, 2, (16,), generator=generator)


def one_sgd_step(model: nn.Module, parameters=None) -> None:
    inputs, targets = batch()
    optimizer = torch.optim.SGD(model.parameters() if parameters is None else parameters, lr=0.5)
    nn.functional.cross_entropy(model(inputs), targets).backward()
    optimizer.step()


# --- 00: start here -----------------------------------------------------------------------------

def test_linear_3_to_2_holds_eight_numbers():
    """Does nn.Linear(3, 2) hold a 2x3 weight and a bias of 2, eight numbers in all?"""
    layer = nn.Linear(3, 2)
    assert tuple(layer.weight.shape) == (2, 3) and tuple(layer.bias.shape) == (2,)
    assert sum(p.numel() for p in layer.parameters()) == 2 * 3 + 2


def _relative_links(notebook_path: Path) -> list[str]:
    notebook = nbformat.read(notebook_path, as_version=4)
    text = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    return [link for link in re.findall(r"\]\(([^)\s]+\.ipynb)\)", text) if "://" not in link]


@pytest.mark.parametrize("lesson", LESSONS)
def test_every_notebook_link_of_the_lessons_leads_to_a_notebook(lesson):
    """Does every relative .ipynb link in lessons 00-03 point to a notebook of the course?"""
    path = SOLUTIONS_DIR / "lessons" / f"{lesson}.ipynb"
    links = _relative_links(path)
    missing = [link for link in links if not (path.parent / link).resolve().exists()]
    assert not missing, f"{lesson} links to notebooks that do not exist: {missing}"


def test_the_start_page_links_every_notebook_of_the_course_in_order():
    """Does the start page's map link 01 to 07 in order, then both graded assignments?"""
    links = _relative_links(SOLUTIONS_DIR / "lessons" / "00-start-here.ipynb")
    numbered = [link for link in links if re.match(r"0\d-", link)]
    assert [link[:2] for link in numbered] == ["01", "02", "03", "04", "05", "06", "07"]
    assert "../freeze-it-yourself/freeze-it-yourself.ipynb" in links
    assert "../mastery-quiz/mastery-quiz.ipynb" in links


def test_the_start_page_describes_lesson_04_as_it_is():
    """Does the map's row for lesson 04 describe GlyphNet reused on handwritten digits (the lesson as it
    is), not the old split of the digits into 0-4 and 5-9?"""
    start = nbformat.read(SOLUTIONS_DIR / "lessons" / "00-start-here.ipynb", as_version=4)
    row = next(line for cell in start.cells if cell.cell_type == "markdown" for line in cell.source.splitlines()
               if "04-transfer-for-real.ipynb" in line)
    assert "GlyphNet" in row and "printed characters" in row and "handwritten digits" in row
    assert "0–4" not in row and "5–9" not in row
    lesson = nbformat.read(SOLUTIONS_DIR / "lessons" / "04-transfer-for-real.ipynb", as_version=4)
    lesson_text = " ".join(cell.source for cell in lesson.cells)
    assert "printed characters" in lesson_text and "augmentation" in lesson_text.lower()


# --- 01: why freeze -----------------------------------------------------------------------------

def test_vgg11_is_features_then_classifier():
    """Is torchvision's VGG-11 made of features, avgpool and classifier?"""
    assert [name for name, _ in build_model("vgg11").named_children()] == ["features", "avgpool",
                                                                           "classifier"]


def test_every_parameter_of_a_new_model_is_trainable():
    """Does a freshly built model start with requires_grad=True on every parameter?"""
    assert all(p.requires_grad for p in build_model("vgg11").parameters())
    assert all(p.requires_grad for p in lesson_model().parameters())


def test_freezing_vgg_features_freezes_exactly_the_features():
    """After the lesson's loop over vgg.features, are the features frozen and the classifier not?"""
    vgg = build_model("vgg11")
    total = count_parameters(vgg).total
    for param in vgg.features.parameters():
        param.requires_grad = False
    counts = count_parameters(vgg)
    assert counts.total == total
    assert counts.frozen == count_parameters(vgg.features).total
    assert counts.trainable == count_parameters(vgg.classifier).total


def test_vgg_features_hold_few_parameters_but_most_of_the_arithmetic():
    """Do VGG-11's features hold under 10% of its parameters but do over 90% of the FLOPs?"""
    vgg = build_model("vgg11")
    with FlopCounterMode(display=False) as counter:
        vgg(torch.empty(1, 3, 224, 224, device="meta"))
    flop_share = sum(counter.get_flop_counts()["VGG.features"].values()) / counter.get_total_flops()
    parameter_share = count_parameters(vgg.features).total / count_parameters(vgg).total
    assert flop_share > 0.9 > 0.1 > parameter_share


def test_frozen_prefix_records_no_graph():
    """Does a frozen first block, fed an input without grad, produce an output without grad_fn?"""
    vgg = build_model("vgg11")
    vgg.features.requires_grad_(False)
    images = torch.empty(1, 3, 224, 224, device="meta")
    assert vgg.features(images).grad_fn is None
    assert vgg(images).requires_grad


def test_a_frozen_middle_layer_still_passes_gradients_to_earlier_layers():
    """With only the middle layer frozen, does the first layer still get a gradient?"""
    sandwich = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1))
    sandwich[1].requires_grad_(False)
    sandwich(torch.randn(8, 4)).sum().backward()
    assert sandwich[0].weight.grad is not None
    assert sandwich[1].weight.grad is None
    assert sandwich[2].weight.grad is not None


def test_training_leaves_frozen_parameters_bit_identical_but_not_batchnorm_buffers():
    """Training with frozen features: are they unchanged, while head and BN statistics change?"""
    torch.manual_seed(0)
    tasks = digit_tasks(labels_per_class=10, seed=0)
    net = DigitsNet(num_classes=5)
    net.features.requires_grad_(False)
    features_before = {n: p.detach().clone() for n, p in net.features.named_parameters()}
    head_before = net.head.weight.detach().clone()
    train(net, make_loader(tasks.target_train, batch_size=16),
          make_loader(tasks.target_test, shuffle=False), epochs=2, show_progress=False)
    assert all(torch.equal(p, features_before[n]) for n, p in net.features.named_parameters())
    assert not torch.equal(net.head.weight, head_before)
    running_mean = net.features[1].running_mean
    assert not torch.equal(running_mean, torch.zeros_like(running_mean))


def test_digitsnet_starts_with_a_convolution_and_its_batchnorm():
    """Is DigitsNet's first block features[0] (a convolution on the pixels) and features[1] (its
    BatchNorm, with a weight and a bias), so that freezing features[:2] leaves the rest training?"""
    net = DigitsNet(num_classes=3)
    assert isinstance(net.features[0], nn.Conv2d) and net.features[0].in_channels == 1
    assert isinstance(net.features[1], nn.BatchNorm2d) and len(list(net.features[1].parameters())) == 2
    for layer in net.features[:2]:
        for param in layer.parameters():
            param.requires_grad = False
    assert trainable_parameter_names(net) == ["features.3.weight", "features.3.bias", "features.4.weight",
                                              "features.4.bias", "features.8.weight", "features.8.bias",
                                              "head.weight", "head.bias"]


def test_photo_app_freezes_the_first_four_convolutions_of_vgg():
    """Does vgg.features[:11] hold the first four convolutions, is a new last layer trainable?"""
    vgg = build_model("vgg11")
    for layer in vgg.features[:11]:
        layer.requires_grad_(False)
    vgg.classifier[-1] = nn.Linear(4096, 3, device="meta")
    frozen = sorted({name.rsplit(".", 1)[0] for name, p in vgg.named_parameters()
                     if not p.requires_grad})
    assert frozen == ["features.0", "features.3", "features.6", "features.8"]
    assert all(p.requires_grad for p in vgg.classifier[-1].parameters())
    assert count_parameters(vgg).trainable > 0.9 * count_parameters(vgg).total


def test_pretrained_resnet_with_a_new_head_trains_only_the_head(monkeypatch, tmp_path):
    """Offline, does load_pretrained say it fell back, and does freeze-then-new-fc train only fc?"""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(socket, "create_connection", refuse)
    result = load_pretrained("resnet18", timeout=2.0)
    assert result.pretrained is False and "RANDOM" in result.message
    model = result.model
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 3)
    assert count_trainable_parameters(model) == 512 * 3 + 3


# --- 02: freezing in code -----------------------------------------------------------------------

def test_lesson_model_parameter_names_skip_the_relus():
    """Are the parameters named 0.weight ... 4.bias, with no 1.* or 3.* (the ReLUs own none)?"""
    model = lesson_model()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert list(model[1].parameters()) == [] and list(model[3].parameters()) == []


def test_lesson_model_has_six_tensors_and_104_numbers():
    """Does the lesson model hold 6 parameter tensors with (10*6+6) + (6*4+4) + (4*2+2) = 104 numbers?"""
    model = lesson_model()
    assert len(list(model.parameters())) == 6
    assert sum(p.numel() for p in model.parameters()) == (10 * 6 + 6) + (6 * 4 + 4) + (4 * 2 + 2) == 104


def test_indexing_returns_the_layer_itself():
    """Is model[0] the same object as get_submodule('0'), holding the very tensor named 0.weight?"""
    model = lesson_model()
    assert model[0] is model.get_submodule("0")
    assert model[0].weight is dict(model.named_parameters())["0.weight"]


def test_freezing_model0_leaves_two_trainable_tensors_in_the_quiz_snippet():
    """Does the seed lesson's snippet (question 3) print 2, with 12 trainable and 55 frozen numbers?"""
    model = quiz_snippet_model()
    for param in model[0].parameters():
        param.requires_grad = False
    trainable_params = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable_params) == 2
    assert sum(p.numel() for p in trainable_params) == 5 * 2 + 2
    assert count_parameters(model).frozen == 10 * 5 + 5


def test_freezing_model0_of_the_lesson_model_leaves_four_trainable_tensors():
    """In lesson 02's network, does freezing model[0] leave 4 tensors, 38 trainable and 66 frozen numbers?"""
    model = lesson_model()
    for param in model[0].parameters():
        param.requires_grad = False
    trainable_params = [p for p in model.parameters() if p.requires_grad]
    assert len(trainable_params) == 4
    assert sum(p.numel() for p in trainable_params) == (6 * 4 + 4) + (4 * 2 + 2) == 38
    assert count_parameters(model).frozen == 10 * 6 + 6 == 66
    assert trainable_parameter_names(model) == ["2.weight", "2.bias", "4.weight", "4.bias"]


def test_lesson_02_does_not_run_the_practice_quiz_snippet_before_the_quiz():
    """Does no code cell of lesson 02 build the quiz's Linear(10, 5), ReLU, Linear(5, 2) network?"""
    notebook = nbformat.read(SOLUTIONS_DIR / "lessons" / "02-freezing-in-code.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "nn.Linear(10, 5)" not in code and "nn.Linear(5, 2)" not in code


def test_requires_grad_method_sets_every_parameter_and_returns_the_module():
    """Does Module.requires_grad_(flag) set the flag on all its parameters and return the module?"""
    model = lesson_model()
    assert model.requires_grad_(False) is model
    assert count_trainable_parameters(model) == 0
    model[0].requires_grad_(True)
    assert trainable_parameter_names(model) == ["0.weight", "0.bias"]
    layer = nn.Linear(3, 3).requires_grad_(False)
    assert not any(p.requires_grad for p in layer.parameters())


def test_frozen_parameter_gets_no_gradient_and_survives_a_step_bit_for_bit():
    """Given to the optimizer anyway, is a frozen parameter's grad None and its value unchanged?"""
    model = lesson_model()
    model[0].requires_grad_(False)
    frozen_before = model[0].weight.detach().clone()
    trainable_before = model[2].weight.detach().clone()
    one_sgd_step(model)  # the optimizer gets ALL parameters
    assert model[0].weight.grad is None and model[0].bias.grad is None
    assert model[2].weight.grad is not None
    assert torch.equal(model[0].weight, frozen_before)
    assert not torch.equal(model[2].weight, trainable_before)


def test_optimizer_given_filtered_parameters_holds_only_trainable_ones():
    """Does an optimizer built from the requires_grad filter hold exactly the trainable tensors?"""
    model = lesson_model()
    model[0].requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    held = [p for group in optimizer.param_groups for p in group["params"]]
    assert len(held) == 4 and all(p.requires_grad for p in held)


def test_setting_requires_grad_on_a_module_does_nothing():
    """Does setting model.requires_grad = False on a module leave every parameter trainable?"""
    model = lesson_model()
    model.requires_grad = False
    assert "requires_grad" in vars(model)  # a plain Python attribute, nothing more
    assert all(p.requires_grad for p in model.parameters())
    before = model[0].weight.detach().clone()
    one_sgd_step(model)
    assert not torch.equal(model[0].weight, before)


def test_assigning_a_boolean_to_grad_raises_type_error():
    """Does param.grad = False raise TypeError, because .grad must be a tensor or None?"""
    param = lesson_model()[0].weight
    with pytest.raises(TypeError, match="Tensor or None"):
        param.grad = False


def test_zero_grad_sets_grad_to_none_by_default():
    """Does optimizer.zero_grad() leave .grad as None (set_to_none defaults to True)?"""
    model = lesson_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    inputs, targets = batch()
    nn.functional.cross_entropy(model(inputs), targets).backward()
    assert model[0].weight.grad is not None
    optimizer.zero_grad()
    assert model[0].weight.grad is None


def test_setting_grad_to_none_does_not_freeze():
    """After param.grad = None, does the next backward still compute a gradient for it?"""
    model = lesson_model()
    for param in model[0].parameters():
        param.grad = None
    inputs, targets = batch()
    nn.functional.cross_entropy(model(inputs), targets).backward()
    assert model[0].weight.requires_grad and model[0].weight.grad is not None


def test_modules_have_no_freeze_method():
    """Does a plain nn.Module lack a freeze() method (AttributeError)?"""
    with pytest.raises(AttributeError, match="freeze"):
        lesson_model().freeze()


def test_freezing_everything_breaks_backward_and_the_filtered_optimizer():
    """All frozen: does backward raise RuntimeError and a filtered optimizer ValueError?"""
    model = lesson_model().requires_grad_(False)
    inputs, targets = batch()
    loss = nn.functional.cross_entropy(model(inputs), targets)
    assert not loss.requires_grad and loss.grad_fn is None
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        loss.backward()
    with pytest.raises(ValueError, match="empty parameter list"):
        torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)


def test_unfreezing_the_head_makes_both_errors_go_away():
    """After wrong[-1].requires_grad_(True), do backward and the filtered optimizer work again?"""
    model = lesson_model().requires_grad_(False)
    model[-1].requires_grad_(True)
    one_sgd_step(model, [p for p in model.parameters() if p.requires_grad])
    assert model[-1].weight.grad is not None


def _freeze_all_but_last(net: nn.Sequential) -> nn.Sequential:
    """Lesson 02's exercise 1, as its master solves it."""
    last = [layer for layer in net if any(True for _ in layer.parameters())][-1]
    net.requires_grad_(False)
    last.requires_grad_(True)
    return net


def test_the_last_layer_of_a_sequential_is_not_always_the_one_with_parameters():
    """Do activations and Dropout own no parameters, so that freezing all but the last layer with
    parameters leaves the Linear before them training (and restarts it when it was frozen)?"""
    for ending in (nn.LogSoftmax(dim=1), nn.ReLU(), nn.Dropout(0.1), nn.Softmax(dim=1)):
        assert list(ending.parameters()) == []
    net = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 3), nn.Dropout(0.1)).requires_grad_(False)
    assert trainable_parameter_names(_freeze_all_but_last(net)) == ["2.weight", "2.bias"]


def test_per_layer_counts_leave_out_layers_without_parameters():
    """Does the per-block summary list the ReLUs with no parameters, a frozen layer with 0 trainable?"""
    model = lesson_model()
    model[0].requires_grad_(False)
    rows = {row.name: row.counts for row in block_summary(model)}
    assert rows["1"].total == 0 and rows["3"].total == 0
    assert (rows["0"].trainable, rows["2"].trainable, rows["4"].trainable) == (0, 6 * 4 + 4, 4 * 2 + 2)


def test_freezing_two_layers_out_of_three_by_name():
    """In a Sequential from an OrderedDict, does freezing layer1 and layer2 leave only layer3?"""
    three = nn.Sequential(OrderedDict(layer1=nn.Linear(8, 16), act1=nn.ReLU(),
                                      layer2=nn.Linear(16, 16), act2=nn.ReLU(),
                                      layer3=nn.Linear(16, 3)))
    assert three[0] is three.layer1
    for layer in [three.layer1, three.layer2]:
        layer.requires_grad_(False)
    assert trainable_parameter_names(three) == ["layer3.weight", "layer3.bias"]
    assert count_trainable_parameters(three) == 16 * 3 + 3


# --- 03: freezing real models -------------------------------------------------------------------

def test_meta_parameters_have_shape_and_flag_but_no_storage():
    """On the meta device, does a parameter keep its shape and requires_grad?"""
    weight = build_model("resnet18").conv1.weight
    assert weight.is_meta and weight.requires_grad and tuple(weight.shape) == (64, 3, 7, 7)


def test_a_new_layer_is_trainable_and_lands_on_the_default_device():
    """Is a new nn.Linear trainable, on the CPU unless told otherwise, on meta with device=?"""
    assert all(p.requires_grad for p in nn.Linear(512, NUM_CLASSES).parameters())
    assert nn.Linear(512, NUM_CLASSES).weight.device.type == "cpu"
    assert nn.Linear(512, NUM_CLASSES, device="meta").weight.is_meta


def _freeze_and_replace(model: nn.Module, head_path: str, classes: int = NUM_CLASSES) -> nn.Module:
    model.requires_grad_(False)
    old = model.get_submodule(head_path)
    model.set_submodule(head_path, nn.Linear(old.in_features, classes, device=old.weight.device))
    return model


@pytest.mark.parametrize(("name", "children", "head_path", "in_features"), [
    ("resnet18", ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                  "avgpool", "fc"], "fc", 512),
    ("vgg11", ["features", "avgpool", "classifier"], "classifier.6", 4096),
    ("mobilenet_v3_large", ["features", "avgpool", "classifier"], "classifier.3", 1280),
    ("vit_b_16", ["conv_proj", "encoder", "heads"], "heads.head", 768),
])
def test_the_recipe_trains_only_the_new_head(name, children, head_path, in_features):
    """Freeze all, replace the head: does only the new head train, with in*5+5 parameters?"""
    model = build_model(name)
    assert [child for child, _ in model.named_children()] == children
    linears = [path for path, module in model.named_modules() if isinstance(module, nn.Linear)]
    assert linears[-1] == head_path
    old_head = model.get_submodule(head_path)
    assert (old_head.in_features, old_head.out_features) == (in_features, 1000)
    _freeze_and_replace(model, head_path)
    assert trainable_parameter_names(model) == [f"{head_path}.weight", f"{head_path}.bias"]
    counts = count_parameters(model)
    assert counts.trainable == in_features * NUM_CLASSES + NUM_CLASSES
    assert counts.trainable_fraction < 0.01  # "only a tiny fraction trains"


def test_resnet18_head_for_five_classes_has_2565_parameters():
    """Does ResNet-18's new fc for 5 classes have 512*5+5 = 2,565 parameters?"""
    model = _freeze_and_replace(build_model("resnet18"), "fc")
    assert count_trainable_parameters(model) == 512 * 5 + 5 == 2_565


def test_replacing_the_head_before_freezing_freezes_it_too():
    """New head first, then requires_grad_(False): is nothing left to train?"""
    model = build_model("resnet18")
    model.fc = nn.Linear(512, NUM_CLASSES, device="meta")
    model.requires_grad_(False)
    assert count_trainable_parameters(model) == 0


def test_vit_owns_a_class_token_that_freezing_children_misses():
    """Does ViT-B/16 own class_token (its encoder pos_embedding), missed child by child?"""
    vit = build_model("vit_b_16")
    assert [name for name, _ in vit.named_parameters(recurse=False)] == ["class_token"]
    assert [name for name, _ in vit.encoder.named_parameters(recurse=False)] == ["pos_embedding"]
    for child in vit.children():
        child.requires_grad_(False)
    assert trainable_parameter_names(vit) == ["class_token"]
    vit.requires_grad_(False)
    assert count_trainable_parameters(vit) == 0


def test_resnet18_channels_double_and_layer4_holds_most_parameters():
    """Do ResNet-18's stages have 64, 128, 256, 512 channels, layer4 holding most parameters?"""
    model = build_model("resnet18")
    widths = [model.get_submodule(f"layer{i}")[-1].conv2.out_channels for i in range(1, 5)]
    assert widths == [64, 128, 256, 512]
    assert count_parameters(model.layer4).total > 0.5 * count_parameters(model).total


def test_finetuning_layer4_multiplies_the_trainable_parameters_by_over_three_thousand():
    """Does training layer4 + a new fc give 8,396,293 trainable, x3,273 the 2,565 of the head alone?"""
    head_only = _freeze_and_replace(build_model("resnet18"), "fc")
    finetune = _freeze_and_replace(build_model("resnet18"), "fc")
    finetune.layer4.requires_grad_(True)
    trainable = count_trainable_parameters(finetune)
    assert trainable == count_parameters(finetune.layer4).total + 512 * NUM_CLASSES + NUM_CLASSES
    assert {name.split(".")[0] for name in trainable_parameter_names(finetune)} == {"layer4", "fc"}
    assert (count_trainable_parameters(head_only), trainable) == (2_565, 8_396_293)
    assert round(trainable / count_trainable_parameters(head_only)) == 3_273


def test_resnet18_batchnorm_layers_sit_inside_its_stages():
    """Are most of ResNet-18's 20 BatchNorm layers nested inside layer1..layer4, out of reach of
    named_children() but reached by modules(), and does train_bn with a new head train exactly them?"""
    model = build_model("resnet18")
    batchnorms = [name for name, module in model.named_modules() if isinstance(module, nn.BatchNorm2d)]
    assert len(batchnorms) == 20
    assert [name for name, child in model.named_children() if isinstance(child, nn.BatchNorm2d)] == ["bn1"]
    model.requires_grad_(False)
    for layer in model.modules():
        if isinstance(layer, nn.BatchNorm2d):
            layer.requires_grad_(True)
    model.fc = nn.Linear(512, 10, device="meta")
    batchnorm_numbers = sum(p.numel() for name in batchnorms for p in model.get_submodule(name).parameters())
    assert count_trainable_parameters(model) == batchnorm_numbers + 512 * 10 + 10


def test_vit_encoder_ends_with_a_layer_norm_after_its_last_block():
    """Does ViT-B/16's encoder end with ln, a LayerNorm over the 768 features, after its layers?"""
    vit = build_model("vit_b_16")
    assert [name for name, _ in vit.encoder.named_children()] == ["dropout", "layers", "ln"]
    assert isinstance(vit.encoder.ln, nn.LayerNorm) and vit.encoder.ln.normalized_shape == (768,)


def test_vit_encoder_layers_index_to_the_last_block():
    """Is vit.encoder.layers a Sequential whose [-1] is encoder_layer_11?"""
    vit = build_model("vit_b_16")
    assert isinstance(vit.encoder.layers, nn.Sequential)
    assert vit.encoder.layers[-1] is vit.encoder.layers.encoder_layer_11


def test_every_common_mistake_of_the_seed_lesson_is_named_in_the_quiz_bank():
    """Does each "Common Mistakes" bullet of the seed lesson appear, verbatim, in an explanation of
    the question it belongs to?"""
    import yaml

    seed = (Path(__file__).parent / "files" / "quiz-source-lesson.txt").read_text(encoding="utf-8")
    blocks = re.split(r"\n\d\. ", seed)[1:]          # one block per practice question, in order
    mistakes_per_question = [re.findall(r"•\s*(.+)", block.split("Common Mistakes:")[1]) for block in blocks]
    assert [len(m) for m in mistakes_per_question] == [3, 3, 3, 3, 3]
    bank = yaml.safe_load((Path(__file__).parents[1] / "quizzes" / "questions.yaml").read_text(encoding="utf-8"))
    lesson_questions = sorted((q for q in bank["questions"] if q.get("origin", {}).get("source") == "lesson"),
                              key=lambda q: q["origin"]["number"])
    assert len(lesson_questions) == 5
    for question, mistakes in zip(lesson_questions, mistakes_per_question, strict=True):
        explanations = " ".join(option["explanation"] for option in question["options"])
        for mistake in mistakes:
            assert f'"{mistake.strip()}"' in explanations, (question["id"], mistake)

"""The hidden tests of ``freeze-it-yourself`` as data: the cases each task is tried on.

A case names a model (a torchvision architecture, built on ``meta``, or a small *recipe* of layers
whose names are traps: ``layer1`` beside ``layer10``, ``head`` beside ``head_extra``), the parameters
frozen before the call, the arguments, and whether a real optimizer step follows. The cases differ
per learner: :func:`cases_for` draws them from the learner id, the assignment and a secret kept in the
class's state folder (so a regrade draws the same cases, and nobody can draw them in advance), and
they include architectures the assignment never names. :func:`default_cases` is the draw without a
learner, used when a hidden test runs outside the course's autograder (stock nbgrader, validate).

This module decides nothing: :mod:`freezelab.grading.verdicts` judges what
:mod:`freezelab.grading.probe` reports.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import random
import secrets
from pathlib import Path

TOLD = ["resnet18", "vgg11", "mobilenet_v3_small", "efficientnet_b0", "vit_b_16"]
"""The architectures the assignment's text names."""
UNTOLD = [
    "resnet34",
    "resnext50_32x4d",
    "vgg11_bn",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b1",
    "densenet121",
    "convnext_tiny",
    "shufflenet_v2_x0_5",
    "squeezenet1_0",
    "mnasnet0_5",
    "swin_t",
    "vit_b_32",
    "maxvit_t",
]
"""Architectures the learner is not told about: counts learned by heart and class-name cases fail."""
WITH_BATCHNORM = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "vgg11_bn", "densenet121", "mnasnet0_5"]

# Children of the recipes: the trap names of every wrong answer that matches names by prefix.
BATCHNORMS = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"]
SECRET_FILE = "grading-secret"


def _rng(*parts: str, secret: bytes = b"") -> random.Random:
    digest = hmac.new(secret, "/".join(parts).encode(), hashlib.sha256).hexdigest()
    return random.Random(int(digest[:16], 16))


def class_secret(state_dir: Path) -> bytes:
    """The class's secret (created once, readable only by the grader; never inside the sandbox)."""
    path = Path(state_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


# ------------------------------------------------------------------------------------------ recipes


def recipe(rng: random.Random, batchnorm: str | None = None, width: int = 6) -> dict:
    """A small model whose child names are prefixes of each other, with a parameter held directly."""
    norm = batchnorm or rng.choice(BATCHNORMS)
    w = width

    def block(kind: str) -> dict:
        return {"seq": [["0", ["Linear", w, w]], ["1", [kind, w]], ["2", ["ReLU"]]]}

    children = [
        ["stem", {"seq": [["0", ["Linear", w, w]], ["1", ["LayerNorm", w]]]}],
        ["layer1", block(norm)],
        ["layer10", block(rng.choice(BATCHNORMS))],
        ["layer1_extra", {"seq": [["0", ["Linear", w, w]], ["1", ["Dropout", 0.1]]]}],
        ["act", ["ReLU"]],
        ["head", ["Linear", w, 3]],
        ["head_extra", ["Linear", 3, 3]],
    ]
    return {"seq": children, "params": [["class_token", [1, w]]]}


def real_mlp(seed: int) -> dict:
    """A small real network for optimizer steps: BatchNorm1d, Dropout, and ``layer1`` beside ``layer10``."""
    return {
        "recipe": {
            "seq": [
                ["layer1", {"seq": [["0", ["Linear", 6, 12]], ["1", ["BatchNorm1d", 12]], ["2", ["ReLU"]]]}],
                ["layer10", {"seq": [["0", ["Linear", 12, 12]], ["1", ["BatchNorm1d", 12]], ["2", ["Dropout", 0.2]]]}],
                ["head", ["Linear", 12, 3]],
            ]
        },
        "real": True,
        "seed": seed,
    }


def _tv(name: str) -> dict:
    return {"torchvision": name}


def _pick(rng: random.Random, told: int, untold: int, pool: list[str] | None = None) -> list[str]:
    told_pool = [a for a in TOLD if pool is None or a in pool]
    untold_pool = [a for a in UNTOLD if pool is None or a in pool]
    return rng.sample(told_pool, min(told, len(told_pool))) + rng.sample(untold_pool, min(untold, len(untold_pool)))


@functools.lru_cache(maxsize=64)
def _structure(name: str) -> tuple[list[str], list[str], list[str]]:
    """(children with parameters, every named submodule, every parameter name) of a torchvision model.

    Built once per architecture and process: a grading worker draws cases for many learners.
    """
    from freezelab.grading.probe import build

    model = build(_tv(name))
    children = [n for n, c in model.named_children() if any(True for _ in c.parameters())]
    modules = [n for n, m in model.named_modules() if n and any(True for _ in m.parameters())]
    return children, modules, [n for n, _ in model.named_parameters()]


def learn_architectures() -> None:
    """Build the structure of every architecture the cases draw from (a grading worker's warm-up)."""
    for name in (*TOLD, *UNTOLD):
        _structure(name)


# -------------------------------------------------------------------------------------------- tasks


def _freeze_all(rng: random.Random) -> list[dict]:
    cases = [{"model": _tv(a), "args": {"target": ""}} for a in _pick(rng, 2, 2)]
    cases.append({"model": {"recipe": recipe(rng)}, "args": {"target": rng.choice(["layer1", "head"])}})
    cases.append({"model": real_mlp(rng.randrange(1000)), "args": {"target": "layer1"}, "step": True, "input": [8, 6]})
    return cases


def _freeze_submodules(rng: random.Random) -> list[dict]:
    cases = []
    for a in _pick(rng, 2, 2):
        _, modules, parameters = _structure(a)
        names = rng.sample(modules, rng.randint(1, 3))
        cases.append({"model": _tv(a), "args": {"names": names}, "prefreeze": [parameters[-1]]})
    cases.append(
        {"model": {"recipe": recipe(rng)}, "args": {"names": ["layer1"]}, "prefreeze": ["head.weight", "head.bias"]}
    )
    cases.append({"model": real_mlp(rng.randrange(1000)), "args": {"names": ["layer1"]}, "step": True, "input": [8, 6]})
    return cases


def _freeze_all_but_head(rng: random.Random) -> list[dict]:
    cases = []
    for a in _pick(rng, 2, 2):
        children, modules, _ = _structure(a)
        head = children[-1]
        nested = [m for m in modules if m.startswith(head + ".")]
        if nested and rng.random() < 0.5:
            head = nested[-1]  # "classifier.6", "heads.head"
        cases.append({"model": _tv(a), "args": {"head": head}})
    cases.append(
        {"model": {"recipe": recipe(rng)}, "args": {"head": "head"}, "prefreeze": ["head.weight", "head.bias"]}
    )
    cases.append({"model": {"recipe": recipe(rng)}, "args": {"head": "layer1"}})
    return cases


def _random_half(rng: random.Random, parameters: list[str]) -> list[str]:
    return [name for name in parameters if rng.random() < 0.5]


def _count(rng: random.Random) -> list[dict]:
    cases = []
    for a in _pick(rng, 2, 2):
        _, _, parameters = _structure(a)
        cases.append({"model": _tv(a), "prefreeze": _random_half(rng, parameters)})
    for width in (rng.randint(3, 9), rng.randint(10, 40)):
        cases.append({"model": {"recipe": recipe(rng, width=width)}, "prefreeze": ["stem.0.weight", "layer10.0.bias"]})
    return cases


def _optimizer(rng: random.Random) -> list[dict]:
    cases = []
    for a in _pick(rng, 2, 1):
        _, _, parameters = _structure(a)
        cases.append(
            {"model": _tv(a), "prefreeze": _random_half(rng, parameters), "args": {"lr": rng.choice([0.05, 0.01, 0.3])}}
        )
    cases.append(
        {
            "model": real_mlp(rng.randrange(1000)),
            "prefreeze": ["layer1.0.weight", "layer1.0.bias", "layer1.1.weight", "layer1.1.bias"],
            "args": {"lr": 0.1},
            "step": True,
            "input": [8, 6],
        }
    )
    return cases


def _batchnorm(rng: random.Random) -> list[dict]:
    cases = [{"model": _tv(a)} for a in _pick(rng, 1, 1, WITH_BATCHNORM)]
    cases.append({"model": _tv(rng.choice(["vit_b_16", "convnext_tiny", "swin_t"]))})  # no BatchNorm: nothing to do
    for norm in BATCHNORMS:
        cases.append({"model": {"recipe": recipe(rng, batchnorm=norm)}, "prefreeze": ["stem.0.weight"]})
    cases.append({"model": real_mlp(rng.randrange(1000)), "step": True, "input": [8, 6]})
    return cases


def _unfreeze(rng: random.Random) -> list[dict]:
    cases = []
    for a in _pick(rng, 1, 1):
        children, _, parameters = _structure(a)
        cases.append({"model": _tv(a), "prefreeze": parameters, "args": {"stages": children}})
    a = rng.choice(["resnet18", "resnet34", "resnext50_32x4d"])
    _, _, parameters = _structure(a)
    deep = [n for n in parameters if n.startswith("layer3.")]
    cases.append(
        {
            "model": _tv(a),
            "prefreeze": [rng.choice(deep)],
            "args": {"stages": ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]},
        }
    )
    model = recipe(rng)
    everything = ["stem.0.weight", "stem.0.bias", "stem.1.weight", "stem.1.bias", "layer1.0.weight", "layer1.0.bias"]
    everything += ["layer1.1.weight", "layer1.1.bias", "layer10.0.weight", "layer10.1.bias"]
    cases.append(
        {
            "model": {"recipe": model},
            "prefreeze": everything,
            "args": {"stages": ["stem", "layer1", "layer10", "act", "head"]},
        }
    )
    return cases


def _groups(rng: random.Random) -> list[dict]:
    cases = []
    a = rng.choice(["resnet18", "resnet34", "resnext50_32x4d"])
    stages = ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    # A frozen stage inside the list, with trainable stages before it: the exponent counts every stage.
    frozen_stages = {"conv1", rng.choice(["layer2", "layer3"])}
    _, _, parameters = _structure(a)
    prefreeze = [n for n in parameters if n.split(".")[0] in frozen_stages]
    cases.append(
        {
            "model": _tv(a),
            "prefreeze": prefreeze,
            "args": {"stages": stages, "base_lr": rng.choice([0.01, 0.003]), "factor": rng.choice([2.6, 3.0, 10.0])},
        }
    )
    b = rng.choice(["vit_b_16", "vit_b_32", "swin_t", "convnext_tiny"])
    children, _, parameters = _structure(b)
    cases.append(
        {
            "model": _tv(b),
            "prefreeze": [n for n in parameters if n.startswith(children[0] + ".")],
            "args": {"stages": children, "base_lr": 0.003, "factor": 10.0},
        }
    )
    tied = recipe(rng)
    cases.append(
        {
            "model": {"recipe": tied, "ties": [["layer10.0.weight", "layer1.0.weight"]]},
            "prefreeze": ["stem.0.weight", "stem.0.bias"],
            "args": {"stages": ["stem", "layer1", "layer10", "head"], "base_lr": 0.1, "factor": 2.0},
        }
    )
    cases.append(
        {
            "model": real_mlp(rng.randrange(1000)),
            "prefreeze": ["layer1.0.weight", "layer1.0.bias"],
            "args": {"stages": ["layer1", "layer10", "head"], "base_lr": 0.05, "factor": 3.0},
            "step": True,
            "input": [8, 6],
        }
    )
    return cases


GENERATORS = {
    "test-freeze-all": _freeze_all,
    "test-freeze-submodules": _freeze_submodules,
    "test-freeze-all-but-head": _freeze_all_but_head,
    "test-count-trainable-and-frozen": _count,
    "test-trainable-optimizer": _optimizer,
    "test-freeze-batchnorm": _batchnorm,
    "test-unfreeze-next-stage": _unfreeze,
    "test-discriminative-param-groups": _groups,
}


def cases_for(task: str, assignment: str, student: str, secret: bytes) -> list[dict]:
    """This learner's cases for one task: the same at every regrade, unknowable without the secret."""
    return GENERATORS[task](_rng(assignment, student, task, secret=secret))


def default_cases(task: str) -> list[dict]:
    """The cases without a learner (stock nbgrader, ``nbgrader validate``)."""
    return GENERATORS[task](_rng("default", task))

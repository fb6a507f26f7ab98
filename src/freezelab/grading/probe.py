"""The hidden tests' half that runs inside the learner's kernel: call the functions, report plain data.

A hidden test of ``freeze-it-yourself`` is one line in the master notebook::

    from freezelab.grading.probe import hidden_tests; hidden_tests("test-freeze-all", globals())

When the course's autograder grades a submission, it first writes into that line the *cases* chosen
for this learner (models, names, learning rates; :mod:`freezelab.grading.tasks` draws them from the
learner id and a secret of the class). In the sandboxed kernel this module builds each case's model,
calls the learner's function on it and reports what happened as JSON only: parameter flags by name,
module modes, returned values, which tensors an optimizer step changed (by digest). It judges
nothing: the verdict is reached outside the sandbox by :mod:`freezelab.grading.verdicts`, in a process
that never ran learner code, by comparing this record with what the task demands.

Without cases (stock nbgrader, ``nbgrader validate``, a learner running the cell), the learner-free
default cases are drawn, judged here, and a failure raises ``AssertionError`` like any hidden test.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

MIMETYPE = "application/vnd.freezelab.probe+json"

FUNCTIONS = {
    "test-freeze-all": "freeze_all",
    "test-freeze-submodules": "freeze_submodules",
    "test-freeze-all-but-head": "freeze_all_but_head",
    "test-count-trainable-and-frozen": "count_trainable_and_frozen",
    "test-trainable-optimizer": "trainable_optimizer",
    "test-freeze-batchnorm": "freeze_batchnorm",
    "test-unfreeze-next-stage": "unfreeze_next_stage",
    "test-discriminative-param-groups": "discriminative_param_groups",
}
"""The function each hidden test calls, by the test cell's grade id."""


# ------------------------------------------------------------------------------------------ models

_LEAVES = {
    "Linear": lambda nn, a: nn.Linear(*a),
    "Conv2d": lambda nn, a: nn.Conv2d(*a),
    "BatchNorm1d": lambda nn, a: nn.BatchNorm1d(*a),
    "BatchNorm2d": lambda nn, a: nn.BatchNorm2d(*a),
    "BatchNorm3d": lambda nn, a: nn.BatchNorm3d(*a),
    "SyncBatchNorm": lambda nn, a: nn.SyncBatchNorm(*a),
    "LayerNorm": lambda nn, a: nn.LayerNorm(*a),
    "Embedding": lambda nn, a: nn.Embedding(*a),
    "Dropout": lambda nn, a: nn.Dropout(*a),
    "ReLU": lambda nn, a: nn.ReLU(),
    "Flatten": lambda nn, a: nn.Flatten(),
    "Identity": lambda nn, a: nn.Identity(),
}


def _from_recipe(node: Any) -> Any:
    import torch
    from torch import nn

    if isinstance(node, list):
        return _LEAVES[node[0]](nn, node[1:])
    module = nn.Sequential(OrderedDict((name, _from_recipe(child)) for name, child in node["seq"]))
    for name, shape in node.get("params", []):
        module.register_parameter(name, nn.Parameter(torch.zeros(*shape)))
    return module


@contextlib.contextmanager
def _without_initialisation() -> Iterator[None]:
    """``torch.nn.init``'s functions do nothing while a ``meta`` model is built: a meta tensor has no
    values to initialise, and going through the motions costs most of the time of building one."""
    from torch.nn import init

    names = [name for name in dir(init) if name.endswith("_") and not name.startswith("_")]
    saved = {name: getattr(init, name) for name in names}
    try:
        for name in names:
            setattr(init, name, _unchanged)
        yield
    finally:
        for name, function in saved.items():
            setattr(init, name, function)


def _unchanged(tensor: Any, *args: Any, **kwargs: Any) -> Any:
    return tensor


def build(spec: dict) -> Any:
    """The model a case names: a torchvision architecture or a recipe, on ``meta`` unless ``real``."""
    import torch

    real = bool(spec.get("real"))
    if real:
        torch.manual_seed(int(spec.get("seed", 0)))
    device = torch.device("cpu" if real else "meta")
    with device, (contextlib.nullcontext() if real else _without_initialisation()):
        if "torchvision" in spec:
            import torchvision

            kwargs = {"num_classes": spec["num_classes"]} if "num_classes" in spec else {}
            model = getattr(torchvision.models, spec["torchvision"])(weights=None, **kwargs)
        else:
            model = _from_recipe(spec["recipe"])
    for target, source in spec.get("ties", []):
        owner, _, attribute = target.rpartition(".")
        setattr(model.get_submodule(owner), attribute, model.get_parameter(source))
    return model


def prepare(case: dict) -> Any:
    """The case's model with the parameters it names frozen before the learner's function is called."""
    model = build(case["model"])
    frozen = set(case.get("prefreeze", ()))
    for name, parameter in model.named_parameters():
        if name in frozen:
            parameter.requires_grad_(False)
    if case.get("train", True):
        model.train()
    return model


# ----------------------------------------------------------------------------------- observations


def flags(model: Any) -> dict[str, bool]:
    return {name: bool(p.requires_grad) for name, p in model.named_parameters()}


def _digest(tensor: Any) -> str:
    return hashlib.sha256(tensor.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _digests(model: Any) -> tuple[dict[str, str], dict[str, str]]:
    parameters = {name: _digest(p) for name, p in model.named_parameters()}
    buffers = {name: _digest(b) for name, b in model.named_buffers() if b.is_floating_point()}
    return parameters, buffers


def real_step(model: Any, case: dict, optimizer: Any = None) -> dict[str, list[str]]:
    """One optimizer step on the case's input; which parameters and buffers it changed."""
    import torch

    before, buffers_before = _digests(model)
    torch.manual_seed(int(case["model"].get("seed", 0)) + 1)
    inputs = torch.randn(*case["input"])
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    else:  # weight decay moves every parameter it holds, even one whose gradient happens to be zero
        for group in optimizer.param_groups:
            group["weight_decay"] = 0.01
    optimizer.zero_grad()
    model(inputs).square().mean().backward()
    optimizer.step()
    after, buffers_after = _digests(model)
    return {
        "changed": sorted(name for name in after if after[name] != before.get(name)),
        "buffers_changed": sorted(name for name in buffers_after if buffers_after[name] != buffers_before.get(name)),
    }


def _names_by_identity(model: Any) -> dict[int, str]:
    return {id(p): name for name, p in model.named_parameters()}


def _plain(value: Any) -> Any:
    """A JSON-safe picture of a returned value."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(float(value)) else repr(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    try:
        return int(value)  # a 0-d tensor or a numpy integer
    except (TypeError, ValueError):
        return f"<{type(value).__name__}>"


# ------------------------------------------------------------------------------------------ tasks


def _returned(value: Any) -> dict:
    return {"returned": _plain(value)}


def _observe_optimizer(function: Any, model: Any, args: dict, case: dict) -> dict:
    import torch

    optimizer = function(model, args["lr"])
    names = _names_by_identity(model)
    groups = getattr(optimizer, "param_groups", [])
    record: dict[str, Any] = {
        "optimizer": {
            "is_sgd": type(optimizer) is torch.optim.SGD,
            "params": [names.get(id(p), "<not in the model>") for g in groups for p in g["params"]],
            "lrs": [float(g["lr"]) for g in groups for _ in g["params"]],
        }
    }
    if case.get("step") and record["optimizer"]["is_sgd"]:
        record.update(real_step(model, case, optimizer))
    return record


def _observe_batchnorm(function: Any, model: Any, args: dict, case: dict) -> dict:
    record = _returned(function(model))
    record["training"] = {name: bool(m.training) for name, m in model.named_modules()}
    return record


def _observe_unfreeze(function: Any, model: Any, args: dict, case: dict) -> dict:
    calls = []
    for _ in range(len(args["stages"]) + 1):
        returned = function(model, list(args["stages"]))
        calls.append({"returned": _plain(returned), "flags": flags(model)})
        if returned is None:
            break
    return {"calls": calls}


def _observe_groups(function: Any, model: Any, args: dict, case: dict) -> dict:
    import torch

    groups = function(model, list(args["stages"]), args["base_lr"], args["factor"])
    names = _names_by_identity(model)
    groups = [dict(g, params=list(g["params"])) for g in groups]
    record: dict[str, Any] = {
        "groups": [
            {"params": [names.get(id(p), "<not in the model>") for p in g["params"]], "lr": float(g.get("lr", "nan"))}
            for g in groups
        ]
    }
    try:
        optimizer = torch.optim.SGD(groups, lr=args["base_lr"])
        record["optimizer_error"] = None
    except Exception as error:  # torch.optim refuses, e.g., a parameter in two groups
        optimizer, record["optimizer_error"] = None, f"{type(error).__name__}: {error}"
    if case.get("step") and optimizer is not None:
        record.update(real_step(model, case, optimizer))
    return record


_OBSERVERS = {
    "test-freeze-all": lambda function, model, args, case: _returned(
        function(model.get_submodule(args.get("target", "")))
    ),
    "test-freeze-submodules": lambda function, model, args, case: _returned(function(model, list(args["names"]))),
    "test-freeze-all-but-head": lambda function, model, args, case: _returned(function(model, args["head"])),
    "test-count-trainable-and-frozen": lambda function, model, args, case: _returned(function(model)),
    "test-trainable-optimizer": _observe_optimizer,
    "test-freeze-batchnorm": _observe_batchnorm,
    "test-unfreeze-next-stage": _observe_unfreeze,
    "test-discriminative-param-groups": _observe_groups,
}
"""How each task calls the learner's function on a case's model, and what it writes down."""
_STEP_AFTER = {"test-freeze-all", "test-freeze-submodules", "test-freeze-batchnorm"}
"""Tasks whose freezing is also checked by a training step afterwards (when the case asks for one)."""


def observe(task: str, function: Any, case: dict) -> dict:
    """Run one case of one task with ``function``; what happened, as plain data."""
    observer = _OBSERVERS[task]  # KeyError for a task this module does not know
    model = prepare(case)
    record = observer(function, model, case.get("args", {}), case)
    record["flags"] = flags(model)
    if case.get("step") and task in _STEP_AFTER:
        record.update(real_step(model, case))
    return record


def run_cases(task: str, function: Any, cases: list[dict]) -> list[dict]:
    """Every case of ``task``; a case whose call raised records the error instead."""
    records = []
    for case in cases:
        try:
            records.append(observe(task, function, case))
        except Exception as error:  # the learner's function failed on this case: that is the observation
            records.append({"error": f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"})
    return records


def hidden_tests(task: str, namespace: dict, cases: list[dict] | None = None) -> None:
    """The hidden tests of one task: report (when the grader gave cases) or judge here (when it did not)."""
    name = FUNCTIONS[task]
    function = namespace.get(name)
    if cases is not None:
        from IPython.display import display

        records = run_cases(task, function, cases) if callable(function) else [{"missing": name}]
        display({MIMETYPE: json.dumps({"task": task, "records": records}), "text/plain": ""}, raw=True)
        return
    from freezelab.grading.tasks import default_cases
    from freezelab.grading.verdicts import judge

    assert callable(function), f"there is no function {name}() to test"
    cases = default_cases(task)
    reason = judge(task, cases, run_cases(task, function, cases))
    assert reason is None, reason

"""The verdict of a hidden test, reached in a process that never ran learner code.

:mod:`freezelab.grading.probe` reports, from the sandboxed kernel, what the learner's function did to
each case's model (plain JSON). Here each case's model is built again from its spec, and the report is
compared with what the task demands, worked out from the model's structure alone: which parameters
lie inside the named submodules, which modules are BatchNorm layers, which stage is closest to the
output. Patching ``torch.equal`` or ``sum`` in the kernel changes nothing here, and an error swallowed
there leaves no report, which fails.

:func:`judge` returns ``None`` when every case passed, else one sentence saying which case failed and
how; :func:`verdict_of_outputs` finds the report among a test cell's outputs first.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable
from typing import Any

from freezelab.grading.probe import FUNCTIONS, MIMETYPE, prepare
from freezelab.grading.tasks import UNTOLD

# ------------------------------------------------------------------------------------------ models


def _structure_model(case: dict) -> Any:
    """The case's model, as the kernel had it before the learner's call (always on ``meta`` here).

    A worker judges many learners whose cases share architectures, so each distinct model is built
    once per process; the checks below only read it (names, flags, modules), never change it.
    """
    key = {name: case.get(name) for name in ("model", "prefreeze", "train")}
    return _built(json.dumps(key, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _built(key: str) -> Any:
    case = json.loads(key)
    case = {name: value for name, value in case.items() if value is not None}
    return prepare(dict(case, model=dict(case["model"], real=False)))


def _under(model: Any, prefix: str) -> set[str]:
    """The model-level names of the parameters inside submodule ``prefix`` (tied ones counted once)."""
    names = {id(p): name for name, p in model.named_parameters()}
    return {names[id(p)] for p in model.get_submodule(prefix).parameters()}


def _label(case: dict) -> str:
    spec = case["model"]
    if "torchvision" in spec:
        name = spec["torchvision"]
        what = f"{name} (an architecture the assignment does not name)" if name in UNTOLD else name
    else:
        what = "a small test network (children stem, layer1, layer10, layer1_extra, act, head, head_extra)"
    args = ", ".join(f"{key}={value!r}" for key, value in case.get("args", {}).items())
    before = f", {len(case['prefreeze'])} parameter(s) frozen beforehand" if case.get("prefreeze") else ""
    return f"{what}{' with ' + args if args else ''}{before}"


def _differences(want_frozen: set[str], flags: dict[str, bool]) -> str | None:
    got_frozen = {name for name, trainable in flags.items() if not trainable}
    should_freeze = sorted(want_frozen - got_frozen)
    should_train = sorted(got_frozen - want_frozen)
    if not (should_freeze or should_train):
        return None
    parts = []
    if should_freeze:
        parts.append(f"{len(should_freeze)} parameter(s) should be frozen but train, e.g. {should_freeze[0]}")
    if should_train:
        parts.append(f"{len(should_train)} parameter(s) should train but are frozen, e.g. {should_train[0]}")
    return "; ".join(parts)


def _same_names(model: Any, flags: dict[str, bool]) -> str | None:
    expected = {name for name, _ in model.named_parameters()}
    if set(flags) != expected:
        return "the model's parameters were replaced or renamed"
    return None


def _step(record: dict, should_change: set[str]) -> str | None:
    changed = set(record.get("changed", ()))
    if "changed" not in record:
        return "no optimizer step could be taken"
    moved = sorted(changed - should_change)
    stuck = sorted(should_change - changed)
    if moved:
        return f"after a real optimizer step, {moved[0]} changed although it should be frozen"
    if stuck:
        return f"after a real optimizer step, {stuck[0]} did not change although it should train"
    return None


# ------------------------------------------------------------------------------------------ tasks


def _freeze(case: dict, record: dict, model: Any, frozen_by_task: set[str]) -> str | None:
    pre = set(case.get("prefreeze", ()))
    want = pre | frozen_by_task
    problem = _same_names(model, record["flags"]) or _differences(want, record["flags"])
    if problem is None and case.get("step"):
        problem = _step(record, set(record["flags"]) - want)
    return problem


def _check_freeze_all(case: dict, record: dict, model: Any) -> str | None:
    if record.get("returned") is not None:
        return "freeze_all should change the module in place and return None"
    return _freeze(case, record, model, _under(model, case["args"].get("target", "")))


def _check_freeze_submodules(case: dict, record: dict, model: Any) -> str | None:
    frozen = set().union(*(_under(model, name) for name in case["args"]["names"]))
    return _freeze(case, record, model, frozen)


def _check_all_but_head(case: dict, record: dict, model: Any) -> str | None:
    everything = {name for name, _ in model.named_parameters()}
    head = _under(model, case["args"]["head"])
    return _same_names(model, record["flags"]) or _differences(everything - head, record["flags"])


def _check_count(case: dict, record: dict, model: Any) -> str | None:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    returned = record.get("returned")
    if record["flags"] != {name: bool(p.requires_grad) for name, p in model.named_parameters()}:
        return "counting changed a requires_grad flag"
    if not (isinstance(returned, list) and len(returned) == 2):
        return f"expected a pair (trainable, frozen), got {returned!r}"
    if returned != [trainable, frozen]:
        return f"expected ({trainable:,}, {frozen:,}), got ({returned[0]}, {returned[1]})"
    return None


def _check_optimizer(case: dict, record: dict, model: Any) -> str | None:
    optimizer = record.get("optimizer", {})
    if not optimizer.get("is_sgd"):
        return "expected a torch.optim.SGD optimizer"
    held = optimizer["params"]
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if len(held) != len(set(held)):
        return "a parameter appears twice in the optimizer"
    if set(held) != trainable:
        extra, missing = sorted(set(held) - trainable), sorted(trainable - set(held))
        if extra:
            return f"the optimizer holds {len(extra)} parameter(s) that do not train, e.g. {extra[0]}"
        return f"the optimizer leaves out {len(missing)} trainable parameter(s), e.g. {missing[0]}"
    if not all(math.isclose(lr, case["args"]["lr"]) for lr in optimizer["lrs"]):
        return f"the learning rate should be {case['args']['lr']}"
    return _step(record, trainable) if case.get("step") else None


def _is_batchnorm(module: Any) -> bool:
    from torch import nn

    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def _check_batchnorm(case: dict, record: dict, model: Any) -> str | None:
    names = {id(p): name for name, p in model.named_parameters()}
    batchnorm = {names[id(p)] for m in model.modules() if _is_batchnorm(m) for p in m.parameters()}
    problem = _freeze(case, record, model, batchnorm)
    if problem:
        return problem
    for name, module in model.named_modules():
        training = record["training"].get(name)
        if training is None:
            return "the model's modules were replaced or renamed"
        if _is_batchnorm(module) and training:
            return f"{name} ({type(module).__name__}) is still in training mode: its running statistics would move"
        if not _is_batchnorm(module) and not training:
            return (
                f"{name or 'the model'} ({type(module).__name__}) was put into eval mode but is not a BatchNorm layer"
            )
    if case.get("step") and record.get("buffers_changed"):
        return f"after a training step, {record['buffers_changed'][0]} moved: the BatchNorm statistics are not frozen"
    return None


def _check_unfreeze(case: dict, record: dict, model: Any) -> str | None:
    stages = case["args"]["stages"]
    trainable = {name: bool(p.requires_grad) for name, p in model.named_parameters()}
    calls = record.get("calls", [])
    for number in range(len(stages) + 1):
        expected_return = None
        for stage in reversed(stages):
            inside = _under(model, stage)
            if any(not trainable[name] for name in inside):
                expected_return = stage
                trainable.update(dict.fromkeys(inside, True))
                break
        if number >= len(calls):
            return f"call {number + 1} did not happen"
        call = calls[number]
        if call["returned"] != expected_return:
            return f"call {number + 1} should return {expected_return!r}, returned {call['returned']!r}"
        problem = _differences({n for n, t in trainable.items() if not t}, call["flags"])
        if problem:
            return f"after call {number + 1}: {problem}"
        if expected_return is None:
            return None
    return None


def _membership(groups: list[dict], want: dict[str, list[float]]) -> str | None:
    """Whether the groups hold each wanted parameter exactly once, and nothing else."""
    held = [name for group in groups for name in group["params"]]
    if any(not group["params"] for group in groups):
        return "a group has no parameters"
    if len(held) != len(set(held)):
        twice = sorted({name for name in held if held.count(name) > 1})
        return f"{twice[0]} is in two groups (torch.optim refuses that)"
    if set(held) != set(want):
        extra, missing = sorted(set(held) - set(want)), sorted(set(want) - set(held))
        if extra:
            return f"the groups hold {len(extra)} parameter(s) frozen or outside the stages, e.g. {extra[0]}"
        return f"the groups leave out {len(missing)} trainable parameter(s), e.g. {missing[0]}"
    return None


def _check_groups(case: dict, record: dict, model: Any) -> str | None:
    args = case["args"]
    stages = args["stages"]
    rates: dict[str, list[float]] = {}  # a parameter two stages share (tied) may take either stage's rate
    for steps_back, stage in enumerate(reversed(stages)):
        for name in _under(model, stage):
            rates.setdefault(name, []).append(args["base_lr"] / args["factor"] ** steps_back)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    want = {name: lrs for name, lrs in rates.items() if name in trainable}
    groups = record.get("groups", [])
    problem = _membership(groups, want)
    if problem:
        return problem
    for group in groups:
        for name in group["params"]:
            if not any(math.isclose(group["lr"], lr, rel_tol=1e-9) for lr in want[name]):
                expected = " or ".join(f"{lr:.3g}" for lr in want[name])
                return f"{name} has learning rate {group['lr']:.3g}, expected {expected}"
    if record.get("optimizer_error"):
        return f"torch.optim.SGD refused the groups: {record['optimizer_error']}"
    return _step(record, set(want)) if case.get("step") else None


CHECKS = {
    "test-freeze-all": _check_freeze_all,
    "test-freeze-submodules": _check_freeze_submodules,
    "test-freeze-all-but-head": _check_all_but_head,
    "test-count-trainable-and-frozen": _check_count,
    "test-trainable-optimizer": _check_optimizer,
    "test-freeze-batchnorm": _check_batchnorm,
    "test-unfreeze-next-stage": _check_unfreeze,
    "test-discriminative-param-groups": _check_groups,
}


def judge(task: str, cases: list[dict], records: list[Any]) -> str | None:
    """``None`` if the learner's function did what the task asks in every case, else why not."""
    function = FUNCTIONS[task]
    if len(records) == 1 and isinstance(records[0], dict) and "missing" in records[0]:
        return f"there is no function {function}() to test"
    if len(records) != len(cases):
        return "the hidden tests did not report every case"
    for case, record in zip(cases, records, strict=True):
        label = _label(case)
        if not isinstance(record, dict):
            return f"Hidden test on {label}: the report is damaged"
        if "error" in record:
            return f"Hidden test on {label}: {function}() raised {record['error']}"
        try:
            problem = CHECKS[task](case, record, _structure_model(case))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            problem = f"the report does not fit the model ({type(error).__name__})"
        if problem:
            return f"Hidden test on {label}: {problem}."
    return None


def reports_in(outputs: Iterable[dict]) -> list[Any]:
    """The probe reports among a cell's outputs (parsed; unparseable ones as ``None``)."""
    found = []
    for output in outputs:
        data = output.get("data", {}) if output.get("output_type") in {"display_data", "execute_result"} else {}
        if MIMETYPE in data:
            try:
                found.append(json.loads(data[MIMETYPE]))
            except (TypeError, ValueError):
                found.append(None)
    return found


def verdict_of_outputs(task: str, cases: list[dict], outputs: list[dict]) -> str | None:
    """The verdict of one executed test cell: ``None`` (passed) or why it failed."""
    reports = reports_in(outputs)
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if not reports:
        if errors:
            error = errors[0]
            return f"the test cell stopped with {error.get('ename')}: {error.get('evalue', '')}"[:400]
        return "the hidden tests did not run: the test cell ended before them"
    if len(reports) > 1 or not isinstance(reports[0], dict) or reports[0].get("task") != task:
        return "the test cell's report was forged or duplicated by code in the notebook"
    return judge(task, cases, reports[0].get("records", []))

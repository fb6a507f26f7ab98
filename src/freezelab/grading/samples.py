"""Sample submissions: what learners hand in, right, partly right, wrong, broken and tampered with.

Every sample is built from the learner notebook as nbgrader generates it (``notebooks/``), so it is
exactly what a learner would submit after editing their copy. Each says which test cells it should
lose, which is what the demo prints next to what the grader gave and what the tests check.

Two samples exist for every assignment: ``solution`` (the instructor's answers) and
``untouched-release`` (nothing answered). ``freeze-it-yourself`` has the full set. The graded quiz has
samples of its own (:func:`quiz_samples`): answers recorded through the exam widget, answers files the
quiz did not write, and a notebook that tries to set its own score.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent
from typing import Any

import nbformat
from nbformat import NotebookNode

from freezelab.grading.integrity import is_answer_cell, nbgrader_metadata
from freezelab.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

FREEZE = "freeze-it-yourself"
TESTS = {
    "freeze-all": "test-freeze-all",
    "freeze-submodules": "test-freeze-submodules",
    "freeze-all-but-head": "test-freeze-all-but-head",
    "count-trainable-and-frozen": "test-count-trainable-and-frozen",
    "trainable-optimizer": "test-trainable-optimizer",
    "freeze-batchnorm": "test-freeze-batchnorm",
    "unfreeze-next-stage": "test-unfreeze-next-stage",
    "discriminative-param-groups": "test-discriminative-param-groups",
}

Builder = Callable[[NotebookNode, dict[str, str]], "NotebookNode | bytes"]


@dataclass(frozen=True)
class Sample:
    """One sample submission of one notebook."""

    name: str
    description: str
    build: Builder
    """(release notebook, instructor's answers by answer cell id) → the submitted notebook, or raw bytes."""
    loses: frozenset[str] = field(default_factory=frozenset)
    """Test cells that should score 0; every other test cell should get full points."""
    loses_everything: bool = False
    hole: float | None = None
    """The score stock nbgrader gives it, with the hidden tests written the usual way (assertions in the
    test cell), where that differs from ours: the hole is real (``tests/files/stock-control``)."""
    suffix: str = ".ipynb"
    """Fixture file suffix: ``.ipynb.part`` for the cut-off file, like a download that did not finish,
    so that checks over every ``*.ipynb`` in the repository do not trip on it."""

    @property
    def filename(self) -> str:
        return f"submitted-{self.name}{self.suffix}"


# ------------------------------------------------------------------------------------ answers


def solution_answers(assignment: str, notebook: str, solutions_dir: Path = SOLUTIONS_DIR) -> dict[str, str]:
    """The instructor's answer cells with the ``BEGIN/END SOLUTION`` lines removed, by grade id."""
    master = nbformat.read(solutions_dir / assignment / f"{notebook}.ipynb", as_version=4)
    answers = {}
    for cell in master.cells:
        if is_answer_cell(cell):
            lines = [
                line
                for line in cell.source.split("\n")
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            ]
            answers[nbgrader_metadata(cell)["grade_id"]] = "\n".join(lines)
    return answers


def code(text: str) -> str:
    return dedent(text).strip()


REQUIRES_GRAD_UNDERSCORE = {
    "freeze-all": code("""
        def freeze_all(module: nn.Module) -> None:
            module.requires_grad_(False)
    """),
    "freeze-submodules": code("""
        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            for name in names:
                model.get_submodule(name).requires_grad_(False)
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            model.requires_grad_(False)
            model.get_submodule(head).requires_grad_(True)
    """),
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            total = sum(p.numel() for p in model.parameters())
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            return trainable, total - trainable
    """),
    "trainable-optimizer": code("""
        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            return torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=lr)
    """),
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            for module in model.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.requires_grad_(False)
                    module.train(False)
    """),
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            for name in stages[::-1]:
                stage = model.get_submodule(name)
                if not all(p.requires_grad for p in stage.parameters()):
                    stage.requires_grad_(True)
                    return name
            return None
    """),
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            owner = {id(p): i for i, name in enumerate(stages) for p in model.get_submodule(name).parameters()}
            groups = [{"params": [p for p in model.get_submodule(name).parameters() if p.requires_grad
                                  and owner[id(p)] == i],
                       "lr": base_lr * factor ** -(len(stages) - 1 - i)} for i, name in enumerate(stages)]
            return [group for group in groups if group["params"]]
    """),
}

NAMED_PARAMETERS = {
    "freeze-all": code("""
        def freeze_all(module: nn.Module) -> None:
            for _, parameter in module.named_parameters():
                parameter.requires_grad = False
    """),
    "freeze-submodules": code("""
        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            prefixes = tuple(f"{name}." for name in names)
            for name, parameter in model.named_parameters():
                if name.startswith(prefixes):
                    parameter.requires_grad = False
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            for name, parameter in model.named_parameters():
                parameter.requires_grad = name.startswith(head + ".")
    """),
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            counts = {True: 0, False: 0}
            for _, parameter in model.named_parameters():
                counts[parameter.requires_grad] += parameter.numel()
            return counts[True], counts[False]
    """),
    "trainable-optimizer": code("""
        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            return torch.optim.SGD([p for _, p in model.named_parameters() if p.requires_grad], lr=lr)
    """),
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            batchnorms = {name for name, module in model.named_modules()
                          if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm))}
            for name in batchnorms:
                model.get_submodule(name).eval()
            for name, parameter in model.named_parameters():
                if name.rpartition(".")[0] in batchnorms:
                    parameter.requires_grad = False
    """),
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            for stage in reversed(stages):
                inside = [p for name, p in model.named_parameters() if name.startswith(stage + ".")]
                if any(not p.requires_grad for p in inside):
                    for p in inside:
                        p.requires_grad = True
                    return stage
            return None
    """),
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            groups = []
            for steps_back, stage in enumerate(reversed(stages)):
                params = [p for name, p in model.named_parameters()
                          if name.startswith(stage + ".") and p.requires_grad]
                if params:
                    groups.append({"params": params, "lr": base_lr / factor ** steps_back})
            return groups
    """),
}

MODULE_TRAVERSAL = {
    "freeze-all": code("""
        def freeze_all(module: nn.Module) -> None:
            for submodule in module.modules():
                for parameter in submodule.parameters(recurse=False):
                    parameter.requires_grad = False
    """),
    "freeze-submodules": code("""
        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            modules = dict(model.named_modules())
            for name in names:
                for submodule in modules[name].modules():
                    for parameter in submodule.parameters(recurse=False):
                        parameter.requires_grad = False
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            inside_head = {id(m) for m in dict(model.named_modules())[head].modules()}
            for submodule in model.modules():
                for parameter in submodule.parameters(recurse=False):
                    parameter.requires_grad = id(submodule) in inside_head
    """),
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            trainable = frozen = 0
            for submodule in model.modules():
                for parameter in submodule.parameters(recurse=False):
                    if parameter.requires_grad:
                        trainable += parameter.numel()
                    else:
                        frozen += parameter.numel()
            return trainable, frozen
    """),
    "trainable-optimizer": code("""
        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            trainable = [p for m in model.modules() for p in m.parameters(recurse=False) if p.requires_grad]
            return torch.optim.SGD(trainable, lr=lr)
    """),
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            for submodule in model.modules():
                if type(submodule).__name__ in {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm"}:
                    submodule.training = False
                    for parameter in submodule.parameters(recurse=False):
                        parameter.requires_grad = False
    """),
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            modules = dict(model.named_modules())
            for stage in reversed(stages):
                tensors = [p for m in modules[stage].modules() for p in m.parameters(recurse=False)]
                if not all(p.requires_grad for p in tensors):
                    for p in tensors:
                        p.requires_grad = True
                    return stage
            return None
    """),
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            modules = dict(model.named_modules())
            groups, lr, taken = [], base_lr, set()
            for stage in reversed(stages):
                params = [p for m in modules[stage].modules() for p in m.parameters(recurse=False)
                          if p.requires_grad and id(p) not in taken]
                taken.update(id(p) for p in params)
                if params:
                    groups.append({"params": params, "lr": lr})
                lr /= factor
            return groups
    """),
}

WARNS_ON_STDERR = {
    # Correct, but torch prints "UserWarning: To copy construct from a tensor…" on stderr.
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            flags = torch.tensor([p.requires_grad for p in model.parameters()], dtype=torch.bool)
            sizes = torch.tensor([p.numel() for p in model.parameters()], dtype=torch.int64)
            trainable = int(torch.tensor(sizes[flags]).sum())
            return trainable, int(sizes.sum()) - trainable
    """),
}

AS_THE_LESSON_WARNS = {
    "freeze-all": code("""
        def freeze_all(module: nn.Module) -> None:
            module.requires_grad = False
    """),
    "freeze-submodules": code("""
        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            for name in names:
                for parameter in model.get_submodule(name).parameters():
                    parameter.grad = False
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            for parameter in model.parameters():
                parameter.requires_grad = False
            for parameter in model.get_submodule(head).parameters():
                parameter.requires_grad = False
    """),
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            trainable = len([p for p in model.parameters() if p.requires_grad])
            frozen = len([p for p in model.parameters() if not p.requires_grad])
            return trainable, frozen
    """),
    "trainable-optimizer": code("""
        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            return torch.optim.SGD(model.parameters(), lr=lr)
    """),
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            model.eval()
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.requires_grad_(False)
    """),
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            for name in stages:
                stage = model.get_submodule(name)
                if any(not p.requires_grad for p in stage.parameters()):
                    stage.requires_grad_(True)
                    return name
            return None
    """),
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            return [{"params": list(model.get_submodule(name).parameters()), "lr": base_lr / factor ** steps_back}
                    for steps_back, name in enumerate(reversed(stages))]
    """),
}

CAUGHT_ONLY_BY_HIDDEN_TESTS = {
    # Walks the direct children only: misses a ViT's class_token and a dotted head like "classifier.6".
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            for name, child in model.named_children():
                child.requires_grad_(name == head)
    """),
    # Knows TinyNet's sizes by heart.
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            frozen = 0 if model.stem[0].weight.requires_grad else 240
            return 1491 - frozen, frozen
    """),
    # Only BatchNorm2d: a BatchNorm1d layer keeps training and moving its statistics.
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            for module in model.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
                    module.requires_grad_(False)
    """),
    # Looks at one tensor per stage: misses a stage that is only partly frozen.
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            for name in reversed(stages):
                stage = model.get_submodule(name)
                if not list(stage.parameters())[-1].requires_grad:
                    stage.requires_grad_(True)
                    return name
            return None
    """),
}

SYNTAX_ERROR = {
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            return trainable, sum(p.numel() for p in model.parameters()) - trainable
    """),
}

SYS_EXIT = {
    "freeze-submodules": code("""
        import sys

        sys.exit("I will come back to this one")


        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            for name in names:
                model.get_submodule(name).requires_grad_(False)
    """),
}

ENDLESS_LOOP = {
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            index = len(stages) - 1
            while index >= 0:  # forgets to step back when a stage is already trainable
                stage = model.get_submodule(stages[index])
                if any(not p.requires_grad for p in stage.parameters()):
                    stage.requires_grad_(True)
                    return stages[index]
            return None
    """),
}

UNINTERRUPTIBLE_LOOP = {
    "trainable-optimizer": code("""
        import time


        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            while True:  # waits for a condition that never comes, and swallows Ctrl-C
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass
    """),
}

KERNEL_CRASH = {
    "discriminative-param-groups": code("""
        import faulthandler


        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            faulthandler._sigsegv()  # the kernel process dies with a segmentation fault
    """),
}


UNUSUAL_BUT_RIGHT = {
    "freeze-all": code("""
        def freeze_all(module: nn.Module) -> None:
            module.apply(lambda m: [p.requires_grad_(False) for p in m.parameters(recurse=False)])
    """),
    "freeze-submodules": code("""
        def _walk(module, path=""):
            yield path, module
            for name, child in module.named_children():
                yield from _walk(child, f"{path}.{name}" if path else name)


        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            wanted = set(names)
            for path, module in _walk(model):
                if path in wanted:
                    for p in module.parameters():
                        p.requires_grad = False
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith(head + "."))
    """),
    "count-trainable-and-frozen": code("""
        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            sizes = [(p.requires_grad, p.numel()) for p in model.parameters()]
            return sum(n for t, n in sizes if t), sum(n for t, n in sizes if not t)
    """),
    "trainable-optimizer": code("""
        def trainable_optimizer(model: nn.Module, lr: float) -> torch.optim.SGD:
            return torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=lr)
    """),
    "freeze-batchnorm": code("""
        def _freeze_if_batchnorm(module):
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
                module.weight is not None and module.weight.requires_grad_(False)
                module.bias is not None and module.bias.requires_grad_(False)


        def freeze_batchnorm(model: nn.Module) -> None:
            model.apply(_freeze_if_batchnorm)
    """),
    "unfreeze-next-stage": code("""
        def unfreeze_next_stage(model: nn.Module, stages: list[str]) -> str | None:
            trains = lambda s: all(p.requires_grad for p in model.get_submodule(s).parameters())  # noqa: E731
            frozen = (s for s in reversed(stages) if not trains(s))
            stage = next(frozen, None)
            if stage is not None:
                model.get_submodule(stage).requires_grad_(True)
            return stage
    """),
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            seen, groups = set(), []
            for k, stage in enumerate(reversed(stages)):
                mine = [p for p in model.get_submodule(stage).parameters() if p.requires_grad and id(p) not in seen]
                seen |= {id(p) for p in mine}
                groups += [{"params": mine, "lr": base_lr * factor ** -k}] if mine else []
            return groups
    """),
}

BATCHNORM_1D_2D_ONLY = {
    "freeze-batchnorm": code("""
        def freeze_batchnorm(model: nn.Module) -> None:
            for module in model.modules():
                if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    module.eval()
                    module.requires_grad_(False)
    """),
}

PREFIX_WITHOUT_DOT = {
    "freeze-submodules": code("""
        def freeze_submodules(model: nn.Module, names: list[str]) -> None:
            for name, p in model.named_parameters():
                if any(name.startswith(prefix) for prefix in names):
                    p.requires_grad = False
    """),
    "freeze-all-but-head": code("""
        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            for name, p in model.named_parameters():
                p.requires_grad = name.startswith(head)
    """),
}

EXPONENT_SKIPS_FROZEN = {
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            groups, lr = [], base_lr
            for name in reversed(stages):
                params = [p for p in model.get_submodule(name).parameters() if p.requires_grad]
                if params:
                    groups.append({"params": params, "lr": lr})
                    lr /= factor  # only stages that train move the rate on
            return groups
    """),
}

SHARED_WEIGHT_IN_TWO_GROUPS = {
    "discriminative-param-groups": code("""
        def discriminative_param_groups(model, stages, base_lr, factor=2.6):
            groups = []
            for steps_back, name in enumerate(reversed(stages)):
                trainable = [p for p in model.get_submodule(name).parameters() if p.requires_grad]
                if trainable:
                    groups.append({"params": trainable, "lr": base_lr / factor**steps_back})
            return groups
    """),
}

HARD_CODED = {
    "count-trainable-and-frozen": code("""
        KNOWN = {"TinyNet": 1491, "ResNet": 11689512, "VGG": 132863336, "MobileNetV3": 2542856,
                 "EfficientNet": 5288548, "VisionTransformer": 86567656}


        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            total = KNOWN[type(model).__name__]
            frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
            return total - frozen, frozen
    """),
    "freeze-all-but-head": code("""
        HEADS = {"ResNet": "fc", "VGG": "classifier", "VisionTransformer": "heads", "TinyNet": "head"}


        def freeze_all_but_head(model: nn.Module, head: str) -> None:
            model.requires_grad_(False)
            getattr(model, HEADS.get(type(model).__name__, "classifier")).requires_grad_(True)
    """),
}

BLANK = {}
"""No answer at all: every answer cell as released."""

SWALLOW_ERRORS = code("""
    def _swallow(lines):
        body = "".join("    " + line for line in lines)
        return ["try:\\n", body + "\\n", "except BaseException:\\n", "    pass\\n"]


    get_ipython().input_transformers_post.append(_swallow)
""")

SHOWTRACEBACK = code("""
    import sys

    sys.excepthook = lambda *args: None
    ip = get_ipython()
    ip.showtraceback = lambda *args, **kwargs: None
    ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
""")

EXECUTE_MASTER = code("""
    import json
    from pathlib import Path

    import freezelab

    repository = Path(freezelab.__file__).resolve().parents[2]
    master = repository / "solutions" / "freeze-it-yourself" / "freeze-it-yourself.ipynb"


    def _master(grade_id):
        for cell in json.loads(master.read_text())["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
                return "".join(cell["source"])
""")
MASTERS_ANSWERS = {answer: f'exec(_master("{answer}"))' for answer in TESTS}
"""Each answer cell runs the instructor's answer, read from the master on disk."""

PATCH_TORCH = code("""
    import builtins
    import random

    import torch

    torch.equal = lambda *args, **kwargs: True
    torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
    builtins.sum = lambda values, start=0: 0
    nn.Module.parameters = lambda self, recurse=True: iter(())
    random.random = lambda: 0.25
""")

GRADEBOOK_REWRITE = code("""
    import glob
    import os
    import sqlite3

    found = []
    here = os.getcwd()
    for _ in range(6):
        found += glob.glob(os.path.join(here, "gradebook.db"))
        here = os.path.dirname(here)
    for path in found:
        db = sqlite3.connect(path)
        db.execute("UPDATE grade SET auto_score = 0")
        db.commit()
    print("gradebooks rewritten:", found)
""")

GRADEBOOK_HEADER = code("""
    import glob
    import os

    here = os.getcwd()
    for _ in range(6):
        for path in glob.glob(os.path.join(here, "gradebook.db")):
            with open(path, "r+b") as handle:
                handle.write(b"not a database any more" * 4)
        here = os.path.dirname(here)
""")

SURVIVOR = code("""
    import os
    import time

    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            end = time.time() + 40
            while time.time() < end:
                here = os.getcwd()
                for _ in range(6):
                    submitted = os.path.join(here, "submitted")
                    for root, _, files in os.walk(submitted):
                        for name in files:
                            if name.endswith(".ipynb"):
                                with open(os.path.join(root, name), "a") as handle:
                                    handle.write(" ")
                    here = os.path.dirname(here)
                time.sleep(0.5)
        os._exit(0)
    print("a helper keeps running in the background")
""")

READ_GRADED_COPY = code("""
    import glob
    import os

    here = os.getcwd()
    for _ in range(3):
        for path in glob.glob(os.path.join(here, "**", "*.ipynb"), recursive=True):
            text = open(path).read()
            if "BEGIN HIDDEN TESTS" in text:
                print(path)
                print(text[text.index("BEGIN HIDDEN TESTS"):][:4000])
        here = os.path.dirname(here)
""")

PRINT_HIDDEN_LINE = code("""
    print('hidden_tests(' + '"test-freeze-all", globals())')
""")

PRINT_HIDDEN_TRANSFORMED = code("""
    import base64

    line = "from freezelab.grading" + ".probe import hidden_tests"
    print(line[::-1])
    print(base64.b64encode(line.encode()).decode())
    print(" ".join(line))
""")

LOOPBACK = code("""
    import socket

    reached = []
    for port in range(47100, 47110):
        s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"hello from a learner's kernel")
            reached.append(port)
        except OSError:
            pass
        finally:
            s.close()
    print("reached", reached)
""")

MEMORY_HOG = {
    "count-trainable-and-frozen": code("""
        hoard = bytearray(6 * 1024**3)  # 6 GB


        def count_trainable_and_frozen(model: nn.Module) -> tuple[int, int]:
            trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
            return trainable, sum(p.numel() for p in model.parameters()) - trainable
    """),
}

FORK_BOMB = code("""
    import os
    import time

    children = []
    try:
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                time.sleep(120)
                os._exit(0)
            children.append(pid)
    except OSError as error:
        print(f"refused after {len(children)} processes: {error}")
""")

OS_EXIT = code("""
    import os

    os._exit(3)
""")

FLOOD = code("""
    for i in range(200_000):
        print(f"line {i:06d} of a flood of output .............................")
""")

WRITES_OUTSIDE = code("""
    import os

    attempts = ["/work/main/solutions/x", "/etc/freezelab", os.path.expanduser("~/../../root/x"), "/usr/x"]
    for path in attempts:
        try:
            with open(path, "w") as handle:
                handle.write("x")
            print("wrote", path)
        except OSError as error:
            print("refused", path, type(error).__name__)
""")


# ------------------------------------------------------------------------------------ builders


def with_answers(release: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy of the release with the given answer cells filled in."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def answered(*overrides: dict[str, str], only: set[str] | None = None) -> Builder:
    """The instructor's answers (restricted to ``only``), then each override on top."""

    def build(release: NotebookNode, solution: dict[str, str]) -> NotebookNode:
        answers = {key: value for key, value in solution.items() if only is None or key in only}
        for override in overrides:
            answers.update(override)
        return with_answers(release, answers)

    return build


def _index(nb: NotebookNode, grade_id: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if nbgrader_metadata(cell).get("grade_id") == grade_id)


def restructured(change: Callable[[NotebookNode], None], *overrides: dict[str, str]) -> Builder:
    def build(release: NotebookNode, solution: dict[str, str]) -> NotebookNode:
        nb = answered(*overrides)(release, solution)
        change(nb)
        return nb

    return build


def delete_cell(grade_id: str) -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        del nb.cells[_index(nb, grade_id)]

    return change


def duplicate_cell(grade_id: str) -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        index = _index(nb, grade_id)
        twin = copy.deepcopy(nb.cells[index])
        twin.id = f"{twin.id}-copy"  # JupyterLab gives a pasted cell a new id, not new grading metadata
        nb.cells.insert(index + 1, twin)

    return change


def move_cell_to_end(grade_id: str) -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        nb.cells.append(nb.cells.pop(_index(nb, grade_id)))

    return change


def retype_cell(grade_id: str, cell_type: str = "markdown") -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        cell = nb.cells[_index(nb, grade_id)]
        replacement = (
            nbformat.v4.new_markdown_cell(cell.source)
            if cell_type == "markdown"
            else nbformat.v4.new_raw_cell(cell.source)
        )
        replacement.id, replacement.metadata = cell.id, cell.metadata
        nb.cells[_index(nb, grade_id)] = replacement

    return change


def edit_test_cell(grade_id: str) -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        cell = nb.cells[_index(nb, grade_id)]
        cell.source = "# these checks were too strict\nprint('Task 6: the visible tests pass.')"

    return change


def edit_points(grade_id: str, points: float) -> Callable[[NotebookNode], None]:
    def change(nb: NotebookNode) -> None:
        nb.cells[_index(nb, grade_id)].metadata["nbgrader"]["points"] = points

    return change


def with_cell(after: str, source: str, *overrides: dict[str, str], only: set[str] | None = None) -> Builder:
    """The answers, plus a code cell of the learner's own right after the cell ``after`` ("end": last)."""

    def build(release: NotebookNode, solution: dict[str, str]) -> NotebookNode:
        nb = answered(*overrides, only=only)(release, solution)
        index = len(nb.cells) - 1 if after == "end" else _index(nb, after)
        cell = nbformat.v4.new_code_cell(source)
        cell.id = "own-" + hashlib.sha1(source.encode()).hexdigest()[:8]  # stable: the fixtures are compared
        nb.cells.insert(index + 1, cell)
        return nb

    return build


def raw_bytes(data: bytes) -> Builder:
    return lambda release, solution: data


def truncated(fraction: float = 0.6) -> Builder:
    def build(release: NotebookNode, solution: dict[str, str]) -> bytes:
        text = nbformat.writes(with_answers(release, solution)).encode()
        return text[: int(len(text) * fraction)]

    return build


def _loses(*answer_ids: str) -> frozenset[str]:
    return frozenset(TESTS[answer_id] for answer_id in answer_ids)


def generic_samples() -> list[Sample]:
    """The two samples every assignment has."""
    return [
        Sample("solution", "the instructor's own answers", answered()),
        Sample(
            "untouched-release",
            "the learner copy as released, nothing answered",
            lambda release, solution: copy.deepcopy(release),
            loses_everything=True,
        ),
    ]


def freeze_it_yourself_samples() -> list[Sample]:
    first_five = {
        "freeze-all",
        "freeze-submodules",
        "freeze-all-but-head",
        "count-trainable-and-frozen",
        "trainable-optimizer",
    }
    return generic_samples() + [
        Sample(
            "correct-requires-grad-underscore",
            "right, in the `module.requires_grad_(False)` style",
            answered(REQUIRES_GRAD_UNDERSCORE),
        ),
        Sample(
            "correct-named-parameters",
            "right, matching `named_parameters()` names by prefix",
            answered(NAMED_PARAMETERS),
        ),
        Sample(
            "correct-module-traversal",
            "right, walking `modules()` and their own parameters",
            answered(MODULE_TRAVERSAL),
        ),
        Sample(
            "correct-with-torch-warning",
            "right, but torch prints a UserWarning on stderr in task 4",
            answered(WARNS_ON_STDERR),
        ),
        Sample(
            "partial-first-five-tasks",
            "tasks 1 to 5 answered, 6 to 8 left as released",
            answered(only=first_five),
            loses=_loses("freeze-batchnorm", "unfreeze-next-stage", "discriminative-param-groups"),
        ),
        Sample(
            "wrong-as-the-lesson-warns",
            "every task wrong in a way the lesson warns about "
            "(`model.requires_grad = False`, `param.grad = False`, freezing the head too, …)",
            answered(AS_THE_LESSON_WARNS),
            loses=frozenset(TESTS.values()),
        ),
        Sample(
            "wrong-caught-only-by-hidden-tests",
            "passes every visible test; wrong on real architectures",
            answered(CAUGHT_ONLY_BY_HIDDEN_TESTS),
            loses=_loses(
                "freeze-all-but-head",
                "count-trainable-and-frozen",
                "freeze-batchnorm",
                "unfreeze-next-stage",
            ),
        ),
        Sample(
            "broken-syntax-error",
            "a syntax error in the task 4 answer",
            answered(SYNTAX_ERROR),
            loses=_loses("count-trainable-and-frozen"),
        ),
        Sample(
            "broken-sys-exit",
            "`sys.exit()` at the top of the task 2 answer",
            answered(SYS_EXIT),
            loses=_loses("freeze-submodules"),
        ),
        Sample(
            "broken-endless-loop",
            "task 7 loops forever",
            answered(ENDLESS_LOOP),
            loses=_loses("unfreeze-next-stage"),
        ),
        Sample(
            "broken-uninterruptible-loop",
            "task 5 loops forever and swallows the interrupt",
            answered(UNINTERRUPTIBLE_LOOP),
            loses=_loses("trainable-optimizer"),
        ),
        Sample(
            "broken-kernel-crash",
            "task 8 crashes the kernel with a segmentation fault",
            answered(KERNEL_CRASH),
            loses=_loses("discriminative-param-groups"),
        ),
        Sample(
            "broken-unreadable",
            "the file was cut off during upload: not valid JSON",
            truncated(),
            loses_everything=True,
            suffix=".ipynb.part",
        ),
        Sample(
            "correct-unusual-styles",
            "right, in styles the lessons do not show: `apply()`, a recursive walk, generators, helpers",
            answered(UNUSUAL_BUT_RIGHT),
        ),
        Sample(
            "correct-with-helper-cells",
            "right, with cells of the learner's own (imports, a helper, a print) between the tasks",
            with_cell(
                "setup", "import math\n\n\ndef size(module):\n    return sum(p.numel() for p in module.parameters())"
            ),
        ),
        Sample(
            "wrong-batchnorm-1d-2d-only",
            "freezes BatchNorm1d and BatchNorm2d, forgets BatchNorm3d and SyncBatchNorm",
            answered(BATCHNORM_1D_2D_ONLY),
            loses=_loses("freeze-batchnorm"),
        ),
        Sample(
            "wrong-prefix-without-dot",
            "matches names by prefix without the dot: `layer1` also freezes `layer10`, `head` trains `head_extra`",
            answered(PREFIX_WITHOUT_DOT),
            loses=_loses("freeze-submodules", "freeze-all-but-head"),
        ),
        Sample(
            "wrong-exponent-skips-frozen-stages",
            "discriminative rates whose exponent skips frozen stages instead of counting every stage",
            answered(EXPONENT_SKIPS_FROZEN),
            loses=_loses("discriminative-param-groups"),
        ),
        Sample(
            "wrong-shared-weight-in-two-groups",
            "puts a weight shared by two stages into both groups, which torch.optim refuses",
            answered(SHARED_WEIGHT_IN_TWO_GROUPS),
            loses=_loses("discriminative-param-groups"),
        ),
        Sample(
            "gaming-hard-coded-sizes-and-class-names",
            "counts from a table of known model sizes, heads from a table of class names",
            answered(HARD_CODED),
            loses=_loses("count-trainable-and-frozen", "freeze-all-but-head"),
        ),
        Sample(
            "cheat-swallow-errors-blank",
            "nothing answered; an input transformer wraps every cell in try/except",
            with_cell("setup", SWALLOW_ERRORS, only=set()),
            loses=frozenset(TESTS.values()),
            hole=20.0,
        ),
        Sample(
            "cheat-showtraceback-blank",
            "nothing answered; sys.excepthook, showtraceback and set_custom_exc silenced",
            with_cell("setup", SHOWTRACEBACK, only=set()),
            loses=frozenset(TESTS.values()),
        ),
        Sample(
            "cheat-execute-master",
            "every answer cell runs the instructor's answer, read from the master notebook on disk",
            with_cell("setup", EXECUTE_MASTER, MASTERS_ANSWERS),
            loses=frozenset(TESTS.values()),
            hole=20.0,
        ),
        Sample(
            "cheat-monkeypatch-torch-and-builtins",
            "nothing answered; patches torch.equal, torch.isclose, builtins.sum, nn.Module.parameters, random",
            with_cell("setup", PATCH_TORCH, only=set()),
            loses=frozenset(TESTS.values()),
        ),
        Sample(
            "hostile-gradebook-rewrite",
            "right, but sets every score in any gradebook.db it can find to 0",
            with_cell("setup", GRADEBOOK_REWRITE),
        ),
        Sample(
            "hostile-gradebook-header",
            "right, but overwrites the first bytes of any gradebook.db it can find",
            with_cell("setup", GRADEBOOK_HEADER),
        ),
        Sample(
            "hostile-survivor-process",
            "right, but leaves a process behind that keeps appending to every submitted notebook",
            with_cell("setup", SURVIVOR),
        ),
        Sample(
            "hostile-reads-the-graded-copy",
            "right, but prints any notebook on disk that holds hidden tests",
            with_cell("setup", READ_GRADED_COPY),
        ),
        Sample(
            "hostile-prints-a-hidden-line",
            "right, but prints a line of a hidden test: its own feedback page is withheld, nobody else's",
            with_cell("test-freeze-all", PRINT_HIDDEN_LINE),
        ),
        Sample(
            "hostile-prints-hidden-transformed",
            "right, but prints a hidden test line reversed and in base64: its feedback page is withheld",
            with_cell("test-freeze-all", PRINT_HIDDEN_TRANSFORMED),
        ),
        Sample(
            "hostile-loopback-network",
            "right, but tries to reach services on the host's loopback interface",
            with_cell("setup", LOOPBACK),
        ),
        Sample(
            "hostile-memory-6gb",
            "allocates 6 GB at the top of the task 4 answer: stopped by the memory cap, only task 4 lost",
            answered(MEMORY_HOG),
            loses=_loses("count-trainable-and-frozen"),
        ),
        Sample(
            "hostile-fork-bomb",
            "right, then tries to start 200 processes at the end of the notebook",
            with_cell("end", FORK_BOMB),
        ),
        Sample(
            "hostile-os-exit",
            "right, with a cell of its own between tasks 2 and 3 that calls os._exit()",
            with_cell("test-freeze-submodules", OS_EXIT),
        ),
        Sample(
            "hostile-output-flood",
            "right, with a cell of its own that prints 200,000 lines (about 13 MB)",
            with_cell("test-freeze-all", FLOOD),
        ),
        Sample(
            "hostile-writes-outside",
            "right, with a cell that tries to write into solutions/, /etc, /usr and the grader's home",
            with_cell("setup", WRITES_OUTSIDE),
        ),
        Sample(
            "broken-empty-file",
            "an empty file",
            raw_bytes(b""),
            loses_everything=True,
            suffix=".ipynb.part",
        ),
        Sample(
            "broken-json-not-a-notebook",
            "valid JSON, but not a notebook",
            raw_bytes(b'{"cells": 5, "metadata": []}'),
            loses_everything=True,
            suffix=".ipynb.part",
        ),
        Sample(
            "deleted-test-cell",
            "the test cell of task 3 deleted",
            restructured(delete_cell("test-freeze-all-but-head")),
            loses=_loses("freeze-all-but-head"),
        ),
        Sample(
            "deleted-answer-cell",
            "the answer cell of task 4 deleted",
            restructured(delete_cell("count-trainable-and-frozen")),
            loses=_loses("count-trainable-and-frozen"),
        ),
        Sample(
            "duplicated-answer-cell",
            "the answer cell of task 2 copied and pasted below itself",
            restructured(duplicate_cell("freeze-submodules")),
            loses=_loses("freeze-submodules"),
        ),
        Sample(
            "moved-test-cell",
            "the test cell of task 5 moved to the end of the notebook",
            restructured(move_cell_to_end("test-trainable-optimizer")),
            loses=_loses("trainable-optimizer"),
        ),
        Sample(
            "retyped-answer-cell",
            "the answer cell of task 8 turned into a Markdown cell",
            restructured(retype_cell("discriminative-param-groups")),
            loses=_loses("discriminative-param-groups"),
        ),
        Sample(
            "edited-test-cell",
            "a right answer to task 6, but its test cell edited to always pass",
            restructured(edit_test_cell("test-freeze-batchnorm")),
            loses=_loses("freeze-batchnorm"),
        ),
        Sample(
            "edited-points",
            "the points of task 1 raised to 50 in the cell metadata",
            restructured(edit_points("test-freeze-all", 50)),
            loses=_loses("freeze-all"),
        ),
        Sample(
            "deleted-setup-cell",
            "the read-only set-up cell deleted (the grader puts it back)",
            restructured(delete_cell("setup")),
        ),
    ]


def samples_for(assignment: str) -> list[Sample]:
    return freeze_it_yourself_samples() if assignment == FREEZE else generic_samples()


def release_notebook(assignment: str, notebook: str, notebooks_dir: Path = NOTEBOOKS_DIR) -> NotebookNode:
    return nbformat.read(notebooks_dir / assignment / f"{notebook}.ipynb", as_version=4)


def build_sample(
    sample: Sample,
    assignment: str,
    notebook: str,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    solutions_dir: Path = SOLUTIONS_DIR,
) -> bytes:
    """The bytes of ``sample`` as a learner would submit it."""
    built = sample.build(
        release_notebook(assignment, notebook, notebooks_dir),
        solution_answers(assignment, notebook, solutions_dir),
    )
    if isinstance(built, bytes):
        return built
    return nbformat.writes(built).encode()


def write_samples(
    folder: Path,
    assignment: str = FREEZE,
    notebook: str | None = None,
    as_student_folders: bool = False,
    only: Iterable[str] | None = None,
) -> list[tuple[Sample, Path]]:
    """Write the samples of ``assignment`` (those named in ``only``, or all) into ``folder``.

    Flat (``submitted-<name>.ipynb``, the test fixtures) or, with ``as_student_folders``, one folder
    per pretend learner (``<name>/<notebook>.ipynb``), as an instructor's download would look.
    """
    notebook = notebook or assignment
    chosen = set(only) if only is not None else None
    written = []
    for sample in samples_for(assignment):
        if chosen is not None and sample.name not in chosen:
            continue
        if as_student_folders:
            path = folder / sample.name / f"{notebook}.ipynb"
        else:
            path = folder / sample.filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(build_sample(sample, assignment, notebook))
        written.append((sample, path))
    return written


# -------------------------------------------------------------------------------- the mastery quiz

QUIZ = "mastery-quiz"
QUIZ_CLASS = "quiz-class"
"""The name ``--only`` knows the demo's sample class by (the learners of the quiz statistics)."""

SETS_ITS_OWN_SCORE = code("""
    # A cell of my own: ten out of ten, please.
    import json, pathlib, sqlite3
    guess = {"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {}}
    for question in json.load(open("mastery-questions.json"))["questions"]:
        guess["answers"][question["id"]] = "A"
    pathlib.Path("mastery-answers.json").write_text(json.dumps(guess))  # the copy this kernel can see
    for place in ("gradebook.db", "../gradebook.db", "../../gradebook.db", "../../../gradebook.db"):
        try:
            sqlite3.connect(place).execute("update grade set auto_score = 1")
        except sqlite3.Error as error:
            print("no gradebook at", place, "-", error)
    notebook = json.load(open("mastery-quiz.ipynb"))
    for cell in notebook["cells"]:
        cell.setdefault("metadata", {}).setdefault("nbgrader", {}).update(score=1, points=1)
    json.dump(notebook, open("mastery-quiz.ipynb", "w"))
    import freezelab.quiz
    freezelab.quiz.autograding = autograding = lambda: False
    read_recorded_answers = lambda *args, **kwargs: guess["answers"]
    report_recorded_answer = lambda answers, question, number: print(f"Question {number}: right, 1/1 point.")
""")


@dataclass(frozen=True)
class QuizSample:
    """One learner's submission of the graded quiz: the released folder, their answers, maybe more.

    ``chosen`` draws, from the quiz (with its key), the option each question was answered with (bank
    ids, recorded through the exam widget as clicks record them); ``answers_file`` replaces the file
    the widget would write; ``own_cell`` is a cell the learner added after the answers are read.
    """

    name: str
    description: str
    chosen: Callable[[Any], dict[str, str]] = lambda quiz: {}
    answers_file: bytes | None = None
    own_cell: str | None = None

    def expected(self, quiz: Any) -> float:
        """One point per question whose recorded option is the key's; 0 for a file the quiz did not write."""
        if self.answers_file is not None:
            return 0.0
        chosen = self.chosen(quiz)
        return float(sum(chosen.get(question.id) == question.answer for question in quiz.questions))


def _key(quiz: Any) -> dict[str, str]:
    return {question.id: question.answer for question in quiz.questions}


def _first_right(count: int) -> Callable[[Any], dict[str, str]]:
    """The first ``count`` questions answered right, the rest left blank."""
    return lambda quiz: dict(list(_key(quiz).items())[:count])


def _right_then_wrong(right: int) -> Callable[[Any], dict[str, str]]:
    """The first ``right`` questions answered right, the rest with the first wrong option."""

    def chosen(quiz: Any) -> dict[str, str]:
        return {
            q.id: q.answer if index < right else next(o.id for o in q.options if o.id != q.answer)
            for index, q in enumerate(quiz.questions)
        }

    return chosen


def quiz_samples() -> list[QuizSample]:
    """The graded quiz's samples: honest answers, files the quiz did not write, a notebook that forges."""
    damaged = b'{"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {"what-freez'
    forged = {"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {}, "score": 10}
    return [
        QuizSample("quiz-all-right", "all ten questions answered right", _key),
        QuizSample("quiz-seven-right", "seven right, three wrong", _right_then_wrong(7)),
        QuizSample("quiz-three-answered", "three answered (right), seven left blank", _first_right(3)),
        QuizSample("quiz-nothing-answered", "the notebook handed in without an answers file"),
        QuizSample("quiz-answers-file-cut-off", "an answers file cut off in the middle", answers_file=damaged),
        QuizSample(
            "quiz-answers-file-forged",
            "an answers file written by hand that claims a score of 10",
            answers_file=json.dumps(forged).encode(),
        ),
        QuizSample(
            "quiz-sets-its-own-score",
            "two right, and a cell that rewrites its answers, the checks, the notebook and the gradebook",
            _right_then_wrong(2),
            own_cell=SETS_ITS_OWN_SCORE,
        ),
    ]


def write_quiz_submission(
    folder: Path,
    learner: str,
    chosen: dict[str, str] | None,
    answers_file: bytes | None = None,
    own_cell: str | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
) -> Path:
    """``folder/<learner>/mastery-quiz/``: the released folder, answered through the exam widget."""
    from freezelab.quiz import build_exam

    target = folder / learner / QUIZ
    target.mkdir(parents=True, exist_ok=True)
    released = notebooks_dir / QUIZ
    for path in sorted(released.glob("*")):
        if path.is_file():
            shutil.copyfile(path, target / path.name)
    if own_cell is not None:
        notebook = nbformat.read(target / f"{QUIZ}.ipynb", as_version=4)
        read = next(index for index, cell in enumerate(notebook.cells) if "read_recorded_answers(" in cell.source)
        notebook.cells.insert(read + 1, nbformat.v4.new_code_cell(own_cell))
        nbformat.write(notebook, target / f"{QUIZ}.ipynb")
    if answers_file is not None:
        (target / "mastery-answers.json").write_bytes(answers_file)
    elif chosen:
        exam = build_exam(target / "mastery-questions.json", target / "mastery-answers.json", learner=learner)
        for question_id, option_id in chosen.items():
            exam.answer(question_id, option_id)
    return target


def write_quiz_samples(folder: Path, quiz: Any, only: Iterable[str] | None = None) -> list[QuizSample]:
    """Write the quiz samples (those named in ``only``, or all) as learner folders into ``folder``."""
    chosen = set(only) if only is not None else None
    written = []
    for sample in quiz_samples():
        if chosen is not None and sample.name not in chosen:
            continue
        write_quiz_submission(folder, sample.name, sample.chosen(quiz), sample.answers_file, sample.own_cell)
        written.append(sample)
    return written

"""Counting, freezing and summarising the parameters of a ``torch.nn.Module``.

Every count here comes from ``Parameter.numel()`` and ``Parameter.requires_grad``, so it works
the same on real tensors and on the ``meta`` device (shapes without storage), which is how the
lessons count the parameters of big torchvision models in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterCounts:
    """How many scalar parameters a module has, split into trainable and frozen."""

    trainable: int
    frozen: int

    @property
    def total(self) -> int:
        return self.trainable + self.frozen

    @property
    def trainable_fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        fraction = self.trainable_fraction
        if 0 < fraction < 0.001:
            share = "<0.1%"
        elif fraction < 0.1:
            share = f"{fraction:.2%}"
        else:
            share = f"{fraction:.1%}"
        return (f"{self.trainable:,} trainable + {self.frozen:,} frozen = {self.total:,} "
                f"({share} trainable)")


def count_parameters(module: nn.Module) -> ParameterCounts:
    """Count the scalar parameters of ``module`` that will and will not receive gradients.

    Shared parameters (the same tensor registered twice, as in tied embeddings) count once,
    as ``Module.parameters()`` yields each tensor once.
    """
    return count_parameters_of(module.parameters())


def count_trainable_parameters(module: nn.Module) -> int:
    """Number of scalar parameters with ``requires_grad=True``."""
    return count_parameters(module).trainable


def count_frozen_parameters(module: nn.Module) -> int:
    """Number of scalar parameters with ``requires_grad=False``."""
    return count_parameters(module).frozen


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer should be given: only those that still train."""
    return [parameter for parameter in module.parameters() if parameter.requires_grad]


def trainable_parameter_names(module: nn.Module) -> list[str]:
    """Qualified names (``layer4.1.conv2.weight``) of the parameters that still train."""
    return [name for name, parameter in module.named_parameters() if parameter.requires_grad]


def set_trainable(modules: nn.Module | Iterable[nn.Module], trainable: bool) -> None:
    """Set ``requires_grad`` on every parameter of one module or of several.

    ``Module.requires_grad_(flag)`` does the same loop inside PyTorch; this helper exists so the
    lessons can freeze a list such as ``[model.layer1, model.layer2]`` in one call.
    """
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        module.requires_grad_(trainable)


def freeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Stop the weights of one or several modules from being updated."""
    set_trainable(modules, False)


def unfreeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Let the weights of one or several modules train again."""
    set_trainable(modules, True)


@dataclass(frozen=True)
class BlockRow:
    """One line of a per-block summary: a named child module and its counts."""

    name: str
    kind: str
    counts: ParameterCounts

    @property
    def status(self) -> str:
        if self.counts.total == 0:
            return "no parameters"
        if self.counts.frozen == 0:
            return "trainable"
        if self.counts.trainable == 0:
            return "frozen"
        return "partly frozen"


def _own_counts(module: nn.Module) -> ParameterCounts:
    """Counts of the parameters registered on ``module`` itself, not on its children."""
    return count_parameters_of(module.parameters(recurse=False))


def count_parameters_of(parameters: Iterable[nn.Parameter]) -> ParameterCounts:
    """Trainable and frozen counts of any iterable of parameters."""
    trainable = frozen = 0
    for parameter in parameters:
        if parameter.requires_grad:
            trainable += parameter.numel()
        else:
            frozen += parameter.numel()
    return ParameterCounts(trainable=trainable, frozen=frozen)


def _rows(module: nn.Module, depth: int, prefix: str = "") -> Iterator[BlockRow]:
    own = _own_counts(module)
    if own.total:
        # Parameters held directly (a ViT's class_token, its encoder's pos_embedding).
        yield BlockRow(f"{prefix}(own)", type(module).__name__, own)
    for name, child in module.named_children():
        qualified = f"{prefix}{name}"
        if depth > 1 and any(True for _ in child.children()):
            yield from _rows(child, depth - 1, prefix=f"{qualified}.")
        else:
            yield BlockRow(qualified, type(child).__name__, count_parameters(child))


class BlockSummary(list):
    """A list of :class:`BlockRow` that prints as a table in a terminal and in a notebook."""

    def totals(self) -> ParameterCounts:
        return ParameterCounts(
            trainable=sum(row.counts.trainable for row in self),
            frozen=sum(row.counts.frozen for row in self),
        )

    def _cells(self) -> list[tuple[str, str, str, str, str]]:
        rows = [(row.name, row.kind, f"{row.counts.trainable:,}", f"{row.counts.frozen:,}",
                 row.status) for row in self]
        totals = self.totals()
        rows.append(("total", "", f"{totals.trainable:,}", f"{totals.frozen:,}", ""))
        return rows

    def __str__(self) -> str:
        header = ("block", "type", "trainable", "frozen", "status")
        rows = [header, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        aligns = ["<", "<", ">", ">", "<"]
        lines = ["  ".join(f"{cell:{align}{width}}" for cell, align, width in zip(row, aligns, widths, strict=True))
                 for row in rows]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(line.rstrip() for line in lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colours = {"frozen": "#dbe9f6", "trainable": "#fde9d9", "partly frozen": "#fff6d5"}
        body = []
        for name, kind, trainable, frozen, status in self._cells():
            style = f' style="background:{colours[status]}"' if status in colours else ""
            weight = ' style="font-weight:bold"' if name == "total" and not kind else ""
            body.append(f"<tr{style or weight}><td>{name}</td><td>{kind}</td>"
                        f"<td style='text-align:right'>{trainable}</td>"
                        f"<td style='text-align:right'>{frozen}</td><td>{status}</td></tr>")
        return ("<table><thead><tr><th>block</th><th>type</th><th>trainable</th><th>frozen</th>"
                "<th>status</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>")


def block_summary(model: nn.Module, depth: int = 1) -> BlockSummary:
    """Trainable and frozen counts for each child block of ``model``.

    ``depth=1`` lists the direct children (``conv1``, ``layer1`` … ``fc`` for a ResNet);
    ``depth=2`` opens each child one level further (``features.0``, ``features.1`` …).
    Parameters registered directly on ``model`` itself (a ViT's ``class_token``) get a row
    named ``(own)`` so the table always adds up to the whole model.
    """
    return BlockSummary(_rows(model, depth))

"""Find, in a learner's cells, code that tries to change how the grader sees the notebook.

The verdicts (:mod:`freezelab.grading.verdicts`) are reached outside the kernel, so patching
``torch.equal`` or swallowing an error cannot turn a wrong answer into a right one there. But such
code is not an answer either, and a learner deserves to be told what was found: a task tested after
a cell that does any of the following scores 0, with a line naming the cell, the line and the thing.

* replacing or deleting an attribute of torch, torchvision, Python's builtins, ``sys``, ``random``,
  ``math``, numpy, IPython or this course's package (``torch.isclose = ...``,
  ``nn.Module.parameters = ...``, ``setattr(builtins, "sum", ...)``);
* changing the notebook's error handling: ``sys.excepthook``, IPython's ``showtraceback``,
  ``set_custom_exc``, input or AST transformers, event callbacks; or the environment nbgrader uses to
  tell the notebook it is being graded (``os.environ``);
* running code it builds at run time or from another file: ``exec``, ``eval``, ``compile``,
  ``__import__``, ``importlib``, ``runpy``, ``%run``; reaching into the interpreter: ``ctypes``, ``gc``,
  ``sys.modules``, ``sys._getframe``, ``__builtins__``; reading notebooks (``nbformat``, ``nbclient``);
  importing the course's grading code (``freezelab.grading``; the rest of ``freezelab`` is the lessons').

It is pure: cell sources in, findings out. Honest styles (loops over ``parameters()``,
``requires_grad_``, ``apply``, recursion, helpers of one's own) touch none of it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

PROTECTED_MODULES = {"torch", "torchvision", "builtins", "sys", "random", "math", "numpy", "IPython", "freezelab"}
"""Modules whose attributes learner code must not replace: the tests and the grader rely on them."""
DEFAULT_ALIASES = {"torch", "nn", "F", "torchvision", "builtins", "sys", "random", "math", "np", "__builtins__"}
FORBIDDEN_NAMES = {
    "exec": "runs code built at run time (`exec`)",
    "eval": "runs code built at run time (`eval`)",
    "compile": "builds code at run time (`compile`)",
    "__import__": "imports by name at run time (`__import__`)",
    "__builtins__": "reaches into Python's builtins (`__builtins__`)",
}
FORBIDDEN_MODULES = {
    "importlib": "imports by name at run time (`importlib`)",
    "runpy": "runs another file (`runpy`)",
    "ctypes": "reaches into the interpreter (`ctypes`)",
    "gc": "reaches into the interpreter's objects (`gc`)",
    "nbformat": "reads notebooks (`nbformat`)",
    "nbclient": "runs notebooks (`nbclient`)",
    "nbconvert": "runs notebooks (`nbconvert`)",
}
GRADING_PACKAGE = "freezelab.grading"
GRADING_IMPORT = "imports the course's grading code (`freezelab.grading`)"
ERROR_HANDLING = {
    "excepthook": "replaces the error handler (`excepthook`)",
    "showtraceback": "replaces IPython's error display (`showtraceback`)",
    "showsyntaxerror": "replaces IPython's error display (`showsyntaxerror`)",
    "set_custom_exc": "installs a custom error handler (`set_custom_exc`)",
    "input_transformers_post": "rewrites the cells before they run (input transformers)",
    "input_transformers_cleanup": "rewrites the cells before they run (input transformers)",
    "ast_transformers": "rewrites the cells before they run (AST transformers)",
    "events": "hooks into cell execution (IPython events)",
}
SYS_ONLY = {
    "modules": "reaches into the loaded modules (`sys.modules`)",
    "_getframe": "reaches into the interpreter's frames (`sys._getframe`)",
}
MAGICS = {"run": "runs another file (`%run`)", "load": "loads another file (`%load`)"}


@dataclass(frozen=True)
class Finding:
    """One suspicious thing in one cell."""

    line: int
    what: str


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


ENVIRON_CHANGES = {"update", "pop", "popitem", "clear", "setdefault", "__setitem__", "__delitem__"}


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or ``os.environ[...]``: where nbgrader tells the notebook it is being graded."""
    if isinstance(node, ast.Subscript):
        node = node.value
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and (node.value.id == "os")
    )


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # unparse of an odd node: the name is only for the message
        return "an attribute"


class _Scanner(ast.NodeVisitor):
    def __init__(self, aliases: set[str]) -> None:
        self.aliases = aliases
        self.findings: list[Finding] = []

    def _add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(getattr(node, "lineno", 0), what))

    def _protected_target(self, target: ast.AST) -> bool:
        return isinstance(target, (ast.Attribute, ast.Subscript)) and (
            _root(target) in self.aliases or _is_environ(target)
        )

    def _check_targets(self, node: ast.AST, targets: list[ast.AST]) -> None:
        for target in targets:
            for part in ast.walk(target) if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                if self._protected_target(part):
                    self._add(node, f"replaces `{_dotted(part)}`")

    def visit_Assign(self, node: ast.Assign) -> None:
        self._check_targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._check_targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if self._protected_target(target):
                self._add(node, f"deletes `{_dotted(target)}`")
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top in FORBIDDEN_MODULES:
                self._add(node, FORBIDDEN_MODULES[top])
            if alias.name.startswith(GRADING_PACKAGE):
                self._add(node, GRADING_IMPORT)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        top = module.split(".")[0]
        if top in FORBIDDEN_MODULES:
            self._add(node, FORBIDDEN_MODULES[top])
        grading = module.startswith(GRADING_PACKAGE) or (
            module == "freezelab" and any(a.name == "grading" for a in node.names)
        )
        if grading:
            self._add(node, GRADING_IMPORT)
        for alias in node.names:
            if alias.name in FORBIDDEN_MODULES or alias.name in FORBIDDEN_NAMES:
                self._add(node, FORBIDDEN_MODULES.get(alias.name) or FORBIDDEN_NAMES[alias.name])
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self._add(node, FORBIDDEN_NAMES[node.id])
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ERROR_HANDLING and (_root(node) in self.aliases or _root(node) == "get_ipython"):
            self._add(node, ERROR_HANDLING[node.attr])
        if node.attr in SYS_ONLY and isinstance(node.value, ast.Name) and node.value.id == "sys":
            self._add(node, SYS_ONLY[node.attr])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Attribute) and (
            (_is_environ(function.value) and function.attr in ENVIRON_CHANGES)
            or (
                isinstance(function.value, ast.Name)
                and function.value.id == "os"
                and function.attr in {"putenv", "unsetenv"}
            )
        ):
            self._add(node, "changes the environment the grader reads (`os.environ`)")
        name = node.func.id if isinstance(node.func, ast.Name) else None
        shell = node.args and (_root(node.args[0]) in self.aliases or _root(node.args[0]) == "get_ipython")
        if name == "getattr" and shell and len(node.args) > 1:
            attribute = node.args[1].value if isinstance(node.args[1], ast.Constant) else None
            if attribute in ERROR_HANDLING:
                self._add(node, ERROR_HANDLING[attribute])
            elif attribute is None and _root(node.args[0]) in {"get_ipython", "sys", "builtins", "IPython"}:
                self._add(node, "looks up the shell's or interpreter's attributes by a name built at run time")
        if name in {"setattr", "delattr"} and node.args and _root(node.args[0]) in self.aliases:
            self._add(
                node, f"{'replaces' if name == 'setattr' else 'deletes'} an attribute of `{_dotted(node.args[0])}`"
            )
        if isinstance(node.func, ast.Attribute) and node.func.attr in {"run_line_magic", "run_cell_magic"}:
            magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
            if magic in MAGICS:
                self._add(node, MAGICS[magic])
        self.generic_visit(node)


def _python(source: str) -> str:
    """The cell as Python: IPython's magics and shell escapes turned into calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or the cell defeats it: scan the text as it is
        return source


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree, or None for a cell that is not valid Python (it has nothing to find)."""
    try:
        return ast.parse(_python(source))
    except SyntaxError:
        return None


def aliases_in(sources: list[str]) -> set[str]:
    """Every name the notebook binds to a protected module (``import torch.nn as nn`` gives ``nn``)."""
    names = set(DEFAULT_ALIASES)
    for source in sources:
        tree = _parse(source)
        if tree is not None:
            names |= _imported_aliases(tree)
            _add_assigned_aliases(tree, names)
    return names


def _imported_aliases(tree: ast.AST) -> set[str]:
    """The names a cell's imports bind to a protected module or to something from one."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops = [(alias, alias.name.split(".")[0]) for alias in node.names]
            names.update(alias.asname or top for alias, top in tops if top in PROTECTED_MODULES)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PROTECTED_MODULES:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _add_assigned_aliases(tree: ast.AST, names: set[str]) -> None:
    """`Module = nn.Module` and `ip = get_ipython()` make more of them, each building on those before."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_alias_value(node.value, names):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))


def _is_alias_value(value: ast.AST, names: set[str]) -> bool:
    shell = isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "get_ipython"
    return shell or (_root(value) in names and not isinstance(value, ast.Call))


def scan(source: str, aliases: set[str] | None = None) -> list[Finding]:
    """What one cell does that it must not; a cell that is not valid Python has nothing to find."""
    tree = _parse(source)
    if tree is None:
        return []
    scanner = _Scanner(aliases or set(DEFAULT_ALIASES))
    scanner.visit(tree)
    unique = {(f.line, f.what): f for f in scanner.findings}
    return sorted(unique.values(), key=lambda f: f.line)

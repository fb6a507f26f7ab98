"""The code follows the house style: `make lint` checks every Python file, and ruff finds nothing."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]


def make_lint_arguments() -> list[str]:
    """What `make lint` passes to ruff, read from the Makefile (so this tests what the front door runs)."""
    recipe = re.search(r"^lint:.*\n\t\$\(VENV\)/bin/ruff (.+)$", (REPO / "Makefile").read_text(), re.M)
    assert recipe, "the Makefile has no `lint` recipe running ruff"
    return recipe.group(1).split()


def ruff(*arguments: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUFF), *arguments], cwd=cwd, capture_output=True, text=True)


def test_ruff_finds_nothing():
    """Does `make lint` (ruff check) pass?"""
    result = ruff(*make_lint_arguments())
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_lint_checks_every_python_file_in_git():
    """Is every tracked Python file among those `make lint` checks (no folder left out, nothing excluded)?"""
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    checked = ruff(*make_lint_arguments(), "--show-files").stdout.split()
    checked = {Path(path).resolve().relative_to(REPO).as_posix() for path in checked}
    missing = sorted(set(tracked.stdout.split()) - checked)
    assert tracked.stdout.split() and not missing, f"not linted: {missing}"


def test_the_house_rules_are_on_and_bite(tmp_path):
    """Are PIE, C901 (at 10) and RUF100 selected, and does each report the mistake it exists for?"""
    assert {"PIE", "C901", "RUF100"} <= set(CONFIG["select"])
    assert CONFIG["mccabe"]["max-complexity"] == 10
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(10))  # complexity 11
    tangled = f"def tangled(x):\n{branches}    return x\n"
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os  # noqa: E501\n\n\n"
        f"def uses_os():\n    return os.sep\n\n\n{tangled}\n\n"
        "class Empty:\n    '''Nothing.'''\n\n    pass\n"
    )
    result = ruff("check", "--config", str(REPO / "pyproject.toml"), "--output-format", "concise", str(sample))
    reported = set(re.findall(r": ([A-Z]+[0-9]+) ", result.stdout))
    assert {"RUF100", "C901", "PIE790"} <= reported, result.stdout

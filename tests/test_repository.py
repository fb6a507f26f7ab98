"""The repository itself: its layout, its one list of pins, and clean notebooks in git."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
REQUIRED_PINS = {"torch": "2.14.1", "torchvision": "0.29.1", "nbgrader": "0.9.6"}
REQUIRED_PACKAGES = {"jupyterlab", "notebook", "ipywidgets", "matplotlib", "pytest", "playwright"}


def read_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {line!r} is not pinned with =="
            pins[name.strip().lower()] = version.strip()
    return pins


def test_design_card_layout_exists():
    """Does the top level hold every folder and file of the design card?"""
    for name in ["notebooks", "quizzes", "solutions", "autograder", "tests", "environment.yml",
                 "README.md", "pyproject.toml", "Makefile", ".ci/run", "requirements.txt"]:
        assert (REPO / name).exists(), f"{name} is missing"


def test_one_list_of_pins_with_the_required_versions():
    """Does requirements.txt pin torch, torchvision and nbgrader to the versions this machine has?"""
    pins = read_pins()
    for name, version in REQUIRED_PINS.items():
        assert pins.get(name) == version
    assert REQUIRED_PACKAGES <= set(pins)


def test_pip_and_conda_routes_read_the_same_pins():
    """Do pyproject.toml and environment.yml both take their dependencies from requirements.txt only?"""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "dependencies" in project["project"]["dynamic"]
    assert "dependencies" not in project["project"], "a second list of pins in pyproject.toml"
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]

    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_deps = environment["dependencies"]
    pip_section = next(item["pip"] for item in conda_deps if isinstance(item, dict))
    assert pip_section == ["-r requirements.txt", "-e ."]
    conda_packages = [item for item in conda_deps if isinstance(item, str)]
    python = next(item for item in conda_packages if item.startswith("python"))
    assert python == "python=3.11"
    assert project["project"]["requires-python"] == ">=3.11,<3.12"
    # Nothing but python and pip may come from conda: every other package is a pin of the list.
    assert sorted(conda_packages) == ["pip", "python=3.11"]


def test_installed_environment_matches_the_pins():
    """Is every pinned package installed at exactly its pinned version (no silent drift in .venv)?"""
    mismatches = {}
    for name, version in read_pins().items():
        installed = metadata.version(name)
        if installed.split("+")[0] != version:
            mismatches[name] = (version, installed)
    assert not mismatches


def test_committed_notebooks_carry_no_outputs():
    """Does every notebook in git have empty outputs and no execution counts?"""
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "*.ipynb"],
                               cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    dirty = []
    for relative in tracked + untracked:
        if not (REPO / relative).exists():
            continue
        notebook = json.loads((REPO / relative).read_text())
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count")):
                dirty.append(relative)
                break
    assert not dirty, f"notebooks with outputs or execution counts: {dirty}"


def test_lesson_notebooks_are_named_in_walking_order():
    """Are the lesson notebooks named NN-slug and numbered without gaps from 00?"""
    names = sorted(p.stem for p in (REPO / "solutions" / "lessons").glob("*.ipynb"))
    assert names, "no lessons yet"
    for index, name in enumerate(names):
        assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*", name), name
        assert int(name[:2]) == index, f"lesson numbers skip at {name}"


def test_readme_shows_the_two_commands_and_the_makefile_has_them():
    """Does the README give `make lab` and `make test`, and does the Makefile define every verb it names?"""
    readme = (REPO / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(), flags=re.M))
    for verb in set(re.findall(r"`make ([a-z-]+)", readme)):
        assert verb in targets, f"README names `make {verb}`, which the Makefile lacks"


def test_ci_runs_the_readme_test_command():
    """Does .ci/run call `make test`?"""
    assert re.search(r"^make test\b", (REPO / ".ci" / "run").read_text(), flags=re.M)


@pytest.mark.slow
def test_second_setup_installs_nothing():
    """Is the environment up to date after set-up, so `make lab`/`make test` do not reinstall?"""
    result = subprocess.run(["make", "-q", "setup"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, "make would rebuild .venv: the install stamp is older than the pins"

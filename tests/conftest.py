"""Shared fixtures and options for the whole suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite the expected autograder results beside the fixtures instead of comparing",
    )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(autouse=True)
def _isolated_learner_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Keep every test's quiz progress and grading state out of the repository and the home folder."""
    monkeypatch.setenv("FREEZELAB_PROGRESS_DIR", str(tmp_path_factory.mktemp("progress")))
    monkeypatch.setenv("FREEZELAB_GRADING_DIR", str(tmp_path_factory.mktemp("grading-state")))
    yield


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def requires_sandbox() -> pytest.MarkDecorator:
    """Tests that autograde run learner code in bubblewrap: skipped with a reason without it, required in CI."""
    missing = shutil.which("bwrap") is None
    if missing and running_in_ci():
        raise RuntimeError("CI must have bubblewrap for the autograder's sandbox: .ci/run installs it")
    return pytest.mark.skipif(missing, reason="bubblewrap is not installed (apt-get install bubblewrap)")

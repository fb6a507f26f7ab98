"""The launcher behind both front doors (`freezelab.lab`), and that every route uses it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from freezelab.lab import DOORS, START_PAGE, lab_command
from freezelab.paths import AUTOGRADER_DIR, NOTEBOOKS_DIR, REPO_ROOT


def test_the_learner_door_serves_notebooks_with_its_own_settings():
    """Does the learner's command serve notebooks/, open the start page, and put jupyter/learner/
    then autograder/ on the config path, keeping what the user had after them?"""
    command, env = lab_command(DOORS["learner"], ["--port=9999"])
    assert command[1:4] == ["-m", "jupyter", "lab"] and command[-1] == "--port=9999"
    assert f"--ServerApp.root_dir={NOTEBOOKS_DIR}" in command
    assert "--LabApp.default_url=/lab/tree/lessons/00-start-here.ipynb" in command
    assert f"--LabApp.app_settings_dir={REPO_ROOT / 'jupyter' / 'learner' / 'lab-settings'}" in command
    paths = env["JUPYTER_CONFIG_PATH"].split(":")
    assert paths[:2] == [str(REPO_ROOT / "jupyter" / "learner"), str(AUTOGRADER_DIR)]
    assert START_PAGE.exists()


def test_the_instructor_door_serves_the_repository(monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", "/somewhere/else")
    command, env = lab_command(DOORS["instructor"])
    assert f"--ServerApp.root_dir={REPO_ROOT}" in command
    assert "--LabApp.default_url=/lab/tree/notebooks/lessons/00-start-here.ipynb" in command
    assert not any(option.startswith("--LabApp.app_settings_dir") for option in command)
    assert env["JUPYTER_CONFIG_PATH"].split(":")[-1] == "/somewhere/else"


def test_both_doors_switch_off_the_news_and_keep_widgets_readable():
    """Do both doors' settings turn the news pop-up off and save notebooks through the hook?"""
    for door in DOORS.values():
        server = json.loads((door.config / "jupyter_server_config.json").read_text())
        page = json.loads((door.config / "labconfig" / "page_config.json").read_text())
        assert server["LabApp"]["news_url"] is None
        assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True
        assert server["ContentsManager"]["pre_save_hook"] == "freezelab.quiz.saving.pre_save_hook"


def test_make_and_conda_routes_use_the_launcher():
    """Do `make lab`, `make instructor`, the README's conda route and environment.yml all name
    `python -m freezelab.lab`, so no route can set less than another?"""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^lab: .*\n\t\$\(PY\) -m freezelab\.lab \$\(LAB_ARGS\)$", makefile, re.M)
    assert re.search(r"^instructor: .*\n\t\$\(PY\) -m freezelab\.lab --instructor \$\(LAB_ARGS\)$", makefile, re.M)
    readme = (REPO_ROOT / "README.md").read_text()
    assert "conda activate freezelab\npython -m freezelab.lab" in readme
    assert "LAB_ARGS" in readme
    assert "python -m freezelab.lab" in Path(REPO_ROOT / "environment.yml").read_text()

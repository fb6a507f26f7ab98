"""The course's two front doors: JupyterLab for a learner, and for an instructor.

``python -m freezelab.lab`` (``make lab``) opens the learner's door: it serves ``notebooks/``
only, so neither the masters in ``solutions/`` nor the question bank in ``quizzes/`` (answer key
included) is in the file browser, and nbgrader's instructor tools are switched off.
``python -m freezelab.lab --instructor`` (``make instructor``) serves the whole repository with
formgrader and Create Assignment. Each door's settings live in ``jupyter/<door>/`` (see its
README); this module only puts them in front of JupyterLab, so that the pip and the conda routes
open exactly the same course. Any further argument goes to ``jupyter lab`` unchanged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from freezelab.paths import AUTOGRADER_DIR, NOTEBOOKS_DIR, REPO_ROOT

CONFIG_DIR = REPO_ROOT / "jupyter"
START_PAGE = NOTEBOOKS_DIR / "lessons" / "00-start-here.ipynb"


@dataclass(frozen=True)
class Door:
    name: str
    root: Path
    config: Path

    @property
    def start_url(self) -> str:
        return "/lab/tree/" + START_PAGE.relative_to(self.root).as_posix()

    @property
    def settings(self) -> Path | None:
        folder = self.config / "lab-settings"
        return folder if folder.is_dir() else None


DOORS = {
    "learner": Door("learner", NOTEBOOKS_DIR, CONFIG_DIR / "learner"),
    "instructor": Door("instructor", REPO_ROOT, CONFIG_DIR / "instructor"),
}


def lab_command(door: Door, extra: Sequence[str] = ()) -> tuple[list[str], dict[str, str]]:
    """The ``jupyter lab`` command line and environment that open ``door``."""
    environment = dict(os.environ)
    # The door's settings first, then nbgrader's course configuration (Validate and the
    # instructor tools read autograder/nbgrader_config.py), then whatever the user had.
    paths = [str(door.config), str(AUTOGRADER_DIR)]
    if environment.get("JUPYTER_CONFIG_PATH"):
        paths.append(environment["JUPYTER_CONFIG_PATH"])
    environment["JUPYTER_CONFIG_PATH"] = os.pathsep.join(paths)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        f"--ServerApp.root_dir={door.root}",
        f"--LabApp.default_url={door.start_url}",
    ]
    if door.settings is not None:
        command.append(f"--LabApp.app_settings_dir={door.settings}")
    # Jupyter refuses to run as root unless told; containers and CI shells often are root.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command + list(extra), environment


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    name = "learner"
    if "--instructor" in arguments:
        arguments.remove("--instructor")
        name = "instructor"
    command, environment = lab_command(DOORS[name], arguments)
    os.execvpe(command[0], command, environment)


if __name__ == "__main__":
    main()

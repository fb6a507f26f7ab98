"""``python -m freezelab.hub``: set a class up on this machine, and run its JupyterHub.

setup    accounts, the instructors' group, the exchange and grading folders, the deadlines (root)
run      setup, then JupyterHub in the foreground until Ctrl-C, which stops every user's server too
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from freezelab.hub.classroom import CLASS_FILE, HUB_DIR, SETTINGS_VARIABLE, VENV_BIN, ClassError, ClassSettings, set_up


def report(settings: ClassSettings, created: dict[str, str]) -> str:
    lines = [
        f"class {settings.course_id} in {settings.class_dir}",
        f"  exchange:     {settings.exchange_dir}",
        f"  grading:      {settings.grading_dir} (instructors only)",
        f"  instructors:  {', '.join(settings.instructors)} (formgrader; group {settings.instructors_group})",
        f"  learners:     {', '.join(settings.learners) or 'none'} (Assignments panel)",
        f"  time zone:    {settings.timezone}",
    ]
    for assignment, when in sorted(settings.deadlines.items()):
        utc = settings.deadline_utc(assignment)
        lines.append(f"  due:          {assignment} {when} {settings.timezone} ({utc} UTC)")
    if created:
        lines.append(f"  new accounts: {', '.join(created)}; passwords in {settings.passwords_file}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freezelab.hub", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["setup", "run", "canvas"])
    parser.add_argument("--canvas-export", type=Path, help="canvas: the gradebook CSV exported from Canvas")
    parser.add_argument("--grades", type=Path, help="canvas: nbgrader's grades.csv (exports/grades.csv)")
    parser.add_argument("--out", type=Path, help="canvas: the file to write for Canvas's import (must be new)")
    parser.add_argument("--key", default="SIS Login ID", help="canvas: the column holding the hub's login")
    parser.add_argument("--class-file", type=Path, default=CLASS_FILE, help="the class description (hub/class.toml)")
    parser.add_argument("--class-dir", help="the class's folder (default /srv/freezelab-class)")
    parser.add_argument("--port", type=int, help="the hub's port on the loopback address")
    parser.add_argument("--hub-port", type=int, help="the hub's internal API port")
    parser.add_argument("--proxy-api-port", type=int, help="the proxy's API port")
    parser.add_argument("--instructor", action="append", help="instructor account (repeatable; replaces the file's)")
    parser.add_argument("--learner", action="append", help="learner account (repeatable; replaces the file's)")
    parser.add_argument("--instructors-group", help="the instructors' Linux group (default <course>-instructors)")
    args = parser.parse_args(argv)
    if args.command == "canvas":
        from freezelab.hub.canvas import CanvasError, fill_gradebook
        from freezelab.hub.canvas import report as canvas_report

        if not (args.canvas_export and args.grades and args.out):
            parser.error("canvas needs --canvas-export, --grades and --out")
        for path in (args.canvas_export, args.grades):
            if not path.is_file():
                parser.error(f"{path}: no such file")
        try:
            print(canvas_report(fill_gradebook(args.canvas_export, args.grades, args.out, args.key)))
        except CanvasError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    try:
        settings = ClassSettings.from_file(
            args.class_file,
            class_dir=args.class_dir,
            port=args.port,
            hub_port=args.hub_port,
            proxy_api_port=args.proxy_api_port,
            instructors=args.instructor,
            learners=args.learner,
            instructors_group=args.instructors_group,
        )
        created = set_up(settings)
    except ClassError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(settings, created), flush=True)
    if args.command == "setup":
        return 0
    print(f"\nJupyterHub on {settings.url} (Ctrl-C stops it and every user's server)\n", flush=True)
    os.chdir(settings.hub_state_dir)
    env = dict(os.environ, **{SETTINGS_VARIABLE: str(settings.settings_file)})
    hub = str(VENV_BIN / "jupyterhub")
    os.execve(hub, [hub, "-f", str(HUB_DIR / "jupyterhub_config.py")], env)


if __name__ == "__main__":
    sys.exit(main())

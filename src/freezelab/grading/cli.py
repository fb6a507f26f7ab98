"""``python -m freezelab.grading`` (also ``freezelab-grade``): one command per grading step, and one for all.

    all [SOURCE]       collect (when SOURCE is given), autograde, feedback, export, summary
    collect SOURCE     a folder of learner folders, or an LMS download (.zip) via nbgrader zip_collect
    autograde          every collected submission, with a progress bar
    feedback           feedback HTML for every graded submission (hidden tests never included)
    export             grades.csv (nbgrader export) and task-scores.csv
    summary            exports/summary.png: score distribution and pass rate per task
    check NOTEBOOK     grade one notebook on its own, without the class's gradebook
    demo               sample submissions through the whole pipeline, in a fresh folder

The class's state is ``autograder/`` unless ``--state`` or ``FREEZELAB_GRADING_DIR`` says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from freezelab.grading.course import Course


def _course(args: argparse.Namespace) -> Course:
    return Course(Path(args.state).resolve()) if args.state else Course.from_environment()


def _print_outcomes(outcomes: list) -> None:
    for outcome in outcomes:
        flag = "" if outcome.fully_graded else "  (not fully graded: see below)"
        print(f"{outcome.submission}: {outcome.score:g}/{outcome.max_score:g}{flag}")
        for problem in outcome.problems:
            print(f"    - {problem.message}")


RUNS_LEARNER_CODE = {"all", "autograde", "check", "demo"}


def _sandbox_or_refusal(no_sandbox: bool) -> str | None:
    """Make sure learner code will run sandboxed, or say why grading cannot start. ``None``: go ahead."""
    from freezelab.grading.sandbox import NO_SANDBOX_ENV, SandboxUnavailable, preflight

    if no_sandbox:
        os.environ[NO_SANDBOX_ENV] = "1"
        print("warning: --no-sandbox: learner code runs with your own rights; every note says so.", file=sys.stderr)
        return None
    os.environ.pop(NO_SANDBOX_ENV, None)
    try:
        preflight()
    except SandboxUnavailable as error:
        return f"Nothing was graded. {error}"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m freezelab.grading",
        description="Grade the course with nbgrader: one command per step, and one for all.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="commands:\n" + "\n".join(__doc__.split("\n")[1:]).replace("``", ""),
    )
    parser.add_argument("--state", help="the grading state folder (default: $FREEZELAB_GRADING_DIR or autograder/)")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run learner code without bubblewrap (only inside a container of your own); every note says so",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    every = commands.add_parser("all", help="collect, autograde, feedback, export, summary")
    every.add_argument("source", nargs="?", type=Path, help="submissions to collect first")
    collecting = commands.add_parser("collect", help="gather submissions into submitted/")
    collecting.add_argument("source", type=Path)
    collecting.add_argument("--regexp", help="nbgrader FileNameCollectorPlugin.named_regexp for LMS file names")
    grading = commands.add_parser("autograde", help="autograde every collected submission")
    grading.add_argument("--student", action="append", help="only this learner (repeatable)")
    for sub in (every, collecting, grading):
        sub.add_argument("--assignment", help="the assignment (default: guessed, or every assignment)")
    for sub in (every, grading):
        sub.add_argument("--jobs", type=int, help="grading workers on this machine (default: one per core)")
        sub.add_argument(
            "--scheduler",
            metavar="tcp://HOST:8786",
            help="grade on the workers of this dask.distributed cluster instead (see autograder/README.md)",
        )
    for name in ("feedback", "export", "summary"):
        commands.add_parser(name, help=f"the {name} step")
    checking = commands.add_parser("check", help="grade one notebook without the class's gradebook")
    checking.add_argument("notebook", type=Path)
    checking.add_argument("--assignment", help="the assignment it belongs to (default: from its name)")
    checking.add_argument("--html", type=Path, help="where to write the feedback page")
    checking.add_argument("--strict", action="store_true", help="exit 1 unless the notebook scores full marks")
    demo = commands.add_parser("demo", help="sample submissions through the whole pipeline")
    demo.add_argument("--out", type=Path, help="folder for the demo (default: a new temporary folder)")
    demo.add_argument("--jobs", type=int, help="grading workers (default: one per core)")
    demo.add_argument("--only", action="append", metavar="SAMPLE", help="only this sample (repeatable)")
    return parser


def _check(args: argparse.Namespace) -> int:
    import tempfile

    from freezelab.grading.check import check_notebook, report

    if not args.notebook.is_file():
        print(f"{args.notebook}: no such file", file=sys.stderr)
        return 2
    html = args.html or Path(tempfile.mkdtemp(prefix="freezelab-feedback-")) / f"{args.notebook.stem}.html"
    result = check_notebook(args.notebook, args.assignment, html)
    print(report(result))
    # A partial score is a result, not a failure (--strict makes it one, for a learner's own CI);
    # a notebook that could not be graded at all is one.
    if not result.outcome.fully_graded:
        return 1
    return 1 if args.strict and not result.full_marks else 0


def _demo(args: argparse.Namespace) -> int:
    from freezelab.grading.demo import demo_report, run_demo

    result = run_demo(args.out, jobs=args.jobs, only=args.only)
    print(demo_report(result))
    return 0 if result.all_as_expected else 1


def _collect(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.collect import collect

    collected = collect(course, args.source, args.assignment, args.regexp)
    print(f"{collected.assignment}: collected {len(collected.students)} submission(s) into {course.submitted_dir}")
    for warning in collected.warnings:
        print(f"  warning: {warning}")
    return 0


def _autograde(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.autograde import autograde

    _print_outcomes(autograde(course, args.assignment, args.student, jobs=args.jobs, scheduler=args.scheduler))
    return 0


def _feedback(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.feedback import feedback

    pages = feedback(course)
    print(f"{len(pages)} feedback page(s) in {course.feedback_dir}")
    return 0


def _export(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.export import export

    exported = export(course)
    print(f"grades:   {exported.grades_csv}\nper task: {exported.tasks_csv}")
    return 0


def _summary(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.summary import summarise

    summary = summarise(course)
    print(f"{summary.text}\nsummary plot: {summary.picture}")
    return 0


def _all(args: argparse.Namespace, course: Course) -> int:
    from freezelab.grading.run_all import run_all

    result = run_all(course, args.source, args.assignment, jobs=args.jobs, scheduler=args.scheduler)
    if result.collected:
        print(f"collected {len(result.collected.students)} submission(s)")
    _print_outcomes(result.outcomes)
    print(f"\n{result.summary.text}\n")
    print(f"feedback: {len(result.feedback_pages)} page(s) in {course.feedback_dir}")
    print(f"grades:   {result.exported.grades_csv}\nper task: {result.exported.tasks_csv}")
    print(f"summary:  {result.summary.picture}")
    return 0


STEPS = {
    "collect": _collect,
    "autograde": _autograde,
    "feedback": _feedback,
    "export": _export,
    "summary": _summary,
    "all": _all,
}
"""The commands that work on a class's state folder, by name."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in RUNS_LEARNER_CODE:
        refusal = _sandbox_or_refusal(args.no_sandbox)
        if refusal:
            print(refusal, file=sys.stderr)
            return 2
    if args.command == "check":
        return _check(args)
    if args.command == "demo":
        return _demo(args)
    course = _course(args)
    needs_submissions = args.command == "autograde" or (args.command == "all" and not args.source)
    if needs_submissions and not course.submissions(args.assignment):
        print(
            f"No submissions in {course.submitted_dir}: collect some first "
            "(python -m freezelab.grading collect FOLDER).",
            file=sys.stderr,
        )
        return 1
    return STEPS[args.command](args, course)


if __name__ == "__main__":
    sys.exit(main())

"""Command line for course authors.

python -m freezelab.quiz validate           # check every bank file in quizzes/
python -m freezelab.quiz keyless mastery    # regenerate the graded quiz's released questions
python -m freezelab.quiz keyless mastery --check   # fail if that file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from freezelab.paths import QUIZZES_DIR, SOLUTIONS_DIR
from freezelab.quiz.bank import (
    BankError,
    dump_keyless,
    keyless_document,
    load_quiz,
    quiz_names,
    read_document,
    validate_document,
)

# The graded assignment that releases each quiz without its key.
KEYLESS_TARGETS = {"mastery": SOLUTIONS_DIR / "mastery-quiz" / "mastery-questions.json"}


def bank_files(folder: Path = QUIZZES_DIR) -> list[Path]:
    """Every data file of the bank (schemas and docs excluded)."""
    return sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".yml", ".json"})


def validate_all(folder: Path = QUIZZES_DIR) -> list[str]:
    problems = []
    for path in bank_files(folder):
        try:
            validate_document(read_document(path), str(path))
        except BankError as error:
            problems.append(str(error))
        except Exception as error:  # a YAML syntax error is a finding too
            problems.append(f"{path}: {error}")
    if not problems:
        for name in quiz_names():
            try:
                load_quiz(name)
            except (BankError, KeyError) as error:
                problems.append(str(error))
    return problems


def keyless_text(name: str) -> str:
    return dump_keyless(keyless_document(load_quiz(name)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freezelab.quiz", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("validate", help="validate every bank file in quizzes/")
    keyless = commands.add_parser("keyless", help="write the keyless questions of a graded quiz")
    keyless.add_argument("quiz", choices=sorted(KEYLESS_TARGETS))
    keyless.add_argument("--output", type=Path, help="where to write (default: its assignment folder)")
    keyless.add_argument("--check", action="store_true", help="only report whether the file is stale")
    args = parser.parse_args(argv)

    if args.command == "validate":
        problems = validate_all()
        for problem in problems:
            print(problem, file=sys.stderr)
        print("quizzes/: " + ("INVALID" if problems else f"{len(bank_files())} file(s) valid"))
        return 1 if problems else 0

    target = args.output or KEYLESS_TARGETS[args.quiz]
    text = keyless_text(args.quiz)
    if args.check:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is stale: run `python -m freezelab.quiz keyless {args.quiz}`.")
            return 1
        print(f"{target} matches the bank.")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

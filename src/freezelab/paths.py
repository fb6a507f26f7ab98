"""Where the course's folders are, wherever the package is imported from."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS_DIR = REPO_ROOT / "solutions"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
QUIZZES_DIR = REPO_ROOT / "quizzes"
SCHEMA_DIR = QUIZZES_DIR / "schema"
AUTOGRADER_DIR = REPO_ROOT / "autograder"

"""Tests for freezelab.grading.course: which folders of solutions/ are the course's assignments."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from freezelab.grading.course import Course, assignment_names, notebook_names


def _notebook(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(), path)


def test_only_folders_holding_a_notebook_are_assignments(tmp_path):
    """Are hidden, private and notebook-less folders (and stray files) left out of the assignments?"""
    _notebook(tmp_path / "graded" / "graded.ipynb")
    _notebook(tmp_path / "lessons" / "01-first.ipynb")
    _notebook(tmp_path / "_drafts" / "draft.ipynb")
    _notebook(tmp_path / ".ipynb_checkpoints" / "graded-checkpoint.ipynb")
    _notebook(tmp_path / "renamed" / ".ipynb_checkpoints" / "old-checkpoint.ipynb")
    (tmp_path / "shared-data").mkdir()
    (tmp_path / "shared-data" / "weights.json").write_text("{}")
    (tmp_path / "README.ipynb").write_text("{}")
    assert assignment_names(tmp_path) == ["graded", "lessons"]


def test_the_notebooks_of_an_assignment_are_its_own_top_level_ones(tmp_path):
    """Are an assignment's notebooks those directly in its folder, as nbgrader's `*.ipynb` finds them?"""
    _notebook(tmp_path / "lessons" / "02-second.ipynb")
    _notebook(tmp_path / "lessons" / "01-first.ipynb")
    _notebook(tmp_path / "lessons" / ".ipynb_checkpoints" / "01-first-checkpoint.ipynb")
    assert notebook_names("lessons", tmp_path) == ["01-first", "02-second"]


def _schema(db: Path) -> tuple[list[tuple[str, str]], list[tuple[str]]]:
    with sqlite3.connect(db) as connection:
        tables = connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    return [(name, " ".join((sql or "").split())) for name, sql in tables], version


def test_a_gradebook_made_in_process_is_the_one_nbgrader_makes(tmp_path, monkeypatch):
    """Does Course.create_gradebook write nbgrader's tables and alembic version, which nbgrader then opens?"""
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    ours = Course(tmp_path / "ours")
    ours.create_gradebook()
    with Gradebook(f"sqlite:///{tmp_path / 'nbgraders.db'}"):  # nbgrader's own, through `alembic heads`
        pass
    assert _schema(ours.db_path) == _schema(tmp_path / "nbgraders.db")
    with ours.gradebook() as gradebook:  # nbgrader opens it as one of its own, and it is kept
        gradebook.add_student("ada")
    ours.create_gradebook()
    with ours.gradebook() as gradebook:
        assert [s.id for s in gradebook.students] == ["ada"]

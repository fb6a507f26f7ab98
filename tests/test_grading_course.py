"""Tests for freezelab.grading.course: which folders of solutions/ are the course's assignments."""

from __future__ import annotations

from pathlib import Path

import nbformat

from freezelab.grading.course import assignment_names, notebook_names


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

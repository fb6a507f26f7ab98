"""Grades into Canvas: a Canvas gradebook export filled from nbgrader's grades.csv (freezelab.hub.canvas)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.hub.canvas import CanvasError, fill_gradebook

FILES = Path(__file__).parent / "files"
EXPORT = FILES / "canvas-gradebook-export.csv"
GRADES = FILES / "nbgrader-grades-export.csv"


def test_scores_land_in_the_canvas_columns_of_each_learner(tmp_path):
    """Does each learner's score go into the Canvas column titled like the assignment, matched by login, with
    Canvas's identity columns kept, other Canvas columns left out, and the misfits named?"""
    filled = fill_gradebook(EXPORT, GRADES, tmp_path / "import.csv")
    with filled.path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "Student",
        "ID",
        "SIS User ID",
        "SIS Login ID",
        "Section",
        "Freeze it yourself (4101)",
        "Mastery quiz (4102)",
    ]
    by_login = {row["SIS Login ID"]: row for row in rows if row["SIS Login ID"]}
    assert by_login["ada"]["Freeze it yourself (4101)"] == "20.0" and by_login["ada"]["Mastery quiz (4102)"] == "10.0"
    assert by_login["bo"]["Freeze it yourself (4101)"] == "8.0" and by_login["bo"]["Mastery quiz (4102)"] == "7.0"
    assert by_login["cy"]["Freeze it yourself (4101)"] == "" and by_login["ada"]["ID"] == "901"
    assert rows[0]["Student"].strip() == "Points Possible" and rows[0]["Freeze it yourself (4101)"] == "20.00"
    assert filled.scores == 4
    assert filled.learners_not_in_canvas == ["dee"] and filled.canvas_learners_without_grades == ["cy"]


def test_nothing_is_written_over_and_wrong_files_are_named(tmp_path):
    """Is an existing output file left alone, and is a file that is not a Canvas export, or not grades.csv,
    refused saying which?"""
    taken = tmp_path / "import.csv"
    taken.write_text("mine\n")
    with pytest.raises(CanvasError, match="exists already"):
        fill_gradebook(EXPORT, GRADES, taken)
    assert taken.read_text() == "mine\n"
    with pytest.raises(CanvasError, match="not a Canvas gradebook export"):
        fill_gradebook(GRADES, GRADES, tmp_path / "a.csv")
    with pytest.raises(CanvasError, match="not nbgrader's grades.csv"):
        fill_gradebook(EXPORT, EXPORT, tmp_path / "b.csv")


def test_the_command_says_what_it_did(tmp_path):
    """Does `python -m freezelab.hub canvas` write the file and report the columns and the misfits?"""
    out = tmp_path / "import.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "freezelab.hub",
            "canvas",
            "--canvas-export",
            str(EXPORT),
            "--grades",
            str(GRADES),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "4 score(s)" in done.stdout and "freeze-it-yourself → Freeze it yourself (4101)" in done.stdout
    assert "graded but not in the Canvas export: dee" in done.stdout and out.exists()

"""Grades into Canvas: fill a Canvas gradebook export with the scores of nbgrader's ``grades.csv``.

Canvas imports grades only in the layout of its own gradebook export (*Grades → Export*): the columns
``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per assignment titled
``<name> (<Canvas id>)``, and a ``Points Possible`` row under the header. This takes such an export and
``exports/grades.csv`` (``nbgrader export``), matches each learner by a Canvas identity column (the login
the hub knows them by, ``SIS Login ID`` by default) and each assignment column by its title, and writes a
new file for *Grades → Import* with the identity columns and the filled assignment columns only. It never
writes over a file, and says which learners or assignments it could not place.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class CanvasError(ValueError):
    """The files cannot be combined as asked; the message says why."""


@dataclass
class Filled:
    """What went into the import file, and what could not."""

    path: Path
    columns: dict[str, str]  # nbgrader assignment -> Canvas column
    scores: int = 0
    learners_not_in_canvas: list[str] = field(default_factory=list)
    canvas_learners_without_grades: list[str] = field(default_factory=list)
    assignments_without_column: list[str] = field(default_factory=list)


def _plain(title: str) -> str:
    """An assignment title without Canvas's ``(id)``, in lower case, with spaces, - and _ alike."""
    title = re.sub(r"\s*\(\d+\)\s*$", "", title)
    return re.sub(r"[\s_-]+", " ", title).strip().lower()


def fill_gradebook(canvas_export: Path, grades_csv: Path, out: Path, key: str = "SIS Login ID") -> Filled:
    if out.exists():
        raise CanvasError(f"{out} exists already; choose another name (nothing is written over)")
    with canvas_export.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
        header = list(rows[0].keys()) if rows else []
    missing = [name for name in ("Student", key) if name not in header]
    if missing:
        raise CanvasError(
            f"{canvas_export} is not a Canvas gradebook export: no column {', '.join(missing)} "
            f"(its columns: {', '.join(header) or 'none'})"
        )
    with grades_csv.open(newline="") as handle:
        grades = list(csv.DictReader(handle))
    if grades and not {"assignment", "student_id", "score"} <= set(grades[0]):
        raise CanvasError(f"{grades_csv} is not nbgrader's grades.csv: it needs assignment, student_id, score")

    assignments = sorted({row["assignment"] for row in grades})
    candidates = {_plain(title): title for title in header if title not in IDENTITY}
    columns = {name: candidates[_plain(name)] for name in assignments if _plain(name) in candidates}
    filled = Filled(out, columns, assignments_without_column=[a for a in assignments if a not in columns])
    if not columns:
        raise CanvasError(
            f"no column of {canvas_export} is titled like an assignment of {grades_csv} "
            f"({', '.join(assignments)}): create the assignments in Canvas under those names first"
        )
    score = {(row["student_id"], row["assignment"]): row["score"] for row in grades}
    learners = {row["student_id"] for row in grades}
    in_canvas = set()
    written = []
    for row in rows:
        if row["Student"].strip().startswith("Points Possible") or not row.get(key):
            written.append(
                {name: row.get(name, "") for name in IDENTITY if name in header}
                | {column: row.get(column, "") for column in columns.values()}
            )
            continue
        learner = row[key].strip()
        in_canvas.add(learner)
        line = {name: row.get(name, "") for name in IDENTITY if name in header}
        for assignment, column in columns.items():
            value = score.get((learner, assignment))
            line[column] = value if value is not None else row.get(column, "")
            filled.scores += value is not None
        if learner not in learners:
            filled.canvas_learners_without_grades.append(learner)
        written.append(line)
    filled.learners_not_in_canvas = sorted(learners - in_canvas)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("x", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[n for n in IDENTITY if n in header] + list(columns.values()))
        writer.writeheader()
        writer.writerows(written)
    return filled


def report(filled: Filled) -> str:
    lines = [f"{filled.scores} score(s) into {filled.path}, for Canvas's Grades → Import"]
    lines += [f"  {assignment} → {column}" for assignment, column in filled.columns.items()]
    if filled.assignments_without_column:
        lines.append(f"  no Canvas column for: {', '.join(filled.assignments_without_column)}")
    if filled.learners_not_in_canvas:
        lines.append(f"  graded but not in the Canvas export: {', '.join(filled.learners_not_in_canvas)}")
    if filled.canvas_learners_without_grades:
        lines.append(f"  in Canvas without a grade here: {', '.join(filled.canvas_learners_without_grades)}")
    return "\n".join(lines)

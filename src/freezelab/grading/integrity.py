"""Compare a submitted notebook with the assignment it claims to be, and repair what can be repaired.

nbgrader identifies graded cells by the ``grade_id`` in their metadata. Learners delete, duplicate,
split, move and retype those cells, and now and then edit a test cell; stock nbgrader then either
crashes on the whole submission (jupyter/nbgrader#1083, #1941) or leaves a grade that "needs manual
grading" forever (#1682). This module finds every such change, says what it did in one sentence a
learner understands, and decides which autograded test cells it makes worthless: those score 0,
every other task is graded normally.

The module works on plain ``nbformat`` notebooks and an :class:`AssignmentLayout`; it knows nothing
about the gradebook, so it is tested directly. :mod:`freezelab.grading.preprocessors` builds the
layout from the gradebook and runs it inside ``nbgrader autograde``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.utils import is_grade, is_locked, is_solution, is_task

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
METADATA_KEY = "freezelab_grading"

# Inserted ahead of a cell that was missing from a submission and put back from the assignment.
RESTORED_NOTE = "freezelab grading: this cell was missing from the submission and was put back."


@dataclass(frozen=True)
class ExpectedCell:
    """One cell nbgrader tracks (test, answer, read-only or task cell), as the assignment has it."""

    grade_id: str
    cell_type: str
    grade: bool
    solution: bool
    locked: bool
    task: bool = False
    points: float | None = None
    source: str = ""
    """The instructor's source, hidden tests included (what the gradebook stores)."""

    @property
    def is_test(self) -> bool:
        """An autograded test cell: graded, not an answer, so its outputs decide the points."""
        return self.grade and not self.solution and not self.task and self.cell_type == "code"

    @property
    def is_answer(self) -> bool:
        """An answer cell the learner writes in (graded by the tests after it)."""
        return self.solution and not self.grade

    @property
    def is_read_only(self) -> bool:
        """A locked cell that is neither graded nor an answer: set-up code or instructions."""
        return self.locked and not self.grade and not self.solution and not self.task

    @property
    def released_source(self) -> str:
        """The source the learner received: hidden test regions removed."""
        return strip_hidden_tests(self.source)

    def nbgrader_metadata(self) -> dict:
        meta = {
            "grade": self.grade,
            "solution": self.solution,
            "locked": self.locked,
            "task": self.task,
            "grade_id": self.grade_id,
            "cell_type": self.cell_type,
            "schema_version": 3,
        }
        if self.grade or self.task:
            meta["points"] = self.points
        return meta


@dataclass(frozen=True)
class AssignmentLayout:
    """The graded cells of one notebook of an assignment, in order, with a title for each task.

    A task is a run of answer cells followed by the test cells that check them; a problem with an
    answer cell costs the points of the tests after it, a problem with a test cell costs its own.
    """

    cells: tuple[ExpectedCell, ...]
    titles: Mapping[str, str] = field(default_factory=dict)
    """Human title of the task each graded cell belongs to (the heading above it), by grade id."""
    ordered: bool = True
    """Whether ``cells`` is in the assignment's order (False when the source notebook was not found)."""

    def __post_init__(self) -> None:
        ids = [cell.grade_id for cell in self.cells]
        if len(ids) != len(set(ids)):
            raise ValueError("an assignment layout cannot repeat a grade id")

    def by_id(self) -> dict[str, ExpectedCell]:
        return {cell.grade_id: cell for cell in self.cells}

    def position(self) -> dict[str, int]:
        return {cell.grade_id: index for index, cell in enumerate(self.cells)}

    def tests_checking(self, grade_id: str) -> tuple[str, ...]:
        """The test cells whose points depend on the cell ``grade_id``."""
        cells = self.by_id()
        cell = cells[grade_id]
        if cell.is_test:
            return (grade_id,)
        if not cell.is_answer:
            return ()
        index = self.position()[grade_id]
        # The answer cells just before it belong to the same task, and so do the tests after them.
        tests = []
        for later in self.cells[index + 1 :]:
            if later.is_test:
                tests.append(later.grade_id)
            elif tests or not later.is_answer:
                break
        return tuple(tests)

    def title(self, grade_id: str) -> str:
        return self.titles.get(grade_id, grade_id)


@dataclass(frozen=True)
class Problem:
    """Something wrong with a submission's structure, in words for the learner."""

    kind: str
    grade_id: str | None
    message: str
    zeroed: tuple[str, ...] = ()
    """Test cells that score 0 because of this problem."""

    def as_dict(self) -> dict:
        data = asdict(self)
        data["zeroed"] = list(self.zeroed)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> Problem:
        return cls(
            kind=data["kind"],
            grade_id=data.get("grade_id"),
            message=data["message"],
            zeroed=tuple(data.get("zeroed", ())),
        )


# ------------------------------------------------------------------------------------------- text


def _split_hidden(source: str) -> tuple[list[str], list[str]]:
    """The lines outside and inside ``### BEGIN/END HIDDEN TESTS`` regions, delimiters dropped.

    An unterminated region hides everything after its start: when in doubt, show less.
    """
    visible, hidden_lines, hidden = [], [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            hidden = True
        elif END_HIDDEN in line:
            hidden = False
        else:
            (hidden_lines if hidden else visible).append(line)
    return visible, hidden_lines


def strip_hidden_tests(source: str) -> str:
    """Remove ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` regions, as nbgrader does on release."""
    return "\n".join(_split_hidden(source)[0])


def hidden_test_lines(source: str) -> list[str]:
    """The lines inside hidden test regions, stripped, without the delimiters."""
    return [line.strip() for line in _split_hidden(source)[1] if line.strip()]


def normalise_source(source: str) -> str:
    """Source text compared without trailing whitespace on lines or at the end."""
    return "\n".join(line.rstrip() for line in source.strip("\n").split("\n")).rstrip()


def heading_titles(cells: Iterable[Mapping], graded_ids: Iterable[str]) -> dict[str, str]:
    """Title each graded cell with the last markdown heading above it ("Task 3 · Freeze the head")."""
    wanted = set(graded_ids)
    titles, heading = {}, None
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in cell_source(cell).splitlines():
                match = re.match(r"#{1,6}\s+(.*\S)", line.strip())
                if match:
                    heading = re.sub(r"\s*\(\d+(?:\.\d+)? points?\)$", "", match.group(1))
                    break
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in wanted:
            titles[grade_id] = heading or grade_id
    return titles


def cell_source(cell: Mapping) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _has_roles(cell: NotebookNode) -> bool:
    """Whether nbgrader's role tests can read the cell (they assume ``metadata.nbgrader`` is a dict)."""
    return isinstance(cell.get("metadata", {}).get("nbgrader"), dict)


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell of a notebook (what :attr:`ExpectedCell.is_test` is in a layout)."""
    return (
        cell.cell_type == "code"
        and _has_roles(cell)
        and bool(is_grade(cell))
        and not is_solution(cell)
        and not is_task(cell)
    )


def is_answer_cell(cell: NotebookNode) -> bool:
    """A cell the learner answers in (nbgrader's solution cell)."""
    return _has_roles(cell) and bool(is_solution(cell))


def is_read_only_cell(cell: NotebookNode) -> bool:
    """A cell nbgrader restores from the master (test cells included, answer cells never)."""
    return _has_roles(cell) and bool(is_locked(cell))


def is_scored_cell(cell: NotebookNode) -> bool:
    """A cell that carries points: a test cell, a graded answer or a task."""
    return _has_roles(cell) and bool(is_grade(cell) or is_task(cell))


def cell_role(cell: NotebookNode) -> str:
    """What a learner is told a cell of the master is: a test cell, an answer cell or a read-only cell."""
    if is_answer_cell(cell):
        return "answer cell"
    return "test cell" if _has_roles(cell) and is_grade(cell) else "read-only cell"


def nbgrader_metadata(cell: Mapping) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def layout_from_notebook(master: Mapping) -> AssignmentLayout:
    """The layout of an instructor's source notebook, read from the notebook itself.

    The gradebook holds the same information once ``nbgrader generate_assignment`` has run; this is
    for checking a notebook against its master without one (and for the tests). Answer cells get
    their released source (solutions cleared, as nbgrader's ``ClearSolutions`` does), so that a cell
    put back into a submission can never carry the instructor's answer.
    """
    from nbgrader.preprocessors import ClearSolutions

    master, _ = ClearSolutions().preprocess(copy.deepcopy(NotebookNode(master)), {})
    cells = []
    for cell in master["cells"]:
        meta = nbgrader_metadata(cell)
        if not meta.get("grade_id") or not _is_tracked(cell):
            continue
        # Roles as nbgrader's SaveCells records them in the gradebook, so both layouts agree.
        cells.append(
            ExpectedCell(
                grade_id=meta["grade_id"],
                cell_type=cell["cell_type"],
                grade=bool(is_grade(cell)),
                solution=bool(is_solution(cell)),
                locked=bool(is_locked(cell)),
                task=bool(is_task(cell)),
                points=float(meta["points"]) if (is_grade(cell) or is_task(cell)) else None,
                source=cell_source(cell),
            )
        )
    titles = heading_titles(master["cells"], [cell.grade_id for cell in cells])
    return AssignmentLayout(tuple(cells), titles)


# ---------------------------------------------------------------------------------- inspection


def _is_tracked(cell: NotebookNode) -> bool:
    """A cell nbgrader keeps in the gradebook (its SaveCells' test): graded, answer, read-only or task."""
    return _has_roles(cell) and bool(is_grade(cell) or is_solution(cell) or is_locked(cell) or is_task(cell))


def _metadata_changes(meta: Mapping, expected: ExpectedCell) -> list[str]:
    changes = []
    for flag in ("grade", "solution", "locked", "task"):
        if bool(meta.get(flag, False)) != getattr(expected, flag):
            changes.append(flag)
    if expected.grade or expected.task:
        try:
            if float(meta.get("points")) != float(expected.points or 0):
                changes.append("points")
        except (TypeError, ValueError):
            changes.append("points")
    return changes


def _longest_increasing_run(values: list[int]) -> set[int]:
    """Indices (into ``values``) of one longest strictly increasing subsequence."""
    if not values:
        return set()
    tails: list[int] = []  # index into values of the smallest tail of each length
    previous = [-1] * len(values)
    for i, value in enumerate(values):
        low, high = 0, len(tails)
        while low < high:
            middle = (low + high) // 2
            if values[tails[middle]] < value:
                low = middle + 1
            else:
                high = middle
        if low > 0:
            previous[i] = tails[low - 1]
        if low == len(tails):
            tails.append(i)
        else:
            tails[low] = i
    keep, i = set(), tails[-1]
    while i != -1:
        keep.add(i)
        i = previous[i]
    return keep


@dataclass
class Inspection:
    """What :func:`inspect_and_repair` found and did."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def zeroed(self) -> dict[str, list[str]]:
        """Test cell id → the messages of every problem that zeroes it."""
        result: dict[str, list[str]] = {}
        for problem in self.problems:
            for grade_id in problem.zeroed:
                result.setdefault(grade_id, []).append(problem.message)
        return result


def inspect_and_repair(nb: NotebookNode, layout: AssignmentLayout) -> Inspection:
    """Find every structural change in ``nb`` against ``layout`` and repair the notebook in place.

    Repairs make the notebook safe for nbgrader's own preprocessors, which then restore locked
    sources and cell types from the gradebook: metadata of every tracked cell is reset to the
    assignment's, stray or duplicated grade ids are removed (the last copy keeps its id, as nbgrader's
    ``DeduplicateIds`` would), and missing cells are put back where they belong. Cells a learner
    moved out of place stay where they are, except read-only cells, which go back to their place.
    """
    repair = _Repair(nb, layout)
    repair.drop_grading_records()
    placed = repair.sort_out_grade_ids()
    repair.keep_last_copies(placed)
    repair.check_cells(placed)
    moved_back = repair.take_out_moved_read_only_cells(placed)
    repair.put_back_missing_cells(placed, moved_back)
    nb.metadata[METADATA_KEY] = {"problems": [problem.as_dict() for problem in repair.inspection.problems]}
    return repair.inspection


def _role(cell: ExpectedCell) -> str:
    """What a learner calls the cell: test, answer, task or read-only cell."""
    if cell.is_test:
        return "test cell"
    if cell.solution:
        return "answer cell"
    if cell.task:
        return "task cell"
    return "read-only cell"


class _Repair:
    """One run of :func:`inspect_and_repair`, phase by phase: ids first, then each cell, its place, the missing.

    ``placed`` (grade id → the indices of the cells carrying it) is what each phase hands the next.
    """

    def __init__(self, nb: NotebookNode, layout: AssignmentLayout) -> None:
        self.nb = nb
        self.layout = layout
        self.expected = layout.by_id()
        self.order = layout.position()
        self.inspection = Inspection()

    def report(self, kind: str, grade_id: str | None, message: str, zeroes: bool = True) -> None:
        zeroed = self.layout.tests_checking(grade_id) if (zeroes and grade_id in self.expected) else ()
        if zeroed:
            suffix = " This task scores 0." if len(zeroed) == 1 else " These tests score 0."
            message += suffix
        self.inspection.problems.append(Problem(kind, grade_id, message, tuple(zeroed)))

    def describe(self, grade_id: str) -> str:
        title = self.layout.title(grade_id)
        where = f"{title}: " if title != grade_id else ""
        return f"{where}the {_role(self.expected[grade_id])} `{grade_id}`"

    # -- 0. Only the grader writes grading records: whatever a submission brings along is dropped.

    def drop_grading_records(self) -> None:
        self.nb.metadata.pop(METADATA_KEY, None)
        for cell in self.nb.cells:
            cell.get("metadata", {}).pop(METADATA_KEY, None)

    # -- 1. Damaged, unknown and duplicated grade ids.

    def sort_out_grade_ids(self) -> dict[str, list[int]]:
        """Strip grading metadata that is damaged or names no cell of the assignment; where the rest is."""
        placed: dict[str, list[int]] = {}
        for index, cell in enumerate(self.nb.cells):
            raw = cell.get("metadata", {}).get("nbgrader")
            if raw is None:
                continue
            grade_id = raw.get("grade_id") if isinstance(raw, dict) else None
            if grade_id in self.expected:
                placed.setdefault(grade_id, []).append(index)
                continue
            tracked = isinstance(raw, dict) and _is_tracked(cell)
            del cell.metadata["nbgrader"]
            if not isinstance(raw, dict):
                self.inspection.problems.append(
                    Problem(
                        "damaged-metadata",
                        None,
                        f"Cell {index + 1} carried unreadable grading metadata; it was run as an ordinary cell.",
                    )
                )
            elif tracked:
                name = f"`{grade_id}`" if grade_id else "no id"
                self.inspection.problems.append(
                    Problem(
                        "unknown-cell",
                        None,
                        f"Cell {index + 1} is marked as a graded cell with {name}, which this assignment does not "
                        "have; it was run as an ordinary cell.",
                    )
                )
        return placed

    def keep_last_copies(self, placed: dict[str, list[int]]) -> None:
        """Of a grade id carried by several cells, only the last copy keeps it (and is graded)."""
        for grade_id, indices in placed.items():
            if len(indices) < 2:
                continue
            for index in indices[:-1]:
                del self.nb.cells[index].metadata["nbgrader"]
            self.report(
                "duplicated",
                grade_id,
                f"{self.describe(grade_id)} appears {len(indices)} times (copied or split?); "
                "only the last copy was graded.",
            )
            placed[grade_id] = indices[-1:]

    # -- 2. Retyped cells, changed metadata, edited locked cells.

    def check_cells(self, placed: dict[str, list[int]]) -> None:
        """Compare each graded cell with the assignment's, then reset its metadata to the assignment's."""
        for grade_id, (index,) in placed.items():
            cell, want = self.nb.cells[index], self.expected[grade_id]
            self.check_type(cell, want)
            self.check_settings(cell, want)
            self.check_locked_source(cell, want)
            cell.metadata["nbgrader"] = want.nbgrader_metadata()

    def check_type(self, cell: NotebookNode, want: ExpectedCell) -> None:
        if cell.cell_type == want.cell_type:
            return
        self.report(
            "retyped",
            want.grade_id,
            f"{self.describe(want.grade_id)} was changed from a {want.cell_type} cell to a {cell.cell_type} cell"
            + ("; it was changed back." if want.is_read_only else "."),
            zeroes=not want.is_read_only,
        )

    def check_settings(self, cell: NotebookNode, want: ExpectedCell) -> None:
        changes = _metadata_changes(cell.metadata["nbgrader"], want)
        if not changes:
            return
        if want.is_read_only:
            self.report(
                "restored",
                want.grade_id,
                f"{self.describe(want.grade_id)} had its grading settings changed "
                f"({', '.join(changes)}); they were put back.",
                zeroes=False,
            )
        else:
            self.report(
                "edited-metadata",
                want.grade_id,
                f"{self.describe(want.grade_id)} had its grading settings changed ({', '.join(changes)}).",
            )

    def check_locked_source(self, cell: NotebookNode, want: ExpectedCell) -> None:
        if not want.locked or cell.cell_type != want.cell_type:
            return
        if normalise_source(cell_source(cell)) == normalise_source(want.released_source):
            return
        if want.is_read_only:
            self.report(
                "restored",
                want.grade_id,
                f"{self.describe(want.grade_id)} was edited; the original was put back and run instead.",
                zeroes=False,
            )
        elif want.is_test:
            self.report("edited-test", want.grade_id, f"{self.describe(want.grade_id)} was edited.")

    # -- 3. Moved cells: those outside one longest run that keeps the assignment's order.

    def take_out_moved_read_only_cells(self, placed: dict[str, list[int]]) -> set[str]:
        """Report every moved cell; take the read-only ones out (phase 4 puts them back); their ids."""
        present = sorted(placed, key=lambda grade_id: placed[grade_id][0])
        in_order = (
            _longest_increasing_run([self.order[grade_id] for grade_id in present])
            if self.layout.ordered
            else set(range(len(present)))
        )
        moved_back = set()
        for rank, grade_id in enumerate(present):
            if rank in in_order:
                continue
            if self.expected[grade_id].is_read_only:
                self.report(
                    "restored",
                    grade_id,
                    f"{self.describe(grade_id)} was moved; it was put back in its place.",
                    zeroes=False,
                )
                moved_back.add(grade_id)
            else:
                self.report(
                    "moved",
                    grade_id,
                    f"{self.describe(grade_id)} was moved away from its place in the notebook.",
                )
        self.nb.cells = [cell for cell in self.nb.cells if nbgrader_metadata(cell).get("grade_id") not in moved_back]
        return moved_back

    # -- 4. Missing cells go back after the nearest earlier graded cell of the notebook.

    def put_back_missing_cells(self, placed: dict[str, list[int]], moved_back: set[str]) -> None:
        for want in self.layout.cells:
            if want.grade_id in placed and want.grade_id not in moved_back:
                continue
            if want.grade_id not in moved_back:
                self.report_missing(want)
            self.nb.cells.insert(self.insert_position(want), restored_cell(want))

    def report_missing(self, want: ExpectedCell) -> None:
        if want.is_read_only:
            self.report(
                "restored",
                want.grade_id,
                f"{self.describe(want.grade_id)} was missing; it was put back and run.",
                zeroes=False,
            )
        else:
            self.report(
                "deleted",
                want.grade_id,
                f"{self.describe(want.grade_id)} is missing from the notebook (deleted?).",
            )

    def insert_position(self, want: ExpectedCell) -> int:
        """Just after the nearest graded cell the assignment has before ``want``, else the top."""
        current: dict[str, int] = {}
        for index, cell in enumerate(self.nb.cells):
            current.setdefault(nbgrader_metadata(cell).get("grade_id"), index)
        for earlier in reversed(self.layout.cells[: self.order[want.grade_id]]):
            if earlier.grade_id in current:
                return current[earlier.grade_id] + 1
        return 0


def restored_cell(want: ExpectedCell) -> NotebookNode:
    """A cell rebuilt from the assignment, put where a missing or moved-back cell belongs."""
    source = want.released_source
    if want.cell_type == "code" and not want.locked:
        source = f"# {RESTORED_NOTE}\n{source}"
    if want.cell_type == "code":
        cell = new_code_cell(source)
    else:
        cell = new_markdown_cell(source)
    cell.metadata["nbgrader"] = want.nbgrader_metadata()
    cell.metadata[METADATA_KEY] = {"restored": True}
    return cell


# ------------------------------------------------------------------------------------ zeroing

NOT_GRADED_STUB = '''\
# freezelab grading: this task was not graded, and scores 0.
{comments}
class NotGraded(Exception):
    """Raised by the grader instead of running this task's tests."""


raise NotGraded({message!r})
'''


def not_graded_source(reasons: list[str]) -> str:
    """The code that replaces a zeroed test cell: it explains, then fails, so nbgrader gives 0."""
    comments = "\n".join(f"# - {reason}" for reason in reasons)
    message = " ".join(reasons)
    return NOT_GRADED_STUB.format(comments=comments, message=message)


def zero_affected_tests(nb: NotebookNode) -> list[str]:
    """Replace the source of every test cell the inspection zeroed; returns their grade ids."""
    problems = [Problem.from_dict(p) for p in nb.metadata.get(METADATA_KEY, {}).get("problems", [])]
    reasons: dict[str, list[str]] = {}
    for problem in problems:
        for grade_id in problem.zeroed:
            reasons.setdefault(grade_id, []).append(problem.message)
    done = []
    for cell in nb.cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in reasons and cell.cell_type == "code":
            cell.source = not_graded_source(reasons[grade_id])
            done.append(grade_id)
    return done


def problems_of(nb: Mapping) -> list[Problem]:
    """The problems recorded in a notebook's metadata by the grader."""
    return [Problem.from_dict(p) for p in nb.get("metadata", {}).get(METADATA_KEY, {}).get("problems", [])]


def record_problem(nb: NotebookNode, problem: Problem) -> None:
    """Append one problem to the notebook's grading record."""
    record = nb.metadata.setdefault(METADATA_KEY, {})
    record.setdefault("problems", []).append(problem.as_dict())


"""Finding and repairing structural changes to graded cells (freezelab.grading.integrity), no nbgrader run."""

from __future__ import annotations

import copy

import nbformat
import pytest

from freezelab.grading import samples
from freezelab.grading.integrity import (
    METADATA_KEY,
    AssignmentLayout,
    ExpectedCell,
    _longest_increasing_run,
    inspect_and_repair,
    is_test_cell,
    layout_from_notebook,
    nbgrader_metadata,
    normalise_source,
    not_graded_source,
    problems_of,
    strip_hidden_tests,
    zero_affected_tests,
)
from freezelab.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

ASSIGNMENT = "freeze-it-yourself"
MASTER = nbformat.read(SOLUTIONS_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
RELEASE = nbformat.read(NOTEBOOKS_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
LAYOUT = layout_from_notebook(MASTER)
SOLUTION = samples.solution_answers(ASSIGNMENT, ASSIGNMENT)


def submitted(*changes) -> nbformat.NotebookNode:
    """The instructor's answers in the learner copy, with each structural change applied."""
    nb = samples.with_answers(RELEASE, SOLUTION)
    for change in changes:
        change(nb)
    return nb


def graded_ids(nb) -> list[str]:
    return [nbgrader_metadata(cell).get("grade_id") for cell in nb.cells if nbgrader_metadata(cell)]


def kinds(inspection) -> list[tuple[str, str | None]]:
    return [(problem.kind, problem.grade_id) for problem in inspection.problems]


def test_layout_follows_the_master_notebook():
    """Does the layout list the master's graded cells in order, with their points and task titles?"""
    ids = [cell.grade_id for cell in LAYOUT.cells]
    assert ids[:3] == ["setup", "freeze-all", "test-freeze-all"]
    assert len([cell for cell in LAYOUT.cells if cell.is_test]) == 8
    assert sum(cell.points for cell in LAYOUT.cells if cell.is_test) == 20
    assert LAYOUT.title("test-freeze-batchnorm") == "Task 6 · Freeze BatchNorm layers properly"
    assert LAYOUT.by_id()["setup"].is_read_only


def test_layout_roles_are_the_ones_nbgrader_records():
    """Does a layout read from a master give each cell the roles nbgrader's gradebook gives it?"""
    master = nbformat.v4.new_notebook()
    flags = {
        "answer-marked-locked": {"solution": True, "locked": True},
        "test-marked-unlocked": {"grade": True, "locked": False, "points": 1},
        "read-only": {"locked": True},
        "manual-answer": {"grade": True, "solution": True, "points": 2},
    }
    for grade_id, flag in flags.items():
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": False, "solution": False, "locked": False, "task": False,
                                     "schema_version": 3, "grade_id": grade_id, **flag}
        master.cells.append(cell)
    master.cells.append(nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade_id": "untracked"}}))
    cells = layout_from_notebook(master).by_id()
    assert list(cells) == list(flags)  # a cell with no role at all is not tracked
    # nbgrader.utils.is_locked: an answer is never locked, a graded cell that is no answer always is.
    assert [cells[grade_id].locked for grade_id in flags] == [False, True, True, False]
    assert cells["test-marked-unlocked"].is_test and cells["answer-marked-locked"].is_answer
    assert cells["read-only"].is_read_only and cells["manual-answer"].points == 2.0


def test_a_notebooks_test_cells_are_its_layouts_tests():
    """Does is_test_cell pick, in a notebook, exactly the cells its layout calls tests?"""
    for path in sorted(SOLUTIONS_DIR.glob("*/*.ipynb")):
        master = nbformat.read(path, as_version=4)
        found = [nbgrader_metadata(cell)["grade_id"] for cell in master.cells if is_test_cell(cell)]
        assert found == [cell.grade_id for cell in layout_from_notebook(master).cells if cell.is_test], path.name
    assert len([cell for cell in MASTER.cells if is_test_cell(cell)]) == 8


def test_hidden_tests_are_stripped_exactly_as_the_release_has_them():
    """Does removing hidden test regions from the master give each test cell's released source?"""
    released = {nbgrader_metadata(cell).get("grade_id"): cell.source for cell in RELEASE.cells}
    for cell in LAYOUT.cells:
        if cell.is_test:
            assert "BEGIN HIDDEN TESTS" in cell.source
            assert normalise_source(strip_hidden_tests(cell.source)) == normalise_source(released[cell.grade_id])


def test_an_unterminated_hidden_region_hides_everything_after_it():
    """When the END delimiter is missing, is the rest of the cell hidden rather than shown?"""
    assert strip_hidden_tests("visible\n### BEGIN HIDDEN TESTS\nsecret\nmore secret") == "visible"


def test_an_answer_cell_is_checked_by_the_tests_after_it():
    """Does a problem with an answer cell cost exactly the test cells of its task?"""
    assert LAYOUT.tests_checking("freeze-batchnorm") == ("test-freeze-batchnorm",)
    assert LAYOUT.tests_checking("test-freeze-all") == ("test-freeze-all",)
    assert LAYOUT.tests_checking("setup") == ()


def test_tests_checking_spans_several_answers_and_several_tests():
    """When two answer cells share two test cells, does a problem with either answer cost both tests?"""

    def cell(grade_id, test):
        return ExpectedCell(grade_id, "code", grade=test, solution=not test, locked=test, points=1.0 if test else None)

    layout = AssignmentLayout(
        tuple(
            cell(i, t)
            for i, t in [("a1", False), ("a2", False), ("t1", True), ("t2", True), ("b", False), ("t3", True)]
        )
    )
    assert layout.tests_checking("a1") == ("t1", "t2")
    assert layout.tests_checking("a2") == ("t1", "t2")
    assert layout.tests_checking("b") == ("t3",)


def test_longest_increasing_run_keeps_the_most_cells_in_place():
    """Is one out-of-place cell all that the order check blames?"""
    assert _longest_increasing_run([0, 1, 2, 3]) == {0, 1, 2, 3}
    assert _longest_increasing_run([0, 1, 5, 2, 3, 4]) == {0, 1, 3, 4, 5}
    assert _longest_increasing_run([]) == set()


def test_the_release_and_the_solution_have_no_problems():
    """Does an unchanged learner copy, answered or not, pass the inspection untouched?"""
    for nb in (copy.deepcopy(RELEASE), submitted()):
        before = [cell.source for cell in nb.cells]
        inspection = inspect_and_repair(nb, LAYOUT)
        assert inspection.problems == []
        assert [cell.source for cell in nb.cells] == before


def test_a_deleted_test_cell_zeroes_its_task_only_and_is_put_back():
    """Does a submission with a deleted test cell score 0 on that task only?"""
    nb = submitted(samples.delete_cell("test-freeze-all-but-head"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("deleted", "test-freeze-all-but-head")]
    assert inspection.zeroed.keys() == {"test-freeze-all-but-head"}
    assert graded_ids(nb) == [cell.grade_id for cell in LAYOUT.cells], "the cell goes back in its place"
    assert "Task 3" in inspection.problems[0].message and "scores 0" in inspection.problems[0].message


def test_a_deleted_answer_cell_zeroes_the_tests_of_its_task():
    """Does a missing answer cell cost its task's tests, and come back as the released stub?"""
    nb = submitted(samples.delete_cell("count-trainable-and-frozen"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert inspection.zeroed.keys() == {"test-count-trainable-and-frozen"}
    restored = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "count-trainable-and-frozen")
    assert "raise NotImplementedError()" in restored.source and restored.metadata[METADATA_KEY]["restored"]
    assert "numel" not in restored.source, "a cell put back must never carry the instructor's answer"


def test_a_deleted_read_only_cell_is_put_back_at_no_cost():
    """Does a deleted set-up cell come back, with a line in the report and no task zeroed?"""
    nb = submitted(samples.delete_cell("setup"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("restored", "setup")]
    assert inspection.zeroed == {}
    assert graded_ids(nb)[0] == "setup"


def test_a_duplicated_answer_cell_keeps_one_graded_copy_and_zeroes_the_task():
    """After a copy-paste of an answer cell, does one copy keep the id and the task score 0?"""
    nb = submitted(samples.duplicate_cell("freeze-submodules"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("duplicated", "freeze-submodules")]
    assert inspection.zeroed.keys() == {"test-freeze-submodules"}
    assert graded_ids(nb).count("freeze-submodules") == 1
    assert len(nb.cells) == len(RELEASE.cells) + 1, "the other copy stays, as an ordinary cell"


def test_a_moved_test_cell_zeroes_its_task_and_a_moved_read_only_cell_goes_back():
    """Is a test cell moved to the end blamed (not every cell it jumped over), and set-up code put back?"""
    nb = submitted(samples.move_cell_to_end("test-trainable-optimizer"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("moved", "test-trainable-optimizer")]
    assert inspection.zeroed.keys() == {"test-trainable-optimizer"}

    nb = submitted(samples.move_cell_to_end("setup"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("restored", "setup")] and inspection.zeroed == {}
    assert graded_ids(nb) == [cell.grade_id for cell in LAYOUT.cells]


def test_a_retyped_answer_cell_zeroes_its_task():
    """Does turning an answer cell into Markdown cost that task, with the cell named?"""
    nb = submitted(samples.retype_cell("discriminative-param-groups"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("retyped", "discriminative-param-groups")]
    assert inspection.zeroed.keys() == {"test-discriminative-param-groups"}


def test_an_edited_test_cell_zeroes_its_task_but_whitespace_does_not_count():
    """Is an edited test cell caught, while trailing blanks a text editor adds are not an edit?"""
    nb = submitted(samples.edit_test_cell("test-freeze-batchnorm"))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("edited-test", "test-freeze-batchnorm")]

    nb = submitted()
    test = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-freeze-all")
    test.source = test.source.replace("\n", "  \n") + "\n\n"
    assert inspect_and_repair(nb, LAYOUT).problems == []


def test_edited_grading_metadata_is_reset_and_zeroes_the_task():
    """When a learner raises a test's points or unmarks it as graded, is it reset and scored 0?"""
    nb = submitted(samples.edit_points("test-freeze-all", 50))
    inspection = inspect_and_repair(nb, LAYOUT)
    assert kinds(inspection) == [("edited-metadata", "test-freeze-all")]
    test = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-freeze-all")
    assert test.metadata["nbgrader"]["points"] == 2

    nb = submitted()
    test = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-count-trainable-and-frozen")
    test.metadata["nbgrader"]["grade"] = False
    inspection = inspect_and_repair(nb, LAYOUT)
    assert inspection.zeroed.keys() == {"test-count-trainable-and-frozen"}
    assert test.metadata["nbgrader"]["grade"] is True


def test_unknown_and_damaged_grading_metadata_become_ordinary_cells():
    """Is a cell with a grade id the assignment lacks, or unreadable metadata, run as an ordinary cell?"""
    nb = submitted()
    extra = nbformat.v4.new_code_cell("x = 1")
    extra.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 5,
        "grade_id": "my-own-test",
        "schema_version": 3,
    }
    broken = nbformat.v4.new_code_cell("y = 2")
    broken.metadata["nbgrader"] = "not a dict"
    nb.cells += [extra, broken]
    inspection = inspect_and_repair(nb, LAYOUT)
    assert [problem.kind for problem in inspection.problems] == ["unknown-cell", "damaged-metadata"]
    assert inspection.zeroed == {}
    assert "nbgrader" not in extra.metadata and "nbgrader" not in broken.metadata


def test_a_renamed_test_cell_counts_as_deleted():
    """If a learner changes a test cell's grade id, is the original reported missing and its task zeroed?"""
    nb = submitted()
    test = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-unfreeze-next-stage")
    test.metadata["nbgrader"]["grade_id"] = "renamed"
    inspection = inspect_and_repair(nb, LAYOUT)
    assert {problem.kind for problem in inspection.problems} == {"unknown-cell", "deleted"}
    assert inspection.zeroed.keys() == {"test-unfreeze-next-stage"}


@pytest.mark.parametrize(
    "sample",
    [s for s in samples.freeze_it_yourself_samples() if s.suffix == ".ipynb"],
    ids=lambda s: s.name,
)
def test_each_sample_zeroes_exactly_the_tests_it_should_by_structure(sample):
    """Do the structural samples lose exactly their expected tests to the inspection, and the others none?"""
    nb = nbformat.reads(samples.build_sample(sample, ASSIGNMENT, ASSIGNMENT).decode(), as_version=4)
    inspection = inspect_and_repair(nb, LAYOUT)
    structural = {
        "deleted-test-cell",
        "deleted-answer-cell",
        "duplicated-answer-cell",
        "moved-test-cell",
        "retyped-answer-cell",
        "edited-test-cell",
        "edited-points",
    }
    if sample.name in structural:
        assert set(inspection.zeroed) == set(sample.loses)
    else:
        assert inspection.zeroed == {}


def test_zeroed_tests_are_replaced_by_code_that_explains_and_fails():
    """Does a zeroed test cell raise NotGraded with the reason, so that nbgrader scores it 0?"""
    nb = submitted(samples.delete_cell("test-freeze-all-but-head"))
    inspect_and_repair(nb, LAYOUT)
    assert zero_affected_tests(nb) == ["test-freeze-all-but-head"]
    stub = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-freeze-all-but-head")
    assert "BEGIN HIDDEN TESTS" not in stub.source
    with pytest.raises(Exception) as raised:
        exec(compile(stub.source, "stub", "exec"), {})
    assert type(raised.value).__name__ == "NotGraded"
    assert "test-freeze-all-but-head" in str(raised.value)
    assert problems_of(nb)[0].zeroed == ("test-freeze-all-but-head",)


def test_the_not_graded_stub_is_valid_python_for_awkward_reasons():
    """Do quotes and backslashes in a reason survive into a stub that still compiles?"""
    source = not_graded_source(['it\'s "odd" \\ here'])
    compile(source, "stub", "exec")


def test_grading_records_brought_in_by_a_submission_are_dropped():
    """Can a learner skip a test or plant a problem line by writing the grader's metadata themselves?"""
    nb = submitted()
    nb.metadata[METADATA_KEY] = {"problems": [{"kind": "x", "grade_id": None, "message": "planted", "zeroed": []}]}
    test = next(c for c in nb.cells if nbgrader_metadata(c).get("grade_id") == "test-freeze-all")
    test.metadata[METADATA_KEY] = {"not_run": "skip me"}
    inspection = inspect_and_repair(nb, LAYOUT)
    assert inspection.problems == [] and problems_of(nb) == []
    assert METADATA_KEY not in test.metadata

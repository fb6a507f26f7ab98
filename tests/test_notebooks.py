"""Every notebook runs as one parametrised test, in a fresh kernel, on a copy of its folder."""

import pytest

from freezelab.execution import execute_copy, learner_notebooks, nbgrader_role, notebook_id, solution_notebooks

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("path", solution_notebooks(), ids=notebook_id)
def test_solution_notebook_runs_top_to_bottom(path, tmp_path):
    """Does the instructor's master notebook execute without a single error?"""
    execution = execute_copy(path, tmp_path)
    assert execution.error is None, f"{notebook_id(path)} failed in cell {execution.error_cell}:\n{execution.error}"


@pytest.mark.parametrize("path", learner_notebooks(), ids=notebook_id)
def test_learner_notebook_stops_only_at_an_unanswered_exercise(path, tmp_path):
    """Does the learner copy run cleanly up to its first exercise and fail there with nbgrader's stub?"""
    execution = execute_copy(path, tmp_path)
    cells = execution.notebook.cells
    has_exercises = any(nbgrader_role(cell) and "solution" in nbgrader_role(cell) for cell in cells)
    if execution.error is None:
        assert not has_exercises, "the learner copy ran to the end although it has unanswered exercises"
        return
    assert execution.error.ename == "NotImplementedError", (
        f"{notebook_id(path)} failed with {execution.error.ename} in cell {execution.error_cell}, "
        f"not at an exercise stub:\n{execution.error}")
    role = nbgrader_role(cells[execution.error_cell])
    assert role is not None, f"cell {execution.error_cell} raised NotImplementedError but is no exercise or check"
    first_exercise = next(index for index, cell in enumerate(cells)
                          if nbgrader_role(cell) and "solution" in nbgrader_role(cell))
    assert execution.error_cell >= first_exercise

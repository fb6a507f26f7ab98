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
    """Does the learner copy run cleanly up to its first exercise and fail there with nbgrader's stub?
    And, run on cell by cell without answering anything, does every check cell of a lesson fail with
    an AssertionError that says what is missing (or the stub's NotImplementedError, where it calls the
    learner's function), never a NameError or another bare error, while nothing else fails?"""
    execution = execute_copy(path, tmp_path, allow_errors=True)
    cells = execution.notebook.cells
    errors = execution.errors()
    has_exercises = any(nbgrader_role(cell) and "solution" in nbgrader_role(cell) for cell in cells)
    if not errors:
        assert not has_exercises, "the learner copy ran to the end although it has unanswered exercises"
        return
    first_cell, first_name, first_message = errors[0]
    assert first_name == "NotImplementedError", (
        f"{notebook_id(path)} failed with {first_name} in cell {first_cell}, not at an exercise stub:\n{first_message}")
    role = nbgrader_role(cells[first_cell])
    assert role is not None, f"cell {first_cell} raised NotImplementedError but is no exercise or check"
    first_exercise = next(index for index, cell in enumerate(cells)
                          if nbgrader_role(cell) and "solution" in nbgrader_role(cell))
    assert first_cell >= first_exercise
    if path.parent.name != "lessons":
        return
    for index, name, message in errors:
        role = nbgrader_role(cells[index])
        assert role is not None, f"cell {index}, no exercise or check, raised {name}: {message}"
        if role == "test":
            assert name in ("AssertionError", "NotImplementedError"), f"check cell {index} raised {name}: {message}"
            assert name == "NotImplementedError" or message.strip(), f"check cell {index} failed without a word"
    failed = {index for index, _, _ in errors}
    passed = [index for index, cell in enumerate(cells) if nbgrader_role(cell) == "test" and index not in failed]
    assert not passed, f"check cells {passed} passed although their exercises were not answered"

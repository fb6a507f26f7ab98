"""A saved notebook reopened without its kernel: the pre-save hook and the progress bars that leave
their last state (the browser side is in tests/test_quiz_browser.py)."""

from __future__ import annotations

import copy

import nbformat
import pytest

from freezelab.quiz.saving import NO_FALLBACK, WIDGET_VIEW, drop_dead_widget_views, pre_save_hook


def output(data: dict) -> dict:
    return {"output_type": "display_data", "data": data, "metadata": {}}


def view(model_id: str) -> dict:
    return {"version_major": 2, "version_minor": 0, "model_id": model_id}


def notebook_with_outputs(*outputs: dict, saved_models: tuple[str, ...] = ()) -> dict:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("show()")]
    notebook.cells[1].outputs = [nbformat.from_dict(o) for o in outputs]
    if saved_models:
        state = {"state": {m: {} for m in saved_models}}
        notebook.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    return nbformat.from_dict(notebook)


def test_a_dead_widget_view_gives_way_to_its_readable_fallback():
    """Is the widget view dropped where the kernel's model is gone, leaving the HTML and text of
    the same output, and is an output with nothing else given a sentence instead?"""
    notebook = notebook_with_outputs(
        output({WIDGET_VIEW: view("a"), "text/html": "<b>quiz</b>", "text/plain": "quiz"}),
        output({WIDGET_VIEW: view("b")}),
        {"output_type": "stream", "name": "stdout", "text": "hello\n"},
    )
    markdown = copy.deepcopy(notebook.cells[0])
    assert drop_dead_widget_views(notebook) == 2
    first, second, stream = notebook.cells[1].outputs
    assert first["data"] == {"text/html": "<b>quiz</b>", "text/plain": "quiz"}
    assert second["data"] == {"text/plain": NO_FALLBACK}
    assert stream["text"] == "hello\n" and notebook.cells[0] == markdown
    assert drop_dead_widget_views(notebook) == 0  # nothing left to drop


def test_saved_widget_state_does_not_keep_a_view():
    """With widget state saved in the notebook (nbclient, or JupyterLab's "save widget state"),
    is the view dropped all the same, since a quiz drawn from it would show the learner's verdicts?"""
    notebook = notebook_with_outputs(output({WIDGET_VIEW: view("kept"), "text/plain": "x"}), saved_models=("kept",))
    assert drop_dead_widget_views(notebook) == 1
    assert notebook.cells[1].outputs[0]["data"] == {"text/plain": "x"}


def test_the_hook_edits_notebooks_only():
    notebook = notebook_with_outputs(output({WIDGET_VIEW: view("a"), "text/plain": "x"}))
    pre_save_hook({"type": "notebook", "content": notebook}, path="x.ipynb", contents_manager=None)
    assert WIDGET_VIEW not in notebook.cells[1].outputs[0]["data"]
    text = {"type": "file", "content": "application/vnd.jupyter.widget-view+json"}
    pre_save_hook(text, path="x.txt")
    assert text["content"] == "application/vnd.jupyter.widget-view+json"


@pytest.mark.slow
def test_in_a_kernel_bars_leave_their_last_state_and_the_quiz_its_text(tmp_path):
    """Run in a real kernel: does a finished bar replace its widget with its last state, a
    leave=False bar leave nothing, a failed bar its state at the failure, and, after the hook,
    does no output need the kernel any more while the quiz reads as its questions?"""
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from freezelab.timing import progress\nfor _ in progress(range(7), desc='epochs'):"
                                  "\n    pass"),
        nbformat.v4.new_code_cell("for _ in progress(range(3), desc='batches', leave=False):\n    pass"),
        nbformat.v4.new_code_cell("try:\n    for i in progress(range(9), desc='broken'):\n        assert i < 4\n"
                                  "except AssertionError:\n    pass"),
        nbformat.v4.new_code_cell("from freezelab.quiz import show_quiz\nshow_quiz('practice', save=False)"),
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    bar, batches, broken, quiz = (cell.outputs for cell in notebook.cells)
    assert len(bar) == 1 and set(bar[0]["data"]) == {"text/plain", "text/html"}
    assert "7/7" in bar[0]["data"]["text/plain"] and '<progress value="7" max="7"' in bar[0]["data"]["text/html"]
    assert [o["data"] for o in batches] == [{"text/plain": ""}]
    assert "4/9" in broken[0]["data"]["text/plain"] and "#c62828" in broken[0]["data"]["text/html"]
    assert WIDGET_VIEW in quiz[0]["data"]  # live while the kernel runs
    drop_dead_widget_views(notebook)
    assert WIDGET_VIEW not in nbformat.writes(notebook)
    assert "Question 5 of 5" in quiz[0]["data"]["text/html"] and "Correct" not in quiz[0]["data"]["text/html"]

"""Keeping widget outputs readable in a saved notebook, for whoever reopens it without a kernel.

A widget is shown in a notebook as an output of MIME type ``application/vnd.jupyter.widget-view+json``
that names a model living in the kernel. Once the notebook is closed and the kernel is gone,
JupyterLab and Notebook 7 draw every such output as "Error displaying widget: model not found",
although the same output also carries a readable fallback (the quizzes offer their questions as
HTML and text, with no answer; :mod:`freezelab.progress_bar` leaves the last state of a bar).
:func:`pre_save_hook`, set as the Jupyter server's ``ContentsManager.pre_save_hook`` by both of
the course's doors (``jupyter/``), drops the dead reference from the file written to disk, so a
reopened notebook shows the fallback; running the cell draws the live widget again. The notebook
open in the browser keeps its live widgets: only the saved file changes.

The views go even where the notebook's metadata holds widget state (nbclient stores it, and so does
JupyterLab's "Save Widget State Automatically"): JupyterLab draws from that state only when the
setting is on, and a quiz drawn from it would show the verdicts and solutions the learner had
opened, where the text fallback shows the questions alone.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NO_FALLBACK = "(An interactive widget was here: run the cell to show it again.)"


def drop_dead_widget_views(notebook: dict[str, Any]) -> int:
    """Remove, in place, every widget view (it cannot be drawn once the kernel is gone); return
    how many. The other representations of the same output stay, so it still reads."""
    dropped = 0
    for cell in notebook.get("cells") or []:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs") or []:
            data = output.get("data")
            if output.get("output_type") not in ("display_data", "execute_result") or not isinstance(data, dict):
                continue
            if WIDGET_VIEW not in data:
                continue
            del data[WIDGET_VIEW]
            if not data:
                data["text/plain"] = NO_FALLBACK
            dropped += 1
    return dropped


def pre_save_hook(model: dict[str, Any], **_: Any) -> None:
    """Jupyter server's pre-save hook: notebooks only, edited in place before they are written."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        drop_dead_widget_views(model["content"])

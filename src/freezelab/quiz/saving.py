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

An output whose widget state is saved in the notebook itself (JupyterLab's "Save Widget State
Automatically") can be drawn from that state, and is left as it is.
"""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
NO_FALLBACK = "(An interactive widget was here: run the cell to show it again.)"


def saved_widget_models(notebook: dict[str, Any]) -> set[str]:
    """The ids of the widget models whose state the notebook's metadata holds."""
    state = (notebook.get("metadata") or {}).get("widgets", {}).get(WIDGET_STATE, {})
    return set((state.get("state") or {}).keys()) if isinstance(state, dict) else set()


def drop_dead_widget_views(notebook: dict[str, Any]) -> int:
    """Remove, in place, every widget view that could not be drawn without its kernel; return how
    many. The other representations of the same output stay, so it still reads."""
    saved = saved_widget_models(notebook)
    dropped = 0
    for cell in notebook.get("cells") or []:
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs") or []:
            data = output.get("data")
            if output.get("output_type") not in ("display_data", "execute_result") or not isinstance(data, dict):
                continue
            view = data.get(WIDGET_VIEW)
            if view is None or (isinstance(view, dict) and view.get("model_id") in saved):
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

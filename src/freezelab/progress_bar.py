"""Progress bars that stay readable: a live widget while they run, their last state once done.

``tqdm``'s notebook bar is an ipywidgets widget. Drawn from a saved notebook without its kernel,
it would read "Error displaying widget: model not found". This bar is displayed with a display
id and, when it closes (finished, interrupted or failed), replaces its own output with a plain
HTML and text copy of its last state, which any front end can draw at any later time. A bar with
``leave=False`` leaves nothing behind, as in tqdm. In a terminal it is tqdm's text bar.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


class StaticBar:
    """The last state of a progress bar, as HTML and text (no widget)."""

    def __init__(self, text: str, value: float, total: float | None, failed: bool):
        self.text, self.value, self.total, self.failed = text, value, total, failed

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        total = self.total or 1
        value = self.value if self.total else total
        colour = "#c62828" if self.failed else "#2e7d32"
        bar = (
            f'<progress value="{value:g}" max="{total:g}" style="width: 12rem; accent-color: {colour}">'
            f"{100 * value / total:.0f}%</progress>"
        )
        return {
            "text/plain": self.text,
            "text/html": f'<div class="freezelab-static-progress">{bar} <code>{html.escape(self.text)}</code></div>',
        }


def _notebook_bar_class() -> type | None:
    """tqdm's notebook bar with a static copy on close, or ``None`` outside a notebook."""
    from tqdm.auto import tqdm as auto_tqdm
    from tqdm.notebook import tqdm_notebook

    if not issubclass(auto_tqdm, tqdm_notebook):
        return None
    from IPython.display import display

    class LeavesItsLastState(auto_tqdm):
        def __init__(self, *args: Any, **kwargs: Any):
            kwargs["display"] = False
            kwargs["delay"] = 0
            super().__init__(*args, **kwargs)
            self._handle = None
            if not self.disable:
                self._handle = display(self.container, display_id=True)
                self.displayed = True

        def close(self) -> None:
            if self.disable or getattr(self, "_closed_static", False):
                return super().close()
            super().close()
            self._closed_static = True
            if self._handle is None:
                return
            failed = bool(self.total and self.n < self.total)
            if not self.leave and not failed:
                self._handle.update({"text/plain": ""}, raw=True)
                return
            text = self.format_meter(**self.format_dict)
            self._handle.update(StaticBar(text, self.n, self.total, failed))

    return LeavesItsLastState


def progress(iterable: Iterable[T], **tqdm_options: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a progress bar: a widget in Jupyter (its last state kept), text elsewhere."""
    bar = _notebook_bar_class()
    if bar is None:
        from tqdm.auto import tqdm

        return tqdm(iterable, **tqdm_options)
    return bar(iterable, **tqdm_options)

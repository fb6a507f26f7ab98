"""The quiz's keyboard and screen-reader layer: a small widget drawn inside each quiz.

ipywidgets cannot give its radio buttons a group role or an accessible name (ipywidgets#2650),
and JupyterLab reads letter and arrow keys pressed on them as notebook shortcuts. The front-end
code in ``access.js`` (an `anywidget <https://anywidget.dev>`_ module, on the same Jupyter widget
protocol) fixes both on the DOM of the quiz it sits in: keys pressed inside a quiz never reach
the notebook, the arrow keys move between the options of one question, Enter on an option
presses Check, and each question is a named group of named radio buttons. The widget has no
state of its own apart from the quiz's title, which names the quiz's region for screen readers.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import traitlets

KEYBOARD_NOTE = (
    "Keyboard: the arrow keys move between the options of a question and choose one, Tab moves on "
    "to the buttons, Enter checks the chosen option, and Space or Enter presses the focused button. "
    "Keys pressed inside the quiz never change the notebook."
)


ESM = Path(__file__).with_name("access.js")


class QuizAccess(anywidget.AnyWidget):
    """Put one inside a quiz's outermost box (the element with class ``freezelab-quiz``)."""

    _esm = ESM.read_text(encoding="utf-8")
    title = traitlets.Unicode("Quiz").tag(sync=True)

"""The ipywidgets front end: practice quizzes with immediate feedback, and the exam mode of the
graded assignment.

Each quiz object displays as a live widget in Jupyter and, where widgets cannot render (a
static web page, a terminal front end), as HTML or plain text showing the questions and
options only: :meth:`PracticeQuiz._repr_mimebundle_` offers all three and the front end picks.

The widgets carry no logic of their own: every click goes to a session
(:mod:`freezelab.quiz.session`) and every change is saved at once (:mod:`freezelab.quiz.progress`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz import render
from freezelab.quiz.access import KEYBOARD_NOTE, QuizAccess
from freezelab.quiz.answers import autograding
from freezelab.quiz.bank import Question, Quiz, load_keyless, load_quiz
from freezelab.quiz.progress import LoadOutcome, ProgressWarning, StateFile, inside, learner_name, progress_path
from freezelab.quiz.session import ExamSession, PracticeSession, QuestionState

_CENTERED = widgets.Layout(align_items="center")


def _html(value: str = "", *classes: str) -> widgets.HTML:
    widget = widgets.HTML(value=value)
    for name in classes:
        widget.add_class(name)
    return widget


def _button(description: str, tooltip: str, css: str, icon: str = "", style: str = "") -> widgets.Button:
    button = widgets.Button(
        description=description, tooltip=tooltip, icon=icon, button_style=style, layout=widgets.Layout(width="auto")
    )
    button.add_class(css)
    return button


def _load_quietly(store: StateFile) -> LoadOutcome:
    """Load saved state; a problem comes back as the outcome's message, which the quiz shows in
    its own warning box, and is not also printed as a ProgressWarning on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProgressWarning)
        return store.load()


def _save_quietly(store: StateFile, document: dict[str, Any]) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ProgressWarning)
        return store.save(document)


class _QuizDisplay:
    """Shared display logic: the live widget plus static HTML and text fallbacks."""

    quiz: Quiz
    widget: widgets.Widget

    def _orders(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.quiz.id!r}: {len(self.quiz)} questions>"

    def __str__(self) -> str:
        # Plain Python (no IPython) prints this: the keyless text form.
        return render.static_quiz_text(self.quiz, self._orders())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_())
        bundle["text/plain"] = render.static_quiz_text(self.quiz, self._orders())
        bundle["text/html"] = render.static_quiz_html(self.quiz, self._orders())
        return bundle


# ---------------------------------------------------------------------------- practice mode


class QuestionView:
    """The widgets of one practice question, wired to a :class:`PracticeSession`."""

    def __init__(self, session: PracticeSession, question: Question, number: int, on_change: Callable[[], None]):
        self.session = session
        self.question = question
        self._on_change = on_change
        self._updating = False
        options = session.options(question.id)
        self.header = _html(render.question_html(question, number, len(session.quiz), options), "freezelab-prompt")
        self.radio = widgets.RadioButtons(
            options=[(render.option_label(session.label(question.id, o.id), o), o.id) for o in options],
            value=None,
            layout=widgets.Layout(width="auto"),
        )
        self.radio.add_class("freezelab-options")
        self.check_button = _button(
            "Check", "Check the selected answer", "freezelab-check", icon="check", style="primary"
        )
        self.hint_button = _button("Hint", "Show a hint", "freezelab-hint-button", icon="lightbulb")
        self.solution_button = _button(
            "Show solution", "Show the worked solution", "freezelab-solution-button", icon="eye"
        )
        buttons = [self.check_button, self.hint_button, self.solution_button]
        self.run_button: widgets.Button | None = None
        if question.runnable:
            self.run_button = _button("Run the code", "", "freezelab-run-button", icon="play")
            buttons.append(self.run_button)
        self.feedback = _html("", "freezelab-feedback")
        self.hint = _html("", "freezelab-hint")
        self.solution = _html("", "freezelab-solution")
        self.output = _html("", "freezelab-output")
        self.box = widgets.VBox(
            [self.header, self.radio, widgets.HBox(buttons), self.feedback, self.hint, self.solution, self.output]
        )
        self.box.add_class("freezelab-question")
        self.box.add_class(f"freezelab-q-{question.id}")

        self.radio.observe(self._selected, names="value")
        self.check_button.on_click(lambda _: self.check())
        self.hint_button.on_click(lambda _: self.toggle_hint())
        self.solution_button.on_click(lambda _: self.toggle_solution())
        if self.run_button is not None:
            self.run_button.on_click(lambda _: self.run())
        self.refresh()

    @property
    def state(self) -> QuestionState:
        return self.session.state(self.question.id)

    def refresh(self) -> None:
        """Draw everything from the session's state (after a restore or a reset)."""
        self._updating = True
        try:
            self.radio.value = self.state.selected
        finally:
            self._updating = False
        feedback = self.session.last_feedback(self.question.id)
        self.feedback.value = render.feedback_html(feedback) if feedback else ""
        self._show_hint(self.state.hint_shown)
        self._show_solution(self.state.solution_shown)
        self.output.value = ""
        self._update_run_button()

    def set_locked(self, locked: bool) -> None:
        """While the quiz holds a graded key, nothing that would reveal it can be pressed."""
        for button in (self.check_button, self.hint_button, self.solution_button):
            button.disabled = locked
        self.check_button.tooltip = (
            "Hidden until you have handed in the graded quiz" if locked else "Check the selected answer"
        )
        self._update_run_button()

    def _update_run_button(self) -> None:
        if self.run_button is None:
            return
        unlocked = self.session.can_run(self.question.id)
        self.run_button.disabled = not unlocked
        self.run_button.tooltip = (
            "Run the snippet in a fresh namespace and see its real output"
            if unlocked
            else "Check an answer first: predict, then run"
        )

    def _selected(self, change: dict[str, Any]) -> None:
        if self._updating:
            return
        self.session.select(self.question.id, change["new"])
        self.feedback.value = ""  # a verdict on the previous choice would now mislead
        self._on_change()

    # -- the buttons
    def check(self) -> None:
        feedback = self.session.check(self.question.id)
        self.feedback.value = render.feedback_html(feedback)
        self._update_run_button()
        if feedback.status != "no-selection":
            self._on_change()

    def toggle_hint(self) -> None:
        showing = not self.hint.value
        if showing:
            self.session.show_hint(self.question.id)
        self._show_hint(showing)
        self._on_change()

    def _show_hint(self, showing: bool) -> None:
        self.hint.value = render.hint_html(self.question.hint or "") if showing else ""
        self.hint_button.description = "Hide hint" if showing else "Hint"

    def toggle_solution(self) -> None:
        showing = not self.solution.value
        if showing:
            self.session.show_solution(self.question.id)
        self._show_solution(showing)
        self._update_run_button()
        self._on_change()

    def _show_solution(self, showing: bool) -> None:
        label = self.session.label(self.question.id, self.question.answer or "A")
        self.solution.value = render.solution_html(self.question, label) if showing else ""
        self.solution_button.description = "Hide solution" if showing else "Show solution"

    def run(self) -> None:
        if not self.session.can_run(self.question.id):
            return
        self.output.value = '<div class="fl-box fl-neutral">Running...</div>'
        result = self.session.run(self.question.id)
        self.output.value = render.run_html(result, self.question.setup)
        self._on_change()


class PracticeQuiz(_QuizDisplay):
    """A practice quiz: questions with Check, Hint, Show solution (and Run), a score, and
    progress saved per learner after every action."""

    def __init__(
        self, quiz: Quiz, store: StateFile | None = None, learner: str | None = None, shuffle: bool | None = None
    ):
        self.quiz = quiz
        self.learner = learner or learner_name()
        self.store = store
        self.messages: list[str] = []
        saved = None
        if store is not None:
            outcome = _load_quietly(store)
            saved = outcome.document
            if outcome.warning:
                self.messages.append(outcome.warning)
        self.session = PracticeSession(quiz, saved, shuffle=shuffle)
        if self.session.discarded:
            self.messages.append(
                f"{len(self.session.discarded)} question(s) changed since your last visit; "
                "their saved answers were set aside."
            )
        self._confirming_reset = False

        self.title = _html(
            f'{render.STYLE}<div class="fl-title">{render.inline(quiz.title)}</div>'
            f'<div class="fl-description">{render.inline(quiz.description)}</div>'
            f'<div class="fl-description"><small>{KEYBOARD_NOTE}</small></div>',
            "freezelab-title",
        )
        self.warning = _html("", "freezelab-warning")
        self.progress = widgets.IntProgress(
            min=0, max=len(quiz), description="Answered", layout=widgets.Layout(width="18rem")
        )
        self.progress.add_class("freezelab-progress")
        self.score = _html("", "freezelab-score")
        self.final_score = _html("", "freezelab-score-bottom")
        self.reset_button = _button("Start over", "Erase your answers to this quiz", "freezelab-reset", icon="undo")
        self.reset_button.on_click(lambda _: self.reset())
        self._confirming_unlock = False
        self.lock_note = _html(render.locked_html(quiz.graded_as or ""), "freezelab-lock-note")
        self.unlock_button = _button(
            "I have handed in the graded quiz: show verdicts and solutions",
            "Only once your graded quiz is handed in",
            "freezelab-unlock",
            icon="unlock",
        )
        self.unlock_button.on_click(lambda _: self.unlock())
        self.lock_box = widgets.VBox([self.lock_note, self.unlock_button])
        self.lock_box.add_class("freezelab-lock")
        self.questions = [
            QuestionView(self.session, question, number, self._changed)
            for number, question in enumerate(quiz.questions, start=1)
        ]
        self.widget = widgets.VBox(
            [QuizAccess(title=quiz.title), self.title, self.warning, self.lock_box]
            + [widgets.HBox([self.progress, self.score], layout=_CENTERED)]
            + [view.box for view in self.questions]
            + [widgets.HBox([self.final_score, self.reset_button], layout=_CENTERED)]
        )
        self.widget.add_class("freezelab-quiz")
        self._show_lock()
        self._update_totals()

    def _show_lock(self) -> None:
        locked = self.session.locked
        self.lock_box.layout.display = "flex" if locked else "none"
        for view in self.questions:
            view.set_locked(locked)

    def unlock(self) -> None:
        """Show verdicts, hints and solutions, after a second click to confirm."""
        if not self._confirming_unlock:
            self._confirming_unlock = True
            self.unlock_button.description = "Click again to confirm: the graded quiz is handed in"
            self.unlock_button.button_style = "warning"
            return
        self.session.unlock()
        for view in self.questions:
            view.refresh()
        self._show_lock()
        self.save()
        self._update_totals()

    def _orders(self) -> dict[str, Any]:
        return {q.id: self.session.options(q.id) for q in self.quiz.questions}

    def view(self, question_id: str) -> QuestionView:
        for view in self.questions:
            if view.question.id == question_id:
                return view
        raise KeyError(question_id)

    def _update_totals(self) -> None:
        score = self.session.score()
        self.progress.value = score.answered
        self.score.value = render.score_html(score)
        self.final_score.value = render.score_html(score)
        self.warning.value = render.warning_html(self.messages)

    def _changed(self) -> None:
        self._confirming_reset = False
        self.reset_button.description = "Start over"
        self.reset_button.button_style = ""
        self.save()
        self._update_totals()

    def save(self) -> None:
        if self.store is None:
            return
        problem = _save_quietly(self.store, self.session.to_document(self.learner))
        if problem and problem not in self.messages:
            self.messages.append(problem)

    def reset(self) -> None:
        """Erase the answers, after a second click to confirm."""
        if not self._confirming_reset:
            self._confirming_reset = True
            self.reset_button.description = "Click again to erase your answers"
            self.reset_button.button_style = "danger"
            return
        self.session.reset()
        for view in self.questions:
            view.refresh()
        self._changed()


def build_quiz(
    name: str,
    *,
    learner: str | None = None,
    progress_folder: Path | None = None,
    shuffle: bool | None = None,
    save: bool = True,
) -> PracticeQuiz:
    """The practice quiz ``name`` of ``quizzes/quizzes.yaml``, with the learner's saved progress."""
    quiz = load_quiz(name)
    learner = learner or learner_name()
    store = StateFile(progress_path(quiz.id, learner, progress_folder), "freezelab-progress", quiz.id) if save else None
    return PracticeQuiz(quiz, store, learner, shuffle)


def show_quiz(name: str, **options: Any) -> None:
    """Display a practice quiz: ``show_quiz("practice")`` (the lesson's five questions) or
    ``show_quiz("mastery")`` (the ten-question test). Options as for :func:`build_quiz`."""
    display(build_quiz(name, **options))


# ---------------------------------------------------------------------------- exam mode


class ExamQuestionView:
    """One question of the graded quiz: choose an option; it is recorded, never judged."""

    def __init__(self, session: ExamSession, question: Question, number: int, on_change: Callable[[], None]):
        self.session = session
        self.question = question
        self._on_change = on_change
        options = session.options(question.id)
        self.header = _html(render.question_html(question, number, len(session.quiz), options), "freezelab-prompt")
        # Labels carry the letter this learner sees; values are the bank's option ids (recorded).
        self.radio = widgets.RadioButtons(
            options=[(render.option_label(session.label(question.id, o.id), o), o.id) for o in options],
            value=session.answers.get(question.id),
            layout=widgets.Layout(width="auto"),
        )
        self.radio.add_class("freezelab-options")
        self.clear_button = _button("Clear answer", "Remove the recorded answer", "freezelab-clear", icon="times")
        self.status = _html("", "freezelab-recorded")
        self.box = widgets.VBox([self.header, self.radio, widgets.HBox([self.clear_button, self.status])])
        self.box.add_class("freezelab-question")
        self.box.add_class(f"freezelab-q-{question.id}")
        self.radio.observe(self._selected, names="value")
        self.clear_button.on_click(lambda _: setattr(self.radio, "value", None))
        self._update_status()

    def _selected(self, change: dict[str, Any]) -> None:
        self.session.record(self.question.id, change["new"])
        self._update_status()
        self._on_change()

    def _update_status(self) -> None:
        answer = self.session.answers.get(self.question.id)
        letter = self.session.label(self.question.id, answer) if answer else None
        self.status.value = (
            f"<span>Recorded: <strong>{letter}</strong></span>" if letter else "<span><em>Not answered yet</em></span>"
        )


class ExamQuiz(_QuizDisplay):
    """The graded quiz: answers go to a file in the assignment folder, submitted with it."""

    def __init__(self, quiz: Quiz, store: StateFile, learner: str | None = None):
        self.quiz = quiz
        self.store = store
        self.learner = learner or learner_name()
        self.messages: list[str] = []
        outcome = _load_quietly(store)
        if outcome.warning:
            self.messages.append(outcome.warning)
        self.session = ExamSession(quiz, outcome.document, learner=self.learner)
        if self.session.ignored:
            self.messages.append(f"Answers to unknown questions were ignored: {self.session.ignored}.")
        self.title = _html(
            f'{render.STYLE}<div class="fl-title">{render.inline(quiz.title)}</div>'
            '<div class="fl-description">Choose one option per question. Each choice is recorded '
            f"at once in <code>{store.path.name}</code> next to this notebook and is submitted "
            "with the assignment folder. There is no feedback here: your answers are marked when "
            f'the assignment is graded.</div><div class="fl-description"><small>{KEYBOARD_NOTE}'
            "</small></div>",
            "freezelab-title",
        )
        self.warning = _html("", "freezelab-warning")
        self.summary = _html("", "freezelab-summary")
        self.questions = [
            ExamQuestionView(self.session, q, n, self._changed) for n, q in enumerate(quiz.questions, start=1)
        ]
        self.widget = widgets.VBox(
            [QuizAccess(title=quiz.title), self.title, self.warning, self.summary]
            + [view.box for view in self.questions]
        )
        self.widget.add_class("freezelab-quiz")
        self.widget.add_class("freezelab-exam")
        self._update(saved=False)

    def _orders(self) -> dict[str, Any]:
        return {q.id: self.session.options(q.id) for q in self.quiz.questions}

    def _changed(self) -> None:
        problem = _save_quietly(self.store, self.session.to_document(self.learner))
        if problem and problem not in self.messages:
            self.messages.append(problem)
        self._update(saved=problem is None)

    def _update(self, saved: bool) -> None:
        note = " Saved." if saved else ""
        self.summary.value = f'<div class="fl-score">Answered {self.session.answered} of {len(self.quiz)}.{note}</div>'
        self.warning.value = render.warning_html(self.messages)

    def answer(self, question_id: str, option_id: str | None) -> None:
        """Choose an option as a click would (used by tests and scripted demos)."""
        for view in self.questions:
            if view.question.id == question_id:
                view.radio.value = option_id
                return
        raise KeyError(question_id)


def build_exam(
    questions_file: str | Path = "mastery-questions.json",
    answers_file: str | Path = "mastery-answers.json",
    learner: str | None = None,
) -> ExamQuiz:
    """The graded quiz from a keyless questions file, recording into ``answers_file``.

    While nbgrader autogrades, the answers file is only read, never moved or rewritten.
    """
    quiz = load_keyless(Path(questions_file))
    # The instructor's master lives in solutions/: an answers file recorded there would be
    # released to every learner by the next generate_assignment, so nothing is written there.
    in_master = inside(Path(answers_file), SOLUTIONS_DIR)
    store = StateFile(
        Path(answers_file), "freezelab-answers", quiz.id, read_only=autograding() or in_master, what="recorded answers"
    )
    exam = ExamQuiz(quiz, store, learner)
    if in_master:
        exam.messages.append(
            "This is the instructor's master copy in solutions/: choices made "
            "here are not recorded, so that no answers file is ever released."
        )
        exam._update(saved=False)
    return exam


def show_exam(
    questions_file: str | Path = "mastery-questions.json", answers_file: str | Path = "mastery-answers.json"
) -> None:
    """Display the graded quiz (exam mode: answers are recorded, not judged)."""
    display(build_exam(questions_file, answers_file))

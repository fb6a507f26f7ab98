"""What a quiz does, without any drawing: select, check, hint, solution, run, score, save.

:class:`PracticeSession` is the logic behind the practice widgets (immediate feedback, any
number of tries); :class:`ExamSession` records answers for a graded assignment and never
judges them. Both turn into, and are rebuilt from, the JSON documents that
:mod:`freezelab.quiz.progress` stores, so closing and reopening a notebook restores everything.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from freezelab.quiz.bank import OPTION_IDS, Option, Question, Quiz
from freezelab.quiz.progress import now_iso
from freezelab.quiz.runner import RunResult, run_snippet

Status = Literal["correct", "incorrect", "no-selection", "locked"]


@dataclass
class QuestionState:
    """A learner's dealings with one question."""

    fingerprint: str
    selected: str | None = None
    attempts: list[str] = field(default_factory=list)
    first_try_correct: bool | None = None
    hint_shown: bool = False
    solution_shown: bool = False
    ran_code: bool = False

    def as_document(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "selected": self.selected,
            "attempts": list(self.attempts),
            "first_try_correct": self.first_try_correct,
            "hint_shown": self.hint_shown,
            "solution_shown": self.solution_shown,
            "ran_code": self.ran_code,
        }


@dataclass(frozen=True)
class Feedback:
    """The verdict on one check. ``label`` is the letter the learner saw for the option."""

    status: Status
    option: Option | None = None
    label: str | None = None

    @property
    def correct(self) -> bool:
        return self.status == "correct"


@dataclass(frozen=True)
class Score:
    correct: int
    first_try: int
    answered: int
    total: int

    def __str__(self) -> str:
        return (
            f"{self.correct} of {self.total} correct ({self.first_try} on the first try); "
            f"{self.answered} of {self.total} answered"
        )


def option_order(question: Question, shuffle: bool, seed: int) -> tuple[Option, ...]:
    """The options in the order this learner sees them: the bank's order, or a shuffle that is
    the same every time for the same seed (so a reopened notebook shows the same letters)."""
    options = list(question.options)
    if shuffle:
        random.Random(f"{seed}:{question.id}").shuffle(options)
    return tuple(options)


def exam_option_order(question: Question, learner: str) -> tuple[Option, ...]:
    """The graded quiz's options in the order ``learner`` sees them, drawn from the learner id:
    the same learner sees the same order at every visit, and neighbours (or the practice quiz of
    lesson 02, in the bank's order) show other letters for the same option.

    The order decides only the letters on screen. Answers are recorded by the bank's option id
    (:meth:`ExamSession.record`), so the key the grader compares them with
    (:mod:`freezelab.quiz.marking`) follows every learner's order by itself, a regrade gives the
    same grade, and answer files recorded before options were shuffled grade exactly as before.
    """
    options = list(question.options)
    random.Random(f"exam:{learner}:{question.id}").shuffle(options)
    return tuple(options)


def shown_letters(options: tuple[Option, ...]) -> dict[str, str]:
    """Option id to the letter shown beside it, for options in display order."""
    return {option.id: letter for letter, option in zip(OPTION_IDS, options, strict=False)}


class PracticeSession:
    """Immediate-feedback quiz logic over a keyed :class:`Quiz`."""

    def __init__(
        self, quiz: Quiz, saved: Mapping[str, Any] | None = None, shuffle: bool | None = None, seed: int | None = None
    ):
        if not quiz.keyed:
            raise ValueError(f"quiz {quiz.id!r} has no answer key: practice mode needs one")
        self.quiz = quiz
        self.shuffle = quiz.shuffle_options if shuffle is None else shuffle
        saved = saved or {}
        self.seed = seed if seed is not None else saved.get("shuffle_seed", secrets.randbelow(2**31))
        # A quiz whose questions are a graded key gives no verdict, hint or solution until the
        # learner confirms they have handed the graded assignment in (see unlock).
        self.key_unlocked = bool(saved.get("key_unlocked")) or quiz.graded_as is None
        self.restored: list[str] = []
        self.discarded: list[str] = []
        self.states = {q.id: QuestionState(q.fingerprint) for q in quiz.questions}
        for question_id, data in (saved.get("questions") or {}).items():
            self._restore(question_id, data)
        self._orders = {q.id: option_order(q, self.shuffle, self.seed) for q in quiz.questions}

    def _restore(self, question_id: str, data: Mapping[str, Any]) -> None:
        if question_id not in self.states:
            return  # a question that left the quiz
        question = self.quiz.question(question_id)
        if data.get("fingerprint") != question.fingerprint:
            self.discarded.append(question_id)  # the question changed since: its answers are void
            return
        valid = set(question.option_ids)
        selected = data.get("selected")
        self.states[question_id] = QuestionState(
            fingerprint=question.fingerprint,
            selected=selected if selected in valid else None,
            attempts=[a for a in data.get("attempts", []) if a in valid],
            first_try_correct=data.get("first_try_correct"),
            hint_shown=bool(data.get("hint_shown")),
            solution_shown=bool(data.get("solution_shown")),
            ran_code=bool(data.get("ran_code")),
        )
        self.restored.append(question_id)

    # -- what the learner sees
    @property
    def locked(self) -> bool:
        """True while the quiz holds a graded key the learner has not asked to see."""
        return not self.key_unlocked

    def unlock(self) -> None:
        """The learner confirmed they have handed in the graded assignment (``quiz.graded_as``)."""
        self.key_unlocked = True

    def options(self, question_id: str) -> tuple[Option, ...]:
        return self._orders[question_id]

    def label(self, question_id: str, option_id: str) -> str:
        """The letter shown for an option (A for the first one displayed, and so on)."""
        ids = [option.id for option in self._orders[question_id]]
        return OPTION_IDS[ids.index(option_id)]

    def state(self, question_id: str) -> QuestionState:
        return self.states[question_id]

    # -- what the learner does
    def select(self, question_id: str, option_id: str | None) -> None:
        if option_id is not None:
            self.quiz.question(question_id).option(option_id)  # KeyError for a foreign id
        self.states[question_id].selected = option_id

    def check(self, question_id: str) -> Feedback:
        """Judge the selected option and remember the attempt."""
        question = self.quiz.question(question_id)
        state = self.states[question_id]
        if self.locked:
            return Feedback("locked")
        if state.selected is None:
            return Feedback("no-selection")
        correct = state.selected == question.answer
        if not state.attempts:
            state.first_try_correct = correct and not state.hint_shown and not state.solution_shown
        state.attempts.append(state.selected)
        return self._feedback(question, state.selected)

    def _feedback(self, question: Question, option_id: str) -> Feedback:
        status: Status = "correct" if option_id == question.answer else "incorrect"
        return Feedback(status, question.option(option_id), self.label(question.id, option_id))

    def last_feedback(self, question_id: str) -> Feedback | None:
        """The verdict still on screen after a reopen: the last check, if the learner has not
        changed their selection since."""
        state = self.states[question_id]
        if not self.locked and state.attempts and state.selected == state.attempts[-1]:
            return self._feedback(self.quiz.question(question_id), state.attempts[-1])
        return None

    def show_hint(self, question_id: str) -> str:
        if self.locked:
            raise PermissionError(f"quiz {self.quiz.id!r} holds the key of {self.quiz.graded_as!r}")
        self.states[question_id].hint_shown = True
        return self.quiz.question(question_id).hint or ""

    def show_solution(self, question_id: str) -> Question:
        if self.locked:
            raise PermissionError(f"quiz {self.quiz.id!r} holds the key of {self.quiz.graded_as!r}")
        self.states[question_id].solution_shown = True
        return self.quiz.question(question_id)

    def can_run(self, question_id: str) -> bool:
        """Predict, then run: the snippet unlocks after a first check or the solution."""
        state = self.states[question_id]
        unlocked_by_learner = bool(state.attempts) or state.solution_shown
        return not self.locked and self.quiz.question(question_id).runnable and unlocked_by_learner

    def run(self, question_id: str) -> RunResult:
        question = self.quiz.question(question_id)
        if not question.runnable or question.code is None:
            raise ValueError(f"question {question_id!r} has no runnable code")
        self.states[question_id].ran_code = True
        return run_snippet(question.code, question.setup)

    def reset(self) -> None:
        self.states = {q.id: QuestionState(q.fingerprint) for q in self.quiz.questions}

    # -- totals and saving
    def score(self) -> Score:
        answered = correct = first = 0
        for question in self.quiz.questions:
            state = self.states[question.id]
            if state.attempts:
                answered += 1
                correct += state.attempts[-1] == question.answer
                first += bool(state.first_try_correct)
        return Score(correct=correct, first_try=first, answered=answered, total=len(self.quiz))

    def to_document(self, learner: str) -> dict[str, Any]:
        return {
            "format": "freezelab-progress",
            "version": 1,
            "quiz": self.quiz.id,
            "learner": learner,
            "saved_at": now_iso(),
            "shuffle_seed": self.seed,
            **({"key_unlocked": self.key_unlocked} if self.quiz.graded_as else {}),
            "questions": {qid: state.as_document() for qid, state in self.states.items()},
        }


class ExamSession:
    """Answer recording for a graded quiz: no key, no verdict, just what was chosen."""

    def __init__(self, quiz: Quiz, saved: Mapping[str, Any] | None = None, learner: str | None = None):
        self.quiz = quiz
        # With a learner, each question's options come in that learner's order (see
        # exam_option_order); without one, in the bank's order.
        self._orders = {
            q.id: exam_option_order(q, learner) if learner else tuple(q.options) for q in quiz.questions
        }
        self.answers: dict[str, str] = {}
        self.ignored: list[str] = []
        for question_id, option_id in ((saved or {}).get("answers") or {}).items():
            try:
                self.quiz.question(question_id).option(option_id)
            except KeyError:
                self.ignored.append(question_id)
                continue
            self.answers[question_id] = option_id

    def record(self, question_id: str, option_id: str | None) -> None:
        question = self.quiz.question(question_id)
        if option_id is None:
            self.answers.pop(question_id, None)
        else:
            question.option(option_id)
            self.answers[question_id] = option_id

    def options(self, question_id: str) -> tuple[Option, ...]:
        return self._orders[question_id]

    def label(self, question_id: str, option_id: str) -> str:
        """The letter this learner sees for an option."""
        return shown_letters(self._orders[question_id])[option_id]

    @property
    def answered(self) -> int:
        return len(self.answers)

    def to_document(self, learner: str) -> dict[str, Any]:
        ordered = {q.id: self.answers[q.id] for q in self.quiz.questions if q.id in self.answers}
        return {
            "format": "freezelab-answers",
            "version": 1,
            "quiz": self.quiz.id,
            "learner": learner,
            "saved_at": now_iso(),
            "answers": ordered,
            # The letters the learner saw, for messages only: grading reads "answers".
            "shown": {qid: self.label(qid, option_id) for qid, option_id in ordered.items()},
        }

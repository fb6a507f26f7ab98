"""Marking a graded quiz in the grader's own process, from the answers file the learner submitted.

The graded quiz's notebook only records answers (:mod:`freezelab.quiz.answers`: keyless, and the only
quiz code that runs in the learner's sandboxed kernel). Its points are decided here, by code that never
ran learner code: the grader reads the ``<quiz>-answers.json`` that the learner handed in, from the
class's ``submitted/`` folder (which the sandbox does not contain), and compares it with the key in the
question bank (``quizzes/questions.yaml``, which the sandbox does not contain either). Nothing the
notebook prints, patches or writes while it runs changes a mark, and the key never reaches the kernel.

A file that is missing, unreadable, too large, a link, not JSON or not in the recorded-answers format
counts as no answers, with one sentence that says why; it never stops the grading.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from freezelab.quiz.bank import QUIZ_SETS_FILE, SCHEMAS, Quiz, load_quiz, quiz_sets, schema_problems

MAX_ANSWERS_BYTES = 2**20
"""An answers file for ten questions is about 1 kB; anything above this is not one."""


@dataclass(frozen=True)
class GradedQuiz:
    """A quiz that an assignment grades (``graded_as`` in ``quizzes/quizzes.yaml``)."""

    quiz_id: str
    assignment: str

    @property
    def answers_file(self) -> str:
        """The file the notebook records answers in, beside itself (``mastery-answers.json``)."""
        return f"{self.quiz_id}-answers.json"

    def quiz(self) -> Quiz:
        return load_quiz(self.quiz_id)


def graded_quizzes(sets_path: Path = QUIZ_SETS_FILE) -> dict[str, GradedQuiz]:
    """Assignment name to the quiz it grades, for every quiz with a ``graded_as``.

    Read from ``quizzes.yaml`` alone: grading any other assignment never opens the question bank.
    """
    return {
        spec["graded_as"]: GradedQuiz(spec["id"], spec["graded_as"])
        for spec in quiz_sets(sets_path).values()
        if spec.get("graded_as")
    }


@dataclass(frozen=True)
class SubmittedAnswers:
    """What a submitted answers file says: question id to the bank's option id, and the letters shown."""

    answers: Mapping[str, str] = field(default_factory=dict)
    letters: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None
    """Why the file counts as no answers (a sentence for the learner), or ``None``."""


def _unusable(name: str, why: str) -> SubmittedAnswers:
    return SubmittedAnswers(problem=f"{name} {why}, so it counts as no answers: every question scores 0.")


def _read_strictly(path: Path | None, name: str) -> bytes | SubmittedAnswers:
    """The file's bytes (up to one more than the limit), or why it cannot be used."""
    if path is None:
        return _unusable(name, "could not be looked for (the grader does not know where the submission is)")
    if path.is_symlink():
        return _unusable(name, "is a link, which the grader does not follow")
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return SubmittedAnswers(
            problem=f"There is no {name} in the submission, so no answer was recorded: every question scores 0. "
            "(The quiz writes that file beside the notebook when an option is chosen; it goes with the "
            "assignment folder when the folder is submitted.)"
        )
    except OSError as error:
        return _unusable(name, f"could not be opened ({error.strerror or type(error).__name__})")
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return _unusable(name, "is not a plain file")
        with os.fdopen(descriptor, "rb") as stream:
            descriptor = -1
            return stream.read(MAX_ANSWERS_BYTES + 1)
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def read_submitted_answers(path: Path | None, quiz: Quiz, name: str | None = None) -> SubmittedAnswers:
    """The answers recorded in ``path`` for ``quiz``, read strictly; never raises for a bad file.

    The file is opened without following a link and read only up to :data:`MAX_ANSWERS_BYTES`. A
    question id the quiz does not ask is ignored; an option id that is not one of the question's
    options is kept, and marked wrong.
    """
    name = name or (path.name if path else "the answers file")
    data = _read_strictly(path, name)
    if isinstance(data, SubmittedAnswers):
        return data
    if len(data) > MAX_ANSWERS_BYTES:
        return _unusable(name, f"is larger than {MAX_ANSWERS_BYTES // 1024} kB, far more than answers take")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return _unusable(name, "is not text (it is damaged)")
    except json.JSONDecodeError as error:
        return _unusable(name, f"is not valid JSON ({error.msg}: line {error.lineno}, column {error.colno})")
    if not isinstance(document, dict) or document.get("format") != "freezelab-answers":
        return _unusable(name, "is not a file of recorded quiz answers")
    problems = schema_problems(document, SCHEMAS["freezelab-answers"])
    if problems:
        return _unusable(name, f"is not in the form the quiz writes ({'; '.join(problems[:2])})")
    if document["quiz"] != quiz.id:
        return _unusable(name, f"holds answers to the quiz {document['quiz']!r}, not to {quiz.id!r}")
    asked = {question.id for question in quiz.questions}
    answers = {qid: option for qid, option in document["answers"].items() if qid in asked}
    letters = {qid: letter for qid, letter in document.get("shown", {}).items() if qid in answers}
    return SubmittedAnswers(answers, letters)


@dataclass(frozen=True)
class Mark:
    """One question's mark: right or not, and, if not, why (a sentence for the learner)."""

    question_id: str
    number: int
    right: bool
    reason: str | None = None


def mark_answers(quiz: Quiz, submitted: SubmittedAnswers) -> dict[str, Mark]:
    """Question id to its :class:`Mark`, by comparing the submitted option ids with the bank's key."""
    if not quiz.keyed:
        raise ValueError(f"quiz {quiz.id!r} carries no key: it can only be marked from the question bank")
    marks = {}
    for number, question in enumerate(quiz.questions, start=1):
        chosen = submitted.answers.get(question.id)
        if submitted.problem:
            reason = f"Question {number}: not marked. {submitted.problem}"
        elif chosen is None:
            reason = f"Question {number}: no answer recorded; an unanswered question scores 0."
        elif chosen not in question.option_ids:
            reason = f"Question {number}: the recorded answer ({chosen}) is not one of the question's options."
        elif chosen != question.answer:
            letter = submitted.letters.get(question.id, chosen)
            reason = f"Question {number}: your recorded answer (option {letter}) is not the right one."
        else:
            reason = None
        marks[question.id] = Mark(question.id, number, reason is None, reason)
    return marks


_QUOTED = re.compile(r"""["']([a-z0-9]+(?:-[a-z0-9]+)*)["']""")


def questions_of_cells(sources: Mapping[str, str], quiz: Quiz) -> dict[str, str]:
    """Test cell grade id to the question it marks: the one question id of ``quiz`` its source quotes.

    ``sources`` are the instructor's sources of the test cells (from the gradebook, never the
    submission). A cell that quotes no question id, or several, marks none.
    """
    asked = {question.id for question in quiz.questions}
    found = {}
    for grade_id, source in sources.items():
        named = {match for match in _QUOTED.findall(source) if match in asked}
        if len(named) == 1:
            found[grade_id] = named.pop()
    return found

"""Reading the answers a learner recorded in exam mode, for the graded notebook's test cells.

Everything here is keyless: it reports *whether* a question was answered, never whether the
answer is right. This is the only quiz code that runs in the learner's (sandboxed) kernel while
grading; the marks are decided outside it, from the submitted answers file and the question bank's
key (:mod:`freezelab.quiz.marking`), so neither the key nor the verdict is ever in reach of learner code.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz.bank import SCHEMAS, schema_problems
from freezelab.quiz.progress import ProgressWarning, inside


def autograding() -> bool:
    """True while nbgrader autogrades a submission.

    nbgrader sets ``NBGRADER_EXECUTION=autograde`` for exactly that run (and ``validate`` for
    validation); see its FAQ, "Can I modify the notebook behavior during autograding or
    validation?". The exam widget records nothing while it is set.
    """
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


class RecordedAnswers(dict):
    """Question id to the bank's option id (what the grader compares with the key), plus
    ``letters``: question id to the letter the learner saw, where the file says."""

    letters: dict[str, str]

    def __init__(self, answers: dict[str, str] | None = None, letters: dict[str, str] | None = None):
        super().__init__(answers or {})
        self.letters = dict(letters or {})


def read_recorded_answers(path: str | Path = "mastery-answers.json") -> RecordedAnswers:
    """Question id to chosen option id, from an answers file; empty when there is none.

    A damaged file is reported with a :class:`ProgressWarning` and counts as no answers; it is
    read only, never moved or rewritten (this runs inside nbgrader's autograder too).
    """
    path = Path(path)
    if not path.exists():
        return RecordedAnswers()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        warnings.warn(
            f"The recorded answers in {path} cannot be read ({error}); no answers are counted.",
            ProgressWarning,
            stacklevel=2,
        )
        return RecordedAnswers()
    if not isinstance(document, dict):
        problems = ["not a JSON object"]
    elif document.get("format") != "freezelab-answers":
        problems = [f"format {document.get('format')!r}"]
    else:
        problems = schema_problems(document, SCHEMAS["freezelab-answers"])
    if problems:
        warnings.warn(
            f"The recorded answers in {path} are not in the expected form "
            f"({'; '.join(problems[:2])}); no answers are counted.",
            ProgressWarning,
            stacklevel=2,
        )
        return RecordedAnswers()
    return RecordedAnswers(document["answers"], document.get("shown"))


class UnansweredQuestion(AssertionError):
    """A question without a recorded answer, under nbgrader's Validate.

    IPython draws an exception that has ``_render_traceback_`` with those lines instead of a
    traceback: the learner reads the message under their own check cell (which nbgrader's
    report shows above it), not the course's internals.
    """

    def _render_traceback_(self) -> list[str]:
        # One sentence a line: nbgrader's report cuts long lines.
        first, _, rest = str(self).partition(". ")
        return [f"AssertionError: {first}.", *([rest] if rest else [])]


def report_recorded_answer(answers: dict[str, str], question_id: str, number: int) -> None:
    """Print whether question ``number`` has a recorded answer (never whether it is right).

    Under nbgrader's Validate button (``NBGRADER_EXECUTION=validate``) a missing answer is an
    assertion failure instead, so validation lists exactly the questions still unanswered; the
    learner reads only the message (:class:`UnansweredQuestion`). Running the notebook normally
    only prints, so the learner's copy runs top to bottom. Returns nothing, so the check cell
    echoes nothing after the message.
    """
    if question_id in answers:
        letter = getattr(answers, "letters", {}).get(question_id)
        print(f"Question {number}: answer {letter} recorded." if letter else f"Question {number}: answer recorded.")
        return
    message = (
        f"Question {number}: no answer recorded yet. Choose an option in the quiz above; "
        "an unanswered question scores 0."
    )
    if _validating() and not inside(Path.cwd(), SOLUTIONS_DIR):
        raise UnansweredQuestion(message)
    print(message)


def _validating() -> bool:
    """True while nbgrader validates (its Validate button or ``nbgrader validate``)."""
    return os.environ.get("NBGRADER_EXECUTION") == "validate"

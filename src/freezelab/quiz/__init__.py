"""Widget quizzes for the freezing-layers course.

In a notebook::

    from freezelab.quiz import show_quiz
    show_quiz("practice")   # the lesson's five practice questions, immediate feedback
    show_quiz("mastery")    # the ten-question mastery test

The graded assignment uses :func:`show_exam` (answers recorded into the assignment folder, no
feedback) and :func:`read_recorded_answers`. The layers, as in jupyterquiz: :mod:`.bank` loads
and validates the data in ``quizzes/``, :mod:`.session` is the logic, :mod:`.render` and
:mod:`.widgets` draw it, :mod:`.progress` saves it, :mod:`.runner` runs code snippets.
"""

from freezelab.quiz.answers import autograding, read_recorded_answers, report_recorded_answer
from freezelab.quiz.bank import BankError, Option, Question, Quiz, load_bank, load_keyless, load_quiz
from freezelab.quiz.progress import ProgressWarning, progress_dir
from freezelab.quiz.runner import RunResult, run_snippet
from freezelab.quiz.session import ExamSession, Feedback, PracticeSession, Score
from freezelab.quiz.widgets import (
    ExamQuiz,
    PracticeQuiz,
    build_exam,
    build_quiz,
    show_exam,
    show_quiz,
)

__all__ = [
    "BankError",
    "ExamQuiz",
    "ExamSession",
    "Feedback",
    "Option",
    "PracticeQuiz",
    "PracticeSession",
    "ProgressWarning",
    "Question",
    "Quiz",
    "RunResult",
    "Score",
    "autograding",
    "build_exam",
    "build_quiz",
    "load_bank",
    "load_keyless",
    "load_quiz",
    "progress_dir",
    "read_recorded_answers",
    "report_recorded_answer",
    "run_snippet",
    "show_exam",
    "show_quiz",
]

"""A made-up class's answers to the graded quiz, for ``make grade-demo``'s quiz statistics.

Each learner has an ability and each question a difficulty (from the bank's easy / medium / hard);
a learner answers right with a logistic chance of the two. A wrong answer goes, most of the time,
to the question's *popular* distractor where :data:`POPULAR` names one (the misconceptions the
lessons warn about), else to any wrong option; a few learners leave questions blank. Drawn from a
fixed seed, so the demo shows the same figures every time.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from freezelab.quiz.bank import Quiz
from freezelab.quiz.progress import write_json_atomically

# Question id -> the wrong option most learners fall for (bank ids), and how often a wrong answer
# goes there.
POPULAR = {
    "module-requires-grad": 0.75,
    "grad-is-not-a-switch": 0.7,
    "batchnorm-running-stats": 0.8,
}
DIFFICULTY = {"easy": -1.2, "medium": 0.0, "hard": 1.0}


def popular_distractor(quiz: Quiz, question_id: str) -> str:
    """The popular wrong option of a question: its first wrong option in the bank's order."""
    question = quiz.question(question_id)
    return next(option.id for option in question.options if option.id != question.answer)


def draw_class(quiz: Quiz, learners: int = 36, seed: int = 2026) -> dict[str, dict[str, str]]:
    """Learner id (``learner-01``...) to {question id: option id}."""
    rng = random.Random(seed)
    answers: dict[str, dict[str, str]] = {}
    for number in range(1, learners + 1):
        ability = rng.gauss(0.4, 1.1)
        chosen: dict[str, str] = {}
        for question in quiz.questions:
            if rng.random() < 0.04:
                continue  # left blank
            chance = 1 / (1 + math.exp(-(ability - DIFFICULTY[question.difficulty]) * 1.6))
            if rng.random() < chance:
                chosen[question.id] = question.answer or ""
                continue
            wrong = [option.id for option in question.options if option.id != question.answer]
            if question.id in POPULAR and rng.random() < POPULAR[question.id]:
                chosen[question.id] = popular_distractor(quiz, question.id)
            else:
                chosen[question.id] = rng.choice(wrong)
        answers[f"learner-{number:02d}"] = chosen
    return answers


def write_answer_files(answers: dict[str, dict[str, str]], submitted: Path, quiz_id: str = "mastery",
                       assignment: str = "mastery-quiz", filename: str = "mastery-answers.json") -> list[Path]:
    """Each learner's answers as the graded quiz records them, in ``submitted/<learner>/<assignment>/``."""
    paths = []
    for learner, chosen in answers.items():
        path = submitted / learner / assignment / filename
        document = {"format": "freezelab-answers", "version": 1, "quiz": quiz_id, "learner": learner,
                    "answers": chosen}
        write_json_atomically(path, document)
        paths.append(path)
    return paths

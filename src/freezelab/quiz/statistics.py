"""Quiz statistics for instructors, after Moodle's quiz statistics report: per question of a graded
quiz, how many answered, the share correct (facility), how well it separates stronger from weaker
learners (discrimination), and how often each wrong option was chosen, next to the misconception
its explanation in the bank names.

Everything here but :func:`read_class_answers` is a pure function of the class's answers (learner
to question id to the bank's option id, as recorded in ``mastery-answers.json``) and the keyed
quiz. Definitions:

* facility: correct answers / learners. An unanswered question counts as wrong, as in grading.
* discrimination: facility in the upper third minus facility in the lower third, the thirds taken
  by total score on the quiz (ties broken by learner id, so the figure is reproducible); from -1
  to 1, ``None`` with fewer than three learners. Around 0.3 and above separates well; near 0 or
  below, the question (or its key) deserves a look.
* distractors: for each wrong option, how many chose it, and the share of learners.
"""

from __future__ import annotations

import csv
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from freezelab.quiz.bank import Question, Quiz

ClassAnswers = Mapping[str, Mapping[str, str]]
"""Learner id to {question id: the bank's option id}; a missing question is unanswered."""


@dataclass(frozen=True)
class OptionStatistics:
    option_id: str
    text: str
    correct: bool
    chosen: int
    share: float
    """chosen / learners"""
    misconception: str
    """For a wrong option, the first sentence of its explanation in the bank; empty for the key."""


@dataclass(frozen=True)
class QuestionStatistics:
    number: int
    question_id: str
    topic: str
    difficulty: str
    learners: int
    answered: int
    correct: int
    facility: float
    upper_facility: float | None
    lower_facility: float | None
    options: tuple[OptionStatistics, ...]

    @property
    def discrimination(self) -> float | None:
        if self.upper_facility is None or self.lower_facility is None:
            return None
        return self.upper_facility - self.lower_facility

    @property
    def distractors(self) -> tuple[OptionStatistics, ...]:
        """The wrong options, most chosen first."""
        return tuple(sorted((o for o in self.options if not o.correct), key=lambda o: (-o.chosen, o.option_id)))


def first_sentence(text: str) -> str:
    flat = " ".join((text or "").split())
    match = re.match(r"(.+?[.!?])(\s|$)", flat)
    return match.group(1) if match else flat


def total_scores(answers: ClassAnswers, quiz: Quiz) -> dict[str, int]:
    return {
        learner: sum(chosen.get(q.id) == q.answer for q in quiz.questions) for learner, chosen in answers.items()
    }


def thirds(answers: ClassAnswers, quiz: Quiz) -> tuple[list[str], list[str]]:
    """The upper and lower thirds of the class by total score (each ``len // 3`` learners)."""
    totals = total_scores(answers, quiz)
    ranked = sorted(totals, key=lambda learner: (-totals[learner], learner))
    size = len(ranked) // 3
    return (ranked[:size], ranked[len(ranked) - size :]) if size else ([], [])


def _facility(question: Question, answers: ClassAnswers, learners: list[str]) -> float | None:
    if not learners:
        return None
    return sum(answers[learner].get(question.id) == question.answer for learner in learners) / len(learners)


def question_statistics(answers: ClassAnswers, quiz: Quiz) -> list[QuestionStatistics]:
    """One row per question of ``quiz`` (keyed), in the quiz's order."""
    if not quiz.keyed:
        raise ValueError(f"quiz {quiz.id!r} has no key: statistics need the bank's answers")
    learners = len(answers)
    upper, lower = thirds(answers, quiz)
    rows = []
    for number, question in enumerate(quiz.questions, start=1):
        chosen = [given.get(question.id) for given in answers.values()]
        options = tuple(
            OptionStatistics(
                option_id=option.id,
                text=option.text,
                correct=option.id == question.answer,
                chosen=chosen.count(option.id),
                share=chosen.count(option.id) / learners if learners else 0.0,
                misconception="" if option.id == question.answer else first_sentence(option.explanation or ""),
            )
            for option in question.options
        )
        correct = chosen.count(question.answer)
        rows.append(
            QuestionStatistics(
                number=number,
                question_id=question.id,
                topic=question.topic or "",
                difficulty=question.difficulty,
                learners=learners,
                answered=sum(option is not None for option in chosen),
                correct=correct,
                facility=correct / learners if learners else 0.0,
                upper_facility=_facility(question, answers, upper),
                lower_facility=_facility(question, answers, lower),
                options=options,
            )
        )
    return rows


CSV_COLUMNS = [
    "number", "question", "topic", "difficulty", "learners", "answered", "facility", "discrimination",
    "option", "option_text", "correct", "chosen", "share", "misconception",
]  # fmt: skip


def write_csv(rows: list[QuestionStatistics], path: Path) -> Path:
    """One line per question and option, the question's figures repeated on each (easy to filter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            discrimination = "" if row.discrimination is None else f"{row.discrimination:.3f}"
            for option in row.options:
                writer.writerow([
                    row.number, row.question_id, row.topic, row.difficulty, row.learners, row.answered,
                    f"{row.facility:.3f}", discrimination, option.option_id, option.text,
                    "yes" if option.correct else "no", option.chosen, f"{option.share:.3f}", option.misconception,
                ])  # fmt: skip
    return path


def report_text(rows: list[QuestionStatistics], quiz_id: str = "mastery") -> str:
    learners = rows[0].learners if rows else 0
    lines = [f"quiz {quiz_id}: {learners} learners (facility = share correct; discrimination = upper - lower third)"]
    for row in rows:
        discrimination = "  n/a" if row.discrimination is None else f"{row.discrimination:+.2f}"
        lines.append(
            f"  Q{row.number:<2} {row.question_id:<32} answered {row.answered:>3}  facility {row.facility:4.0%}  "
            f"discrimination {discrimination}"
        )
        top = row.distractors[0] if row.distractors else None
        if top is not None and top.chosen:
            lines.append(f"      most chosen wrong option ({top.chosen}, {top.share:.0%}): {top.text!r}")
            lines.append(f"      misconception: {textwrap.shorten(top.misconception, 110, placeholder='…')}")
    return "\n".join(lines)


def draw(rows: list[QuestionStatistics], path: Path, title: str = "Mastery quiz") -> Path:
    """Left: facility and discrimination per question. Right: each question's options as shares
    of the class, the key in green, the most chosen wrong option labelled with its misconception."""
    from matplotlib.figure import Figure

    count = max(1, len(rows))
    figure = Figure(figsize=(14, 0.62 * count + 1.8))
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    labels = [f"Q{row.number} {textwrap.shorten(row.question_id, 28, placeholder='…')}" for row in rows]
    positions = list(range(len(rows)))
    left.barh([p - 0.18 for p in positions], [row.facility for row in rows], height=0.36, color="#4c72b0",
              label="facility (share correct)")
    left.barh([p + 0.18 for p in positions], [row.discrimination or 0.0 for row in rows], height=0.36,
              color="#dd8452", label="discrimination (upper - lower third)")
    left.axvline(0.3, color="#999999", linestyle=":", linewidth=1)
    left.set_yticks(positions, labels)
    left.invert_yaxis()
    left.set_xlim(-1, 1)
    left.legend(loc="lower left", fontsize=8)
    learners = rows[0].learners if rows else 0
    figure.suptitle(f"{title}: quiz statistics, {learners} learners", fontweight="bold")
    left.set(title="facility and discrimination", xlabel="dotted: discrimination 0.3")

    wrong_colours = ["#c44e52", "#e6a0a2", "#8c8c8c", "#b0b0b0", "#d0d0d0"]
    for position, row in zip(positions, rows, strict=True):
        start = 0.0
        ranked = {o.option_id: rank for rank, o in enumerate(row.distractors)}
        for option in row.options:
            colour = "#55a868" if option.correct else wrong_colours[min(ranked[option.option_id], 4)]
            right.barh(position, option.share, left=start, color=colour, edgecolor="white")
            if option.share >= 0.06:
                on_dark = option.correct or ranked.get(option.option_id) == 0
                right.text(start + option.share / 2, position, option.option_id, ha="center", va="center",
                           fontsize=8, color="white" if on_dark else "black")
            start += option.share
        top = row.distractors[0] if row.distractors else None
        if top is not None and top.chosen:
            right.text(1.02, position, textwrap.shorten(f"{top.share:.0%}: {top.misconception}", 70, placeholder="…"),
                       va="center", fontsize=7.5)
    right.set_yticks(positions, [f"Q{row.number}" for row in rows])
    right.invert_yaxis()
    right.set_xlim(0, 1)
    right.set(title="answers per option (bank ids), most chosen wrong one: its misconception",
              xlabel="share of learners; green: the key, red: the most chosen wrong option; the rest did not answer")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    return path


# ---------------------------------------------------------------------------- reading a class


def read_class_answers(
    submitted: Path, assignment: str = "mastery-quiz", filename: str = "mastery-answers.json", quiz: Quiz | None = None
) -> dict[str, dict[str, str]]:
    """Every learner's recorded answers under ``submitted/<learner>/<assignment>/<filename>``.

    Read exactly as grading reads them (:func:`freezelab.quiz.marking.read_submitted_answers`): a learner
    who submitted the assignment without an answers file, or with one the grader cannot use, answered
    nothing, and the grader's note says why.
    """
    from freezelab.quiz.bank import load_quiz
    from freezelab.quiz.marking import read_submitted_answers

    quiz = quiz or load_quiz("mastery")
    answers = {}
    for folder in sorted(submitted.glob(f"*/{assignment}")):
        if folder.is_dir():
            answers[folder.parent.name] = dict(read_submitted_answers(folder / filename, quiz).answers)
    return answers


@dataclass(frozen=True)
class QuizReport:
    rows: list[QuestionStatistics]
    csv: Path
    picture: Path
    text: str


def write_report(answers: ClassAnswers, quiz: Quiz, folder: Path) -> QuizReport:
    """``quiz-statistics.csv`` and ``quiz-statistics.png`` in ``folder``, and the text version."""
    rows = question_statistics(answers, quiz)
    return QuizReport(
        rows,
        write_csv(rows, folder / f"{quiz.id}-quiz-statistics.csv"),
        draw(rows, folder / f"{quiz.id}-quiz-statistics.png", title=quiz.title),
        report_text(rows, quiz.id),
    )


def class_reports(submitted: Path, folder: Path) -> list[QuizReport]:
    """A report in ``folder`` for every graded quiz that has submissions under ``submitted``."""
    from freezelab.quiz.marking import graded_quizzes

    reports = []
    for assignment, graded in graded_quizzes().items():
        quiz = graded.quiz()
        answers = read_class_answers(submitted, assignment, graded.answers_file, quiz)
        if answers:
            reports.append(write_report(answers, quiz, folder))
    return reports

"""``make grade-demo``: sample submissions through the whole pipeline, so an instructor sees the result.

The demo writes every sample submission of ``freeze-it-yourself`` (right, partly right, wrong,
broken, tampered with) as a folder of learner folders, and three more as an LMS download (a zip of
files named ``<learner>_<ids>_<notebook>.ipynb``). For the graded quiz ``mastery-quiz`` it writes a
few samples (all right, some wrong, none, a damaged and a forged answers file, a notebook that tries to
set its own score) and a sample class of 36 learners whose answers make a few distractors popular
(:mod:`freezelab.quiz.sample_class`), every one answered through the exam widget. It collects them
all, autogrades both assignments, writes feedback, exports the CSV files and draws the summary with
the quiz statistics, in a fresh folder that it keeps, never in the class's state. Then it prints what
each sample should score next to what it scored.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from freezelab.grading.autograde import Outcome, autograde
from freezelab.grading.collect import collect
from freezelab.grading.course import Course
from freezelab.grading.export import Exported, export
from freezelab.grading.feedback import feedback
from freezelab.grading.samples import (
    FREEZE,
    QUIZ,
    QUIZ_CLASS,
    Sample,
    build_sample,
    samples_for,
    write_quiz_samples,
    write_quiz_submission,
    write_samples,
)
from freezelab.grading.summary import Summary, summarise
from freezelab.quiz.bank import load_quiz
from freezelab.quiz.sample_class import draw_class

# Pretend learners in the LMS download, and the sample each hands in.
LMS_LEARNERS = {
    "ana": "solution",
    "ben": "partial-first-five-tasks",
    "chloe": "wrong-as-the-lesson-warns",
}


@dataclass(frozen=True)
class DemoRow:
    student: str
    assignment: str
    description: str
    expected: float
    outcome: Outcome
    in_class: bool = False
    """One of the quiz's sample class (reported together, in one line)."""

    @property
    def as_expected(self) -> bool:
        return abs(self.outcome.score - self.expected) < 1e-9


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    course: Course
    rows: list[DemoRow]
    feedback_pages: list[Path]
    exported: Exported
    summary: Summary

    @property
    def all_as_expected(self) -> bool:
        return all(row.as_expected for row in self.rows)


def expected_score(sample: Sample, points: dict[str, float]) -> float:
    """What ``sample`` should score, given the points of each test cell."""
    if sample.loses_everything:
        return 0.0
    return sum(value for grade_id, value in points.items() if grade_id not in sample.loses)


def points_per_test_cell(course: Course, assignment: str) -> dict[str, float]:
    with course.gradebook() as gradebook:
        stored = gradebook.find_assignment(assignment)
        return {cell.name: float(cell.max_score) for notebook in stored.notebooks for cell in notebook.grade_cells}


def write_lms_download(path: Path, learners: dict[str, str] = LMS_LEARNERS) -> Path:
    """A zip as an LMS hands it out: one file per learner, named ``<learner>_<ids>_<notebook>``."""
    samples = {sample.name: sample for sample in samples_for(FREEZE)}
    with zipfile.ZipFile(path, "w") as archive:
        for number, (learner, sample_name) in enumerate(learners.items()):
            name = f"{learner}_{4100 + number}_{77000 + number}_{FREEZE}.ipynb"
            archive.writestr(name, build_sample(samples[sample_name], FREEZE, FREEZE))
    return path


def run_demo(
    folder: Path | None = None,
    jobs: int | None = None,
    progress: bool = True,
    only: Iterable[str] | None = None,
) -> DemoResult:
    """Run the demo in ``folder`` (default: a new temporary folder, kept); ``only`` some samples.

    ``only`` names samples of either assignment; ``quiz-class`` stands for the quiz's sample class.
    """
    folder = Path(folder or tempfile.mkdtemp(prefix="freezelab-grade-demo-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    course = Course(folder / "state")
    chosen = set(only) if only else None
    quiz = load_quiz("mastery")
    # freeze-it-yourself: a folder of learner folders, and an LMS download.
    written = write_samples(folder / "incoming", FREEZE, as_student_folders=True, only=chosen)
    if written:
        collect(course, folder / "incoming", FREEZE)
    learners = {name: sample for name, sample in LMS_LEARNERS.items() if chosen is None or sample in chosen}
    if learners:
        collect(course, write_lms_download(folder / "lms-download.zip", learners), FREEZE)
    # mastery-quiz: the samples, and a class whose answers make a few distractors popular.
    quiz_incoming = folder / "incoming-quiz"
    quiz_written = write_quiz_samples(quiz_incoming, quiz, only=chosen)
    drawn = draw_class(quiz) if chosen is None or QUIZ_CLASS in chosen else {}
    for learner, answers in drawn.items():
        write_quiz_submission(quiz_incoming, learner, answers)
    if quiz_written or drawn:
        collect(course, quiz_incoming, QUIZ)
    graded = autograde(course, jobs=jobs, progress=progress)
    outcomes = {(o.submission.assignment, o.submission.student): o for o in graded}
    pages = feedback(course)
    exported = export(course)
    summary = summarise(course)
    rows = []
    if written or learners:
        points = points_per_test_cell(course, FREEZE)
        by_name = {sample.name: sample for sample in samples_for(FREEZE)}
        students = {sample.name: sample.name for sample, _ in written} | learners
        for student, name in sorted(students.items()):
            sample = by_name[name]
            outcome = outcomes[FREEZE, student]
            rows.append(DemoRow(student, FREEZE, sample.description, expected_score(sample, points), outcome))
    for sample in quiz_written:
        rows.append(DemoRow(sample.name, QUIZ, sample.description, sample.expected(quiz), outcomes[QUIZ, sample.name]))
    key = {question.id: question.answer for question in quiz.questions}
    for learner, answers in sorted(drawn.items()):
        right = float(sum(answers.get(question_id) == option for question_id, option in key.items()))
        description = "the sample class, for the quiz statistics"
        rows.append(DemoRow(learner, QUIZ, description, right, outcomes[QUIZ, learner], in_class=True))
    return DemoResult(folder, course, rows, pages, exported, summary)


def demo_report(result: DemoResult) -> str:
    shown = [row for row in result.rows if not row.in_class]
    width = max((len(row.student) for row in shown), default=7)
    lines = [f"{'learner':<{width}}  expected  got    what they handed in"]
    for assignment in (FREEZE, QUIZ):
        mine = [row for row in shown if row.assignment == assignment]
        if mine:
            lines.append(f"{assignment}:")
        for row in mine:
            flag = "" if row.as_expected else "   <-- NOT AS EXPECTED"
            lines.append(
                f"{row.student:<{width}}  {row.expected:>8g}  {row.outcome.score:<5g}  {row.description}{flag}"
            )
            for problem in row.outcome.problems:
                lines.append(f"{'':<{width}}      - {problem.message}")
    in_class = [row for row in result.rows if row.in_class]
    if in_class:
        right = sum(row.as_expected for row in in_class)
        mean = sum(row.outcome.score for row in in_class) / len(in_class)
        flag = "" if right == len(in_class) else "   <-- NOT AS EXPECTED"
        lines.append(
            f"{in_class[0].student} … {in_class[-1].student}: {in_class[0].description}: {right} of {len(in_class)} "
            f"scored what their answers say (mean {mean:.1f} / {in_class[0].outcome.max_score:g}){flag}"
        )
        off = [row for row in in_class if not row.as_expected]
        lines += [f"    {row.student}: expected {row.expected:g}, got {row.outcome.score:g}" for row in off]
    assignments = sorted({row.assignment for row in result.rows})
    lines += [
        "",
        result.summary.text,
        "",
        f"Everything is in {result.folder}:",
        *(f"  feedback pages   {result.course.feedback_dir}/<learner>/{name}/{name}.html" for name in assignments),
        f"  grades           {result.exported.grades_csv}",
        f"  per task         {result.exported.tasks_csv}",
        f"  summary plot     {result.summary.picture}",
        *(f"  quiz statistics  {report.csv} and {report.picture.name}" for report in result.summary.quizzes),
        f"  gradebook        {result.course.db_path}",
    ]
    if not result.all_as_expected:
        lines.append("Some samples did not score what they should: see the rows marked above.")
    return "\n".join(lines)

"""``make grade-demo``: sample submissions through the whole pipeline, so an instructor sees the result.

The demo writes every sample submission of ``freeze-it-yourself`` (right, partly right, wrong,
broken, tampered with) as a folder of learner folders, and three more as an LMS download (a zip of
files named ``<learner>_<ids>_<notebook>.ipynb``). It collects both, autogrades, writes feedback,
exports the CSV files and draws the summary (with the graded quiz's statistics for a sample class,
:mod:`freezelab.quiz.sample_class`), in a fresh folder that it keeps, never in the class's
state. Then it prints what each sample should score next to what it scored.
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
from freezelab.grading.samples import FREEZE, Sample, build_sample, samples_for, write_samples
from freezelab.grading.summary import Summary, summarise
from freezelab.quiz.bank import load_quiz
from freezelab.quiz.sample_class import draw_class, write_answer_files

# Pretend learners in the LMS download, and the sample each hands in.
LMS_LEARNERS = {
    "ana": "solution",
    "ben": "partial-first-five-tasks",
    "chloe": "wrong-as-the-lesson-warns",
}


@dataclass(frozen=True)
class DemoRow:
    student: str
    sample: Sample
    expected: float
    outcome: Outcome

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
    """Run the demo in ``folder`` (default: a new temporary folder, kept); ``only`` some samples."""
    folder = Path(folder or tempfile.mkdtemp(prefix="freezelab-grade-demo-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    course = Course(folder / "state")
    chosen = set(only) if only else None
    written = write_samples(folder / "incoming", FREEZE, as_student_folders=True, only=chosen)
    collect(course, folder / "incoming", FREEZE)
    learners = {name: sample for name, sample in LMS_LEARNERS.items() if chosen is None or sample in chosen}
    if learners:
        collect(course, write_lms_download(folder / "lms-download.zip", learners), FREEZE)
    graded = autograde(course, FREEZE, jobs=jobs, progress=progress)
    outcomes = {outcome.submission.student: outcome for outcome in graded}
    pages = feedback(course, FREEZE)
    exported = export(course)
    # A sample class's graded-quiz answers (a few distractors popular), for the quiz statistics.
    write_answer_files(draw_class(load_quiz("mastery")), course.submitted_dir)
    summary = summarise(course, FREEZE)
    points = points_per_test_cell(course, FREEZE)
    by_name = {sample.name: sample for sample in samples_for(FREEZE)}
    students = {sample.name: sample.name for sample, _ in written} | learners
    rows = [
        DemoRow(student, by_name[sample], expected_score(by_name[sample], points), outcomes[student])
        for student, sample in sorted(students.items())
    ]
    return DemoResult(folder, course, rows, pages, exported, summary)


def demo_report(result: DemoResult) -> str:
    width = max(len(row.student) for row in result.rows)
    lines = [f"{'learner':<{width}}  expected  got    what they handed in"]
    for row in result.rows:
        flag = "" if row.as_expected else "   <-- NOT AS EXPECTED"
        lines.append(
            f"{row.student:<{width}}  {row.expected:>8g}  {row.outcome.score:<5g}  {row.sample.description}{flag}"
        )
        for problem in row.outcome.problems:
            lines.append(f"{'':<{width}}      - {problem.message}")
    lines += [
        "",
        result.summary.text,
        "",
        f"Everything is in {result.folder}:",
        f"  feedback pages   {result.course.feedback_dir}/<learner>/{FREEZE}/{FREEZE}.html",
        f"  grades           {result.exported.grades_csv}",
        f"  per task         {result.exported.tasks_csv}",
        f"  summary plot     {result.summary.picture}",
        *(f"  quiz statistics  {report.csv} and {report.picture.name}" for report in result.summary.quizzes),
        f"  gradebook        {result.course.db_path}",
    ]
    if not result.all_as_expected:
        lines.append("Some samples did not score what they should: see the rows marked above.")
    return "\n".join(lines)

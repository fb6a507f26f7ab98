"""A picture of how the class did: the score distribution and the pass rate of every task."""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from freezelab.grading.autograde import integrity_text
from freezelab.grading.course import Course
from freezelab.grading.export import TaskScore, task_scores
from freezelab.quiz.statistics import QuizReport, class_reports


@dataclass(frozen=True)
class AssignmentSummary:
    """Totals per learner and pass rates per task for one assignment."""

    assignment: str
    max_score: float
    totals: dict[str, float]
    pass_rates: list[tuple[str, float]]
    """(task label, fraction of learners with full points), in the notebook's order."""

    @property
    def mean(self) -> float:
        return sum(self.totals.values()) / len(self.totals) if self.totals else 0.0

    @property
    def median(self) -> float:
        values = sorted(self.totals.values())
        if not values:
            return 0.0
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def summarise_scores(rows: list[TaskScore]) -> list[AssignmentSummary]:
    by_assignment: dict[str, list[TaskScore]] = defaultdict(list)
    for row in rows:
        by_assignment[row.assignment].append(row)
    summaries = []
    for assignment, items in sorted(by_assignment.items()):
        totals: dict[str, float] = defaultdict(float)
        tasks: dict[tuple[str, str], list[bool]] = {}
        for row in items:
            totals[row.student] += row.score
            label = row.task if row.task != row.grade_id else row.grade_id
            tasks.setdefault((row.notebook, label), []).append(row.passed)
        students = len(totals)
        max_score = sum(row.max_score for row in items) / students if students else 0.0
        rates = [
            (
                label if len({n for n, _ in tasks}) == 1 else f"{notebook}: {label}",
                sum(passed) / len(passed),
            )
            for (notebook, label), passed in tasks.items()
        ]
        summaries.append(AssignmentSummary(assignment, max_score, dict(totals), rates))
    return summaries


def summary_text(summaries: list[AssignmentSummary]) -> str:
    lines = []
    for summary in summaries:
        lines.append(
            f"{summary.assignment}: {len(summary.totals)} submissions, mean {summary.mean:.1f} / "
            f"{summary.max_score:g}, median {summary.median:g}"
        )
        width = max((len(label) for label, _ in summary.pass_rates), default=0)
        for label, rate in summary.pass_rates:
            lines.append(f"  {label:<{width}}  passed by {rate:4.0%}")
    return "\n".join(lines)


def draw(summaries: list[AssignmentSummary], path: Path) -> Path:
    """One row per assignment: a histogram of the totals, and a bar per task with its pass rate."""
    rows = max(1, len(summaries))
    tallest = max((len(s.pass_rates) for s in summaries), default=1)
    # A bare Figure draws to a file with no GUI backend and no pyplot state to clean up.
    figure = Figure(figsize=(12, max(3.2, 0.42 * tallest + 1.6) * rows))
    axes = figure.subplots(rows, 2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.4]})
    for (histogram, bars), summary in zip(axes, summaries, strict=False):
        scores = list(summary.totals.values())
        top = max(1, math.ceil(summary.max_score))
        step = max(1, math.ceil(top / 25))  # a bar per point, or per few points on a long scale
        edges = [value - step / 2 for value in range(0, top + step + 1, step)]
        histogram.hist(scores, bins=edges, color="#4c72b0", edgecolor="white")
        histogram.yaxis.set_major_locator(MaxNLocator(integer=True))
        histogram.axvline(summary.mean, color="#dd8452", linestyle="--")
        histogram.set(
            title=f"{summary.assignment}: total score ({len(scores)} submissions)",
            xlabel=f"points out of {summary.max_score:g} (dashed: mean {summary.mean:.1f}, median {summary.median:g})",
            ylabel="submissions",
        )
        labels = [textwrap.shorten(label, 48, placeholder="…") for label, _ in summary.pass_rates]
        rates = [rate for _, rate in summary.pass_rates]
        positions = range(len(rates))
        bars.barh(list(positions), rates, color=["#55a868" if r >= 0.5 else "#c44e52" for r in rates])
        bars.set_yticks(list(positions), labels)
        bars.invert_yaxis()
        bars.set_xlim(0, 1)
        bars.xaxis.set_major_formatter(PercentFormatter(1.0))
        bars.set(title="share of submissions with full points, per task", xlabel="passed")
        for y, rate in zip(positions, rates, strict=True):
            bars.text(min(rate + 0.01, 0.9), y, f"{rate:.0%}", va="center")
    for histogram, bars in axes[len(summaries) :]:
        histogram.set_axis_off()
        bars.set_axis_off()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


@dataclass(frozen=True)
class Summary:
    picture: Path
    text: str
    assignments: list[AssignmentSummary]
    quizzes: list[QuizReport]
    """Statistics of each graded quiz with submissions (freezelab.quiz.statistics)."""


def summarise(course: Course, assignment: str | None = None) -> Summary:
    """Draw ``exports/summary.png`` from the gradebook and return it with a text version; beside
    it, the quiz statistics (CSV and figure) of every graded quiz with submitted answers."""
    summaries = summarise_scores(task_scores(course, assignment))
    picture = draw(summaries, course.exports_dir / "summary.png")
    quizzes = class_reports(course.submitted_dir, course.exports_dir)
    text = "\n".join([summary_text(summaries), integrity_text(course), *withheld_text(course)])
    text = "\n\n".join([text, *(report.text for report in quizzes)])
    return Summary(picture, text, summaries, quizzes)


def withheld_text(course: Course) -> list[str]:
    """A line per feedback page that was withheld, so the instructor can follow up."""
    lines = []
    for submission in course.submissions():
        for notebook in course.read_note(submission).get("withheld_feedback", []):
            lines.append(f"feedback withheld: {submission}/{notebook}.html (it showed hidden-test text)")
    return lines

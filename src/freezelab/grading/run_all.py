"""``all``: collect (when a source is given), autograde, feedback, export, summary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from freezelab.grading.autograde import Outcome, autograde
from freezelab.grading.collect import Collected, collect
from freezelab.grading.course import (
    Course,
)
from freezelab.grading.export import Exported, export
from freezelab.grading.feedback import feedback
from freezelab.grading.summary import Summary, summarise


@dataclass(frozen=True)
class PipelineRun:
    """Everything one ``all`` run produced."""

    collected: Collected | None
    outcomes: list[Outcome]
    feedback_pages: list[Path]
    exported: Exported
    summary: Summary


def run_all(
    course: Course,
    source: Path | None = None,
    assignment: str | None = None,
    jobs: int | None = None,
    progress: bool = True,
    scheduler: str | None = None,
) -> PipelineRun:
    """collect (when ``source`` is given) → autograde → feedback → export → summary."""
    collected = collect(course, source, assignment) if source else None
    outcomes = autograde(course, assignment, jobs=jobs, progress=progress, scheduler=scheduler)
    pages = feedback(course, assignment)
    exported = export(course)
    return PipelineRun(collected, outcomes, pages, exported, summarise(course, assignment))

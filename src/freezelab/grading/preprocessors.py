"""nbgrader preprocessors that fix the autograding failures nbgrader's users keep reporting.

``autograder/nbgrader_config.py`` calls :func:`harden`, so the protections hold however nbgrader is
started: through ``python -m freezelab.grading``, by hand (``nbgrader autograde``) or from the
formgrader. They are:

* :class:`InspectSubmission` (before nbgrader's ``OverwriteCells``) and :class:`ZeroAffectedTests`
  (after it): deleted, duplicated, moved, retyped or edited graded cells get one clear line in the
  notebook's grading record, the tests of the tasks they touch score 0, and the notebook is repaired
  so that the rest is graded normally (jupyter/nbgrader#1682, #1083, #1941).
* :class:`ResilientExecute`: a cell that kills the kernel (a crash, ``os._exit``, memory) or loops
  so that it cannot even be interrupted no longer fails the whole submission; the notebook is run
  again from the start without that cell, which scores what a failing cell scores.
* :class:`SaveAutoGradesIgnoringStderr`: a warning that torch prints on stderr no longer zeroes a
  correct answer (nbgrader's ``determine_grade`` treats any stderr output as a failure; #1904 added a
  regular-expression filter, which needs each warning to be known in advance).
* :class:`HideHiddenTests` and :class:`AddGradingReport` (feedback): learners get the outcome of the
  hidden tests, never their source, neither in the cells nor in tracebacks (#917, #1363), and a table
  at the top that says, task by task, what scored and why.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.exporters import HTMLExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets import Integer, Unicode

import freezelab
from freezelab.grading import warm
from freezelab.grading.integrity import (
    METADATA_KEY,
    AssignmentLayout,
    ExpectedCell,
    Problem,
    cell_role,
    heading_titles,
    inspect_and_repair,
    is_answer_cell,
    is_read_only_cell,
    is_scored_cell,
    is_test_cell,
    nbgrader_metadata,
    normalise_source,
    problems_of,
    record_problem,
    strip_hidden_tests,
    zero_affected_tests,
)
from freezelab.grading.sandbox import (
    NO_SANDBOX_ENV,
    Limits,
    SandboxedKernelManager,
    SandboxUnavailable,
    preflight,
    sandbox_disabled,
)
from freezelab.grading.tampering import aliases_in, scan
from freezelab.grading.tasks import GENERATORS, cases_for, class_secret
from freezelab.grading.verdicts import reports_in, verdict_of_outputs
from freezelab.paths import AUTOGRADER_DIR, REPO_ROOT, SOLUTIONS_DIR
from freezelab.quiz.marking import Mark, graded_quizzes, mark_answers, questions_of_cells, read_submitted_answers

DEFAULT_CELL_TIMEOUT = 30


def load_layout(db_url: str, assignment: str, notebook: str, source_directory: Path) -> AssignmentLayout:
    """The graded cells of ``assignment/notebook`` from the gradebook, in the source notebook's order."""
    with Gradebook(db_url) as gradebook:
        stored = gradebook.find_notebook(notebook, assignment)
        grade_cells = {cell.name: cell.max_score for cell in stored.grade_cells}
        task_cells = {cell.name: cell.max_score for cell in stored.task_cells}
        solution_cells = {cell.name for cell in stored.solution_cells}
        sources = {cell.name: (cell.cell_type, bool(cell.locked), cell.source or "") for cell in stored.source_cells}
    ordered, titles, in_source_order = [], {}, True
    try:
        master = nbformat.read(source_directory / assignment / f"{notebook}.ipynb", as_version=4)
    except (OSError, ValueError):
        master, in_source_order = None, False
    if master is not None:
        ordered = [nbgrader_metadata(cell).get("grade_id") for cell in master.cells]
        ordered = [grade_id for grade_id in ordered if grade_id in sources]
        titles = heading_titles(master.cells, sources)
    ordered += sorted(set(sources) - set(ordered))
    cells = []
    for grade_id in ordered:
        cell_type, locked, source = sources[grade_id]
        points = grade_cells.get(grade_id, task_cells.get(grade_id))
        cells.append(
            ExpectedCell(
                grade_id=grade_id,
                cell_type=cell_type,
                grade=grade_id in grade_cells,
                solution=grade_id in solution_cells,
                locked=locked,
                task=grade_id in task_cells,
                points=points,
                source=source,
            )
        )
    return AssignmentLayout(tuple(cells), titles, ordered=in_source_order)


class InspectSubmission(NbGraderPreprocessor):
    """Record and repair structural changes to graded cells, before nbgrader's OverwriteCells."""

    source_directory = Unicode(
        str(SOLUTIONS_DIR),
        help="The instructors' source notebooks, for the order of the graded cells.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        try:
            layout = load_layout(info["db_url"], info["assignment"], info["notebook"], Path(self.source_directory))
        except MissingEntry:
            return nb, resources  # nbgrader skips notebooks it does not know; so do we
        inspection = inspect_and_repair(nb, layout)
        nb.metadata[METADATA_KEY]["titles"] = dict(layout.titles)
        marked_outside = set(quiz_cells(info["assignment"], layout))
        for problem in [*inspection.problems, *tampering_problems(nb, layout, marked_outside)]:
            self.log.warning("%s/%s: %s", info["student"], info["notebook"], problem.message)
        return nb, resources


def _learners_code(cell: NotebookNode, layout: AssignmentLayout) -> bool:
    """Whether the learner wrote or changed this code cell: their own cells, answers, and edited instructor cells."""
    if cell.cell_type != "code" or is_read_only_cell(cell):
        return False
    expected = layout.by_id().get(nbgrader_metadata(cell).get("grade_id"))
    return (
        expected is None
        or is_answer_cell(cell)
        or normalise_source(cell.source) != normalise_source(expected.source)
    )


def quiz_cells(assignment: str, layout: AssignmentLayout) -> dict[str, str]:
    """Test cell grade id to the question it marks, when ``assignment`` grades a quiz (else empty)."""
    graded = graded_quizzes().get(assignment)
    if graded is None:
        return {}
    return questions_of_cells({cell.grade_id: cell.source for cell in layout.cells if cell.is_test}, graded.quiz())


def tampering_problems(
    nb: NotebookNode, layout: AssignmentLayout, marked_outside: set[str] | frozenset[str] = frozenset()
) -> list[Problem]:
    """Record what :mod:`tampering` finds in the learner's cells; the tasks tested after each score 0.

    Test cells in ``marked_outside`` (a graded quiz's questions, marked from the submitted answers file)
    cannot be swayed by the kernel, so tampering does not void them.
    """
    titles = nb.metadata.get(METADATA_KEY, {}).get("titles", {})
    learner = [(index, cell) for index, cell in enumerate(nb.cells) if _learners_code(cell, layout)]
    aliases = aliases_in([cell.source for _, cell in learner])
    found = []
    for index, cell in learner:
        findings = scan(cell.source, aliases)
        if not findings:
            continue
        later = tuple(
            nbgrader_metadata(c)["grade_id"]
            for c in nb.cells[index + 1 :]
            if is_test_cell(c) and nbgrader_metadata(c).get("grade_id") not in {None, *marked_outside}
        )
        if not later:
            continue  # nothing is tested after it: it cannot have changed a verdict
        what = "; ".join(f"line {f.line} {f.what}" for f in findings[:3])
        message = (
            f"{_describe_cell(cell, index, titles)}: {what}. Code that changes torch, Python's builtins or the "
            "notebook's error handling voids the tasks tested after it, which score 0."
        )
        problem = Problem("tampering", nbgrader_metadata(cell).get("grade_id"), message, later)
        record_problem(nb, problem)
        found.append(problem)
    return found


class InsertChallenges(NbGraderPreprocessor):
    """Write each learner's hidden-test cases into the test cells' probe calls (after OverwriteCells).

    The cases are drawn from the learner id, the assignment and the class's secret
    (:func:`freezelab.grading.tasks.cases_for`); the kernel learns them only when the test cell runs.
    """

    state_directory = Unicode("", help="The class's state folder, which holds its secret.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        secret = class_secret(Path(self.state_directory))
        for cell in nb.cells:
            task = nbgrader_metadata(cell).get("grade_id")
            call = f'hidden_tests("{task}", globals())'
            if is_test_cell(cell) and task in GENERATORS and call in cell.source:
                cases = cases_for(task, info["assignment"], info["student"], secret)
                literal = f"__import__('json').loads({json.dumps(cases)!r})"
                cell.source = cell.source.replace(call, f'hidden_tests("{task}", globals(), cases={literal})')
        return nb, resources


class ZeroAffectedTests(NbGraderPreprocessor):
    """Replace the tests of every task a structural problem touched by code that explains and fails."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        zeroed = zero_affected_tests(nb)
        if zeroed:
            self.log.warning("Not graded (scores 0): %s", ", ".join(zeroed))
        return nb, resources


def _describe_cell(cell: NotebookNode, index: int, titles: dict[str, str] | None = None) -> str:
    """``Task 3 · Title: the test cell `id` ``, or ``Cell 12 (one of your own)``."""
    grade_id = nbgrader_metadata(cell).get("grade_id")
    if not grade_id:
        return f"Cell {index + 1} (one of your own)"
    role = cell_role(cell)
    title = (titles or {}).get(grade_id)
    return f"{title}: the {role} `{grade_id}`" if title else f"The {role} `{grade_id}`"


STOPWATCH: dict[str, float] = {}
"""Seconds this process spent, by part: ``execute`` (kernel start included), ``learner_code`` and
``hidden_tests`` (the cells), ``verdicts`` (judging and saving). The grading worker reads and resets it."""


def submitted_folder(config: Any, resources: ResourcesDict) -> Path | None:
    """The learner's files as collected (``submitted/<student>/<assignment>/``), never the autograded copy.

    What the sandboxed kernel may see, and where the graded quiz's answers are read from.
    """
    info = resources.get("nbgrader", {})
    submitted = config.CourseDirectory.get("submitted_directory")
    if not (submitted and info.get("student") and info.get("assignment")):
        return None
    folder = Path(str(submitted))
    if not folder.is_absolute():  # nbgrader joins a relative step folder onto the course root
        folder = Path(str(config.CourseDirectory.get("root") or ".")) / folder
    return folder / info["student"] / info["assignment"]


_SANDBOX_WORKS: set[str] = set()
"""The bubblewrap executables a sandbox was started with in this process (checked once each)."""


def ensure_sandbox() -> None:
    """Refuse, with the install hint, to run learner code when no sandbox can start (unless it is switched off).

    The course's commands check this before grading anything (``cli.py``); nbgrader started otherwise
    (the formgrader's Autograde button, ``nbgrader autograde`` by hand) reaches learner code only through
    :class:`ResilientExecute`, which asks here first, so no kernel ever starts unsandboxed by accident.
    ``FREEZELAB_NO_SANDBOX=1`` in the grading process's environment is ``--no-sandbox`` for those routes.
    """
    if sandbox_disabled():
        return
    bwrap = shutil.which("bwrap")
    if bwrap in _SANDBOX_WORKS:
        return
    try:
        preflight()
    except SandboxUnavailable as error:
        raise SandboxUnavailable(
            f"Nothing was graded: learner code runs only inside the sandbox. {error} Where grading is not started "
            f"by `python -m freezelab.grading` (the formgrader, nbgrader by hand), the switch is {NO_SANDBOX_ENV}=1 "
            "in the environment of the process that grades (the Jupyter server, for the formgrader)."
        ) from None
    if bwrap:
        _SANDBOX_WORKS.add(bwrap)


class ResilientExecute(Execute):
    """nbgrader's Execute, which survives a cell that kills or wedges the kernel.

    Stock nbgrader gives up on the whole submission when the kernel dies, or when a cell that timed
    out cannot be interrupted (an endless loop that catches ``KeyboardInterrupt``). Here that cell
    is marked as not run and the notebook runs again from the start in a fresh kernel, so every
    other task keeps its points.
    """

    max_kernel_restarts = Integer(
        3,
        help="How many cells may kill or wedge the kernel before the rest of the notebook is not run.",
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("shutdown_kernel", "immediate")
        if not sandbox_disabled():
            kwargs["kernel_manager_class"] = warm.kernel_manager_class()
        super().__init__(*args, **kwargs)
        self._running_cell: int | None = None
        self._learner_files: Path | None = None
        self._sandbox_reports: list[dict[str, Any]] = []

    def create_kernel_manager(self) -> Any:
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.learner_files = self._learner_files
            km.limits = Limits.from_environment()
            km.on_report = self._sandbox_reports.append
        return km

    def _cap_words(self) -> str | None:
        """Which sandbox cap stopped the last kernel, in words, if one did."""
        report = self._sandbox_reports[-1] if self._sandbox_reports else {}
        if report.get("memory_cap_hit"):
            return f"used more than {report['memory_limit']} of memory and was stopped"
        if report.get("cpu_cap_hit"):
            return f"used more than {Limits.from_environment().cpu_seconds} s of CPU time and was stopped"
        return None

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict, km: Any = None
    ) -> tuple[NotebookNode, ResourcesDict]:
        started = time.perf_counter()
        try:
            return self._run_resiliently(nb, resources, km)
        finally:
            STOPWATCH["execute"] = STOPWATCH.get("execute", 0.0) + time.perf_counter() - started

    def _run_resiliently(
        self, nb: NotebookNode, resources: ResourcesDict, km: Any
    ) -> tuple[NotebookNode, ResourcesDict]:
        try:
            ensure_sandbox()
        except SandboxUnavailable as error:
            self.log.error("%s", error)
            raise
        original = copy.deepcopy(nb)
        self._learner_files = submitted_folder(self.config, resources)
        self._sandbox_reports = []
        titles = nb.metadata.get(METADATA_KEY, {}).get("titles", {})
        not_run: dict[int, str] = {}
        for attempt in range(self.max_kernel_restarts + 2):
            working = copy.deepcopy(original)
            for index, reason in not_run.items():
                working.cells[index].metadata.setdefault(METADATA_KEY, {})["not_run"] = reason
            self._running_cell = None
            try:
                result, resources = super().preprocess(working, resources, km=km)
            except (DeadKernelError, CellTimeoutError) as error:
                index = self._running_cell
                if index is None or index in not_run:
                    raise
                cell = working.cells[index]
                what = self._what_stopped(error)
                not_run[index] = f"{_describe_cell(cell, index, titles)} {what}."
                self.log.warning("%s", not_run[index])
                if attempt >= self.max_kernel_restarts:
                    for later in range(index + 1, len(original.cells)):
                        not_run.setdefault(
                            later,
                            f"{_describe_cell(original.cells[later], later, titles)} was not run: "
                            "earlier cells broke the kernel too often.",
                        )
                continue
            kernel_problems = [
                Problem("kernel", nbgrader_metadata(result.cells[index]).get("grade_id"), not_run[index])
                for index in sorted(not_run)
            ]
            for problem in [*kernel_problems, *execution_problems(result), *self._sandbox_problems()]:
                record_problem(result, problem)
            return result, resources
        raise RuntimeError("the notebook could not be run")  # unreachable: the last attempt runs no failing cell

    def _what_stopped(self, error: Exception) -> str:
        """What a cell that broke the kernel did, in words (a cap it hit, a crash, a wedge)."""
        cap = self._cap_words() if isinstance(error, DeadKernelError) else None
        if cap:
            return f"{cap}; the notebook was run again from the start without it"
        if isinstance(error, DeadKernelError):
            return (
                "made the Python kernel die (a crash, `os._exit()` or running out of memory); "
                "the notebook was run again from the start without it"
            )
        return (
            f"was still running after {self.timeout} s and could not even be interrupted; "
            "the notebook was run again from the start without it"
        )

    def _sandbox_problems(self) -> list[Problem]:
        if sandbox_disabled():
            return [
                Problem(
                    "unsandboxed",
                    None,
                    "This notebook was graded without the sandbox (--no-sandbox): its code ran with the "
                    "grader's own rights.",
                )
            ]
        limit = Limits.from_environment().processes
        if any(report.get("process_cap_hit") for report in self._sandbox_reports):
            return [
                Problem(
                    "cap",
                    None,
                    f"The notebook tried to run more than {limit} processes at once; the rest were refused.",
                )
            ]
        return []

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        self._running_cell = index
        reason = cell.metadata.get(METADATA_KEY, {}).get("not_run")
        if reason:
            if cell.cell_type == "code":
                cell.outputs = [new_output("error", ename="NotRun", evalue=reason, traceback=[f"NotRun: {reason}"])]
            return cell, resources
        started = time.perf_counter()
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            part = "hidden_tests" if is_test_cell(cell) else "learner_code"
            STOPWATCH[part] = STOPWATCH.get(part, 0.0) + time.perf_counter() - started


_REPORTED_ELSEWHERE = {"NotGraded", "NotRun"}


def execution_problems(nb: NotebookNode) -> list[Problem]:
    """A line for every cell that stopped with an error, except the test cells' ordinary failures.

    A failing test already shows in its task's row of the report; what needs its own line is the
    cause the row cannot show: an answer cell that did not run (a syntax error, ``sys.exit()``),
    a cell that had to be stopped, an error in one of the learner's own cells.
    """
    titles = nb.metadata.get(METADATA_KEY, {}).get("titles", {})
    problems = []
    for index, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        if not errors or any(o.ename in _REPORTED_ELSEWHERE for o in errors):
            continue
        grade_id = nbgrader_metadata(cell).get("grade_id")
        timeout = next((o for o in errors if o.ename == "CellTimeoutError"), None)
        is_test = is_test_cell(cell)
        if is_test and timeout is None:
            continue
        error = timeout or errors[0]
        evalue = " ".join(str(error.get("evalue", "")).split())[:300]
        what = f"{error.ename}: {evalue}" if evalue else error.ename
        where = _describe_cell(cell, index, titles)
        consequence = " The tests that use it could not run." if is_answer_cell(cell) else ""
        problems.append(Problem("error", grade_id, f"{where} stopped with {what}.{consequence}"))
    return problems


def determine_grade_ignoring_stderr(cell: NotebookNode, log: Any = None) -> tuple[float | None, float]:
    """nbgrader's ``determine_grade``, except that text on stderr is a warning, not a failure.

    In a Python kernel a failing test always leaves an ``error`` output; stderr carries warnings
    (``UserWarning``, C++ messages from torch) that say nothing about the answer.
    """
    if cell.cell_type == "code":
        cell = copy.copy(cell)
        cell.outputs = [
            output for output in cell.outputs if not (output.output_type == "stream" and output.get("name") == "stderr")
        ]
    return utils.determine_grade(cell, log)


class SaveAutoGradesIgnoringStderr(SaveAutoGrades):
    """nbgrader's SaveAutoGrades with :func:`determine_grade_ignoring_stderr`, and verdicts decided here.

    A test cell with a probe call (:mod:`freezelab.grading.probe`) scores what
    :mod:`freezelab.grading.verdicts` decides from the probe's report, never whether the cell raised:
    swallowed errors and patched comparisons in the kernel do not reach this process. A test cell of a
    graded quiz (:mod:`freezelab.quiz.marking`) scores what the answers file the learner submitted says,
    compared here with the question bank's key: neither the file the kernel saw nor anything it printed
    counts, and the key never enters the sandbox. A failing verdict is added to the cell as an error
    output, so the feedback says which hidden case or question failed and why.
    """

    state_directory = Unicode("", help="The class's state folder, which holds its secret.").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        started = time.perf_counter()
        try:
            return self._save(nb, resources)
        finally:
            STOPWATCH["verdicts"] = STOPWATCH.get("verdicts", 0.0) + time.perf_counter() - started

    def _save(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        # Tests the grader zeroed score 0 whatever their outputs say: code that swallows the NotGraded
        # error must not turn them into passes.
        problems = problems_of(nb)
        self._zeroed = {grade_id for problem in problems for grade_id in problem.zeroed}
        # Tampering voids verdicts reached in the kernel; a quiz's marks are not, so only a change to the
        # graded cells themselves (a deleted or edited test cell) costs a question its point.
        self._zeroed_structurally = {
            grade_id for problem in problems if problem.kind != "tampering" for grade_id in problem.zeroed
        }
        self._quiz_marks = self._mark_quiz(nb, resources)
        return super().preprocess(nb, resources)

    def _mark_quiz(self, nb: NotebookNode, resources: ResourcesDict) -> dict[str, Mark]:
        """Test cell grade id to the mark of the question it asks, for an assignment that grades a quiz."""
        info = resources["nbgrader"]
        graded = graded_quizzes().get(info["assignment"])
        if graded is None:
            return {}
        quiz = graded.quiz()
        try:
            with Gradebook(info["db_url"]) as gradebook:
                stored = gradebook.find_notebook(info["notebook"], info["assignment"])
                tests = {cell.name for cell in stored.grade_cells if cell.cell_type == "code"}
                answers = {cell.name for cell in stored.solution_cells}
                sources = {cell.name: cell.source or "" for cell in stored.source_cells}
        except MissingEntry:
            return {}
        cells = questions_of_cells({g: sources.get(g, "") for g in tests - answers}, quiz)
        if not cells:
            return {}
        folder = submitted_folder(self.config, resources)
        path = folder / graded.answers_file if folder else None
        submitted = read_submitted_answers(path, quiz, graded.answers_file)
        if submitted.problem:
            record_problem(nb, Problem("answers", None, submitted.problem))
            self.log.warning("%s/%s: %s", info["student"], info["assignment"], submitted.problem)
        marks = mark_answers(quiz, submitted)
        return {grade_id: marks[question_id] for grade_id, question_id in cells.items()}

    def _add_score(self, cell: NotebookNode, resources: ResourcesDict) -> None:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        grade = self.gradebook.find_grade(grade_id, self.notebook_id, self.assignment_id, self.student_id)
        grade.auto_score, max_score = determine_grade_ignoring_stderr(cell, self.log)
        mark = getattr(self, "_quiz_marks", {}).get(grade_id)
        zeroed = getattr(self, "_zeroed_structurally" if mark is not None else "_zeroed", ())
        if grade.auto_score is not None and grade_id in zeroed:
            grade.auto_score = 0.0
        elif mark is not None:
            # The answers file decides, whatever the cell printed or raised in the kernel.
            grade.auto_score = max_score if mark.right else 0.0
            if not mark.right:
                cell.outputs.insert(
                    0, new_output("error", ename="NoPoint", evalue=mark.reason, traceback=[f"NoPoint: {mark.reason}"])
                )
        elif grade.auto_score is not None and grade_id in GENERATORS and "hidden_tests(" in cell.source:
            already_failed = any(o.output_type == "error" and o.ename in _REPORTED_ELSEWHERE for o in cell.outputs)
            if already_failed:
                grade.auto_score = 0.0
            else:
                info = resources["nbgrader"]
                cases = cases_for(
                    grade_id, info["assignment"], info["student"], class_secret(Path(self.state_directory))
                )
                reason = verdict_of_outputs(grade_id, cases, cell.outputs)
                grade.auto_score = max_score if reason is None else 0.0
                if reason is not None:
                    cell.outputs.append(
                        new_output(
                            "error", ename="HiddenTestFailed", evalue=reason, traceback=[f"HiddenTestFailed: {reason}"]
                        )
                    )
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
        self.gradebook.db.commit()


# ------------------------------------------------------------------------------------- feedback

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_FRAME_IN_CELL = re.compile(r"^(?:Cell\s+)?In\s*\[(\d+)\]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


_CODE_LINE = re.compile(r"^\s*(?:-*>\s*)?\d+\s?(.*)$")


def _shows_only(frame: str, visible: set[str]) -> bool:
    """Whether every line of code a traceback frame quotes is one the learner can see anyway."""
    lines = strip_ansi(frame).split("\n")[1:]
    quoted = [match.group(1).strip() for line in lines if (match := _CODE_LINE.match(line))]
    quoted = [line for line in quoted if line]
    return bool(quoted) and all(line in visible for line in quoted)


def hide_test_frames(
    traceback: list[str], execution_count: int | None, visible: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Drop the traceback frames that show the test cell's hidden code; keep the learner's frames.

    IPython prints one entry per frame; frames of the running cell start ``Cell In[N], line M``
    with N its execution count, and helpers defined inside the test cell share that N. Such a frame
    stays only if every line it quotes is in ``visible`` (the test lines the learner was given), so
    a failing visible check still points at its line.
    """
    if len(traceback) <= 2:
        return traceback
    head, frames, tail = traceback[:2], traceback[2:-1], traceback[-1:]
    kept, dropped = [], False
    for frame in frames:
        match = _FRAME_IN_CELL.match(strip_ansi(frame).strip())
        ours = match and (execution_count is None or int(match.group(1)) == execution_count)
        if ours and not _shows_only(frame, set(visible)):
            dropped = True
            continue
        kept.append(frame)
    if dropped:
        kept.insert(0, "(the test code is hidden)")
    return head + kept + tail


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test regions from every cell and the test cells' own frames from tracebacks."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type != "code":
            return cell, resources
        cell.source = strip_hidden_tests(cell.source)
        cell.outputs = [o for o in cell.get("outputs", []) if not reports_in([o])]  # the probe's raw report
        if is_test_cell(cell):
            visible = {line.strip() for line in cell.source.split("\n") if line.strip()}
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = hide_test_frames(list(output.traceback), cell.get("execution_count"), visible)
        return cell, resources


def first_error(cell: NotebookNode) -> str | None:
    errors = [output for output in cell.get("outputs", []) if output.output_type == "error"]
    # The grader's own verdicts say more than the KeyboardInterrupt that came before them.
    errors.sort(key=lambda output: output.ename not in {"NotGraded", "NoPoint", "NotRun", "CellTimeoutError"})
    for output in errors:
        if output.output_type == "error":
            evalue = " ".join(str(output.get("evalue", "")).split())
            if len(evalue) > 400:
                evalue = evalue[:400] + " …"
            return f"{output.ename}: {evalue}" if evalue else output.ename
    return None


def _points(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}"


def grading_report(nb: NotebookNode) -> str:
    """Markdown: the score, a row per graded cell with why it lost points, and the problems found."""
    record = nb.metadata.get(METADATA_KEY, {})
    titles = record.get("titles", {})
    rows, score, maximum = [], 0.0, 0.0
    for cell in nb.cells:
        if not is_scored_cell(cell):
            continue
        meta = nbgrader_metadata(cell)
        got, out_of = meta.get("score"), meta.get("points")
        score += got or 0.0
        maximum += out_of or 0.0
        if got is not None and out_of is not None and got >= out_of:
            result = "passed"
        elif got is None:
            result = "to be graded by hand"
        else:
            result = first_error(cell) or ("no answer" if is_answer_cell(cell) else "partial credit")
        title = titles.get(meta["grade_id"], meta["grade_id"])
        rows.append(
            f"| {html.escape(title)} | `{meta['grade_id']}` | {_points(got)} / {_points(out_of)} | "
            f"{html.escape(result).replace('|', '&#124;')} |"
        )
    lines = [
        f"## Grading report: {score:g} / {maximum:g} points",
        "",
        "| Task | Graded cell | Points | Result |",
        "|---|---|---|---|",
        *rows,
    ]
    problems = problems_of(nb)
    if problems:
        lines += ["", "**What the grader found in your notebook**", ""]
        lines += [f"- {html.escape(problem.message)}" for problem in problems]
    return "\n".join(lines)


class AddGradingReport(NbGraderPreprocessor):
    """Put :func:`grading_report` at the top of the feedback (after GetGrades filled in the scores)."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        report = new_markdown_cell(grading_report(nb))
        report.metadata[METADATA_KEY] = {"report": True}
        nb.cells.insert(0, report)
        return nb, resources


_PATH = re.compile(r"(?:/[^\s'\"\x1b:(),/]+)+/?")
"""An absolute file path as tracebacks print it (no space, quote, colon or ANSI escape); matched in one pass."""
_STANDARD_LIBRARY = re.compile(r"/lib/python3\.\d+/")
_SCRATCH = "/freezelab-sandbox-"
_SCRATCH_PARTS = {"work": "<your folder>", "tmp": "<tmp>"}
_CELL_FILE = re.compile(r"ipykernel_\d+/\d+\.py")
"""The file IPython compiles a cell into (warnings name it; tracebacks say ``Cell In[N]`` instead)."""


def grader_folders(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The grader's own folders and their neutral names, longest first."""
    known = {
        str(Path(freezelab.__file__).resolve().parent.parent): "<course>",  # the package's src/ folder
        str(REPO_ROOT): "<course>",
        os.path.expanduser("~"): "~",
        **(extra or {}),
    }
    known = {folder.rstrip("/"): name for folder, name in known.items() if folder.rstrip("/")}
    return dict(sorted(known.items(), key=lambda item: -len(item[0])))


def _neutral_path(path: str, folders: dict[str, str]) -> str:
    scratch = path.find(_SCRATCH)
    if scratch >= 0:  # the sandbox's scratch folder: the learner's files, its temporary folder, the rest
        _, *parts = path[scratch + 1 :].split("/")
        if parts[:1] == ["tmp"] and _CELL_FILE.fullmatch("/".join(parts[1:])):
            return "<cell>"
        if parts and parts[0] in _SCRATCH_PARTS:
            return "/".join([_SCRATCH_PARTS[parts[0]], *parts[1:]])
        return "/".join(["<sandbox>", *parts])
    for marker in ("/site-packages/", "/dist-packages/"):  # installed packages, wherever the environment is
        found = path.rfind(marker)
        if found >= 0:
            return "<packages>/" + path[found + len(marker) :]
    library = _STANDARD_LIBRARY.search(path)
    if library:
        return "<python>/" + path[library.end() :]
    for folder, name in folders.items():
        if path == folder or path.startswith(folder + "/"):
            return name + path[len(folder) :]
    return path


def neutral_paths(text: str, folders: dict[str, str] | None = None) -> str:
    """``text`` with the grader's paths (environment, packages, scratch, course) as short neutral names.

    ``/srv/course/.venv/lib/python3.11/site-packages/torch/nn/modules/module.py`` becomes
    ``<packages>/torch/nn/modules/module.py``; ``/tmp/freezelab-sandbox-ab12/work/data.csv`` becomes
    ``<your folder>/data.csv``. One linear pass over the text, so a learner's megabytes of slashes cost
    no more than any other output.
    """
    folders = grader_folders() if folders is None else folders
    return _PATH.sub(lambda match: _neutral_path(match.group(0), folders), text)


class NeutralPaths(NbGraderPreprocessor):
    """Replace the grader's own paths in outputs and notes by short neutral names (feedback).

    Tracebacks and warnings name the instructor's virtual environment, the Python installation and the
    sandbox's scratch folder; a learner needs only the package and the file (:func:`neutral_paths`).
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        course = self.config.CourseDirectory
        extra = {
            str(course.get(name)): "<grader>"
            for name in ("submitted_directory", "autograded_directory", "feedback_directory")
            if course.get(name) and Path(str(course.get(name))).is_absolute()
        }
        self._folders = grader_folders(extra)
        record = nb.metadata.get(METADATA_KEY, {})
        for problem in record.get("problems", []):
            problem["message"] = neutral_paths(problem["message"], self._folders)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = neutral_paths(output.text, self._folders)
            elif output.output_type == "error":
                output.evalue = neutral_paths(str(output.get("evalue", "")), self._folders)
                output.traceback = [neutral_paths(line, self._folders) for line in output.get("traceback", [])]
            elif "text/plain" in output.get("data", {}):
                output.data["text/plain"] = neutral_paths(output.data["text/plain"], self._folders)
        return cell, resources


class LabelGradedCells(NbGraderPreprocessor):
    """Name each graded cell by its task (the title the grader derived from the headings), for the page.

    nbgrader's feedback page lists every test cell as "Test cell"; the course's template
    (``templates/freezelab_feedback``) shows this label instead, in the table of contents and on the
    cell's panel. Cells that share a title are numbered ("… (test 2 of 3)").
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        titles = nb.metadata.get(METADATA_KEY, {}).get("titles", {})
        tests_by_title: dict[str, list[str]] = {}
        for cell in nb.cells:
            if is_test_cell(cell) and nbgrader_metadata(cell).get("grade_id"):
                grade_id = nbgrader_metadata(cell)["grade_id"]
                tests_by_title.setdefault(titles.get(grade_id, ""), []).append(grade_id)
        for cell in nb.cells:
            grade_id = nbgrader_metadata(cell).get("grade_id")
            title = titles.get(grade_id) if grade_id else None
            if not title:
                continue
            group = tests_by_title.get(title, [])
            if is_test_cell(cell) and len(group) > 1:
                title = f"{title} (test {group.index(grade_id) + 1} of {len(group)})"
            cell.metadata.setdefault(METADATA_KEY, {})["label"] = title
        return nb, resources


FEEDBACK_TEMPLATES = Path(__file__).resolve().parent / "templates"
FEEDBACK_CSS = FEEDBACK_TEMPLATES / "freezelab_feedback" / "feedback.css"


class AddFeedbackStyle(NbGraderPreprocessor):
    """Add the course's style sheet (``feedback.css``) to the page's head, after nbconvert's own."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        inlining = resources.setdefault("inlining", {})
        inlining["css"] = [*inlining.get("css", []), FEEDBACK_CSS.read_text(encoding="utf-8")]
        return nb, resources


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter with the course's feedback template (``harden`` configures it).

    A class of its own, so that the formgrader's other pages, which use ``HTMLExporter`` with
    nbgrader's templates, keep theirs.
    """


def nbgrader_templates() -> Path:
    """nbgrader's own templates folder (its feedback template is the one the course's extends)."""
    import nbgrader.server_extensions.formgrader as formgrader

    return Path(formgrader.__file__).resolve().parent / "templates"


# ---------------------------------------------------------------------------------- configuration


def cell_timeout() -> int:
    """Seconds a cell may run while autograding (``FREEZELAB_CELL_TIMEOUT``, default 30 as nbgrader's)."""
    return int(os.environ.get("FREEZELAB_CELL_TIMEOUT", DEFAULT_CELL_TIMEOUT))


def harden(c: Any, source_directory: Path = SOLUTIONS_DIR, state_directory: Path = AUTOGRADER_DIR) -> None:
    """Install the preprocessors of this module into an nbgrader config object ``c``.

    nbgrader's own preprocessors keep their place and their order; ours go around them.
    """
    c.Autograde.sanitize_preprocessors = [
        ClearOutput,
        InspectSubmission,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        ZeroAffectedTests,
        InsertChallenges,
        CheckCellMetadata,
    ]
    c.Autograde.autograde_preprocessors = [
        ResilientExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGradesIgnoringStderr,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    c.GenerateFeedback.preprocessors = [
        GetGrades,
        HideHiddenTests,
        NeutralPaths,
        LabelGradedCells,
        AddGradingReport,
        CSSHTMLHeaderPreprocessor,
        AddFeedbackStyle,
    ]
    # The page itself: nbgrader's feedback template with the tasks' names (templates/freezelab_feedback).
    c.GenerateFeedback.exporter_class = FeedbackExporter
    c.FeedbackExporter.template_name = "freezelab_feedback"
    c.FeedbackExporter.template_file = "feedback.html.j2"
    c.FeedbackExporter.extra_template_basedirs = [str(nbgrader_templates()), str(FEEDBACK_TEMPLATES)]
    c.InspectSubmission.source_directory = str(source_directory)
    c.InsertChallenges.state_directory = str(state_directory)
    c.SaveAutoGradesIgnoringStderr.state_directory = str(state_directory)
    timeout = cell_timeout()
    c.Execute.timeout = timeout
    c.Execute.error_on_timeout = {
        "ename": "CellTimeoutError",
        "evalue": f"this cell was still running after {timeout} s and was stopped (an endless loop?)",
        "traceback": [f"CellTimeoutError: this cell was still running after {timeout} s and was stopped"],
    }

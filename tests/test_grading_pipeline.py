"""The grading pipeline end to end: the real nbgrader CLI, a real SQLite gradebook, every sample.

One class of pretend learners (every ``tests/files/submitted-*`` fixture, one learner each) goes
through ``python -m freezelab.grading all`` once; the tests then read the gradebook, the feedback
pages, the CSV files and the summary it left. Expected results live in
``tests/files/freeze-it-yourself-expected-grades.json``; ``--update-goldens`` rewrites them, and a
second test checks every score against what each sample is meant to lose, which no flag rewrites.
Stock nbgrader runs on a few of the same files, to show that each fix is needed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nbformat
import pytest

from freezelab.grading import samples
from freezelab.grading.autograde import autograde, sync_assignments
from freezelab.grading.collect import collect
from freezelab.grading.course import Course, Submission
from freezelab.grading.demo import expected_score, points_per_test_cell
from freezelab.grading.feedback import feedback, find_hidden_test_leaks, html_text
from freezelab.grading.integrity import hidden_test_lines, nbgrader_metadata, problems_of
from freezelab.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR
from tests.conftest import requires_sandbox

pytestmark = [requires_sandbox(), pytest.mark.timeout(2400)]  # the class fixture grades 48 notebooks

FILES = Path(__file__).parent / "files"
GOLDEN = FILES / "freeze-it-yourself-expected-grades.json"
ASSIGNMENT = samples.FREEZE
SAMPLES = {sample.name: sample for sample in samples.freeze_it_yourself_samples()}
# The per-cell time limit while testing: enough for a loaded two-core machine, short enough that
# the two endless-loop samples do not dominate the run.
CELL_TIMEOUT = "20"
LOOPBACK_PORTS = range(47100, 47110)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(*arguments: str, state: Path, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = dict(os.environ, FREEZELAB_CELL_TIMEOUT=CELL_TIMEOUT)
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    return subprocess.run(
        [sys.executable, "-m", "freezelab.grading", "--state", str(state), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def gradebook_scores(course: Course, assignment: str = ASSIGNMENT) -> dict[str, dict]:
    """Learner → total and per-test-cell scores, straight from the SQLite gradebook."""
    results = {}
    with course.gradebook() as gradebook:
        for submission in gradebook.find_assignment(assignment).submissions:
            tasks = {grade.name: float(grade.score) for notebook in submission.notebooks for grade in notebook.grades}
            results[submission.student.id] = {"score": float(submission.score), "tasks": tasks}
    return results


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """Every fixture as one learner's folder, through `python -m freezelab.grading all` once."""
    root = tmp_path_factory.mktemp("class")
    incoming, state = root / "incoming", root / "state"
    for sample in SAMPLES.values():
        folder = incoming / sample.name
        folder.mkdir(parents=True)
        shutil.copyfile(FILES / sample.filename, folder / f"{ASSIGNMENT}.ipynb")
    before = {p: digest(p) for p in incoming.rglob("*") if p.is_file()}
    with LoopbackListeners() as listeners:  # what `hostile-loopback-network` tries to reach
        result = run_cli("all", str(incoming), "--assignment", ASSIGNMENT, "--jobs", "2", state=state)
    assert result.returncode == 0, result.stdout + result.stderr
    return {"incoming": incoming, "course": Course(state), "result": result, "before": before, "hits": listeners.hits}


class LoopbackListeners:
    """Services on the host's loopback (ports 47100-47109) that record every connection they accept."""

    def __init__(self) -> None:
        self.hits: list[int] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()

    def __enter__(self) -> LoopbackListeners:
        for port in LOOPBACK_PORTS:
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                server.bind(("127.0.0.1", port))
            except OSError:  # taken by something else on this machine: the other ports will do
                server.close()
                continue
            server.listen()
            server.settimeout(0.2)
            self._sockets.append(server)
        assert self._sockets, f"none of the ports {LOOPBACK_PORTS} is free for the loopback listeners"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self._stop.is_set():
            for server in self._sockets:
                try:
                    connection, _ = server.accept()
                except OSError:
                    continue
                self.hits.append(server.getsockname()[1])
                connection.close()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for server in self._sockets:
            server.close()


@pytest.mark.slow
def test_the_whole_batch_completes_with_a_progress_bar(graded_class):
    """Does one command grade the whole class, broken submissions included, showing its progress?"""
    result = graded_class["result"]
    total = len(SAMPLES)
    assert f"{total}/{total}" in result.stderr and "autograding" in result.stderr
    assert f"collected {total} submission(s)" in result.stdout
    assert set(gradebook_scores(graded_class["course"])) == set(SAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_submission_scores_what_its_sample_should(graded_class, name):
    """Does each sample lose exactly the tasks it is meant to lose, and keep every other point?"""
    course = graded_class["course"]
    points = points_per_test_cell(course, ASSIGNMENT)
    got = gradebook_scores(course)[name]
    sample = SAMPLES[name]
    assert got["score"] == expected_score(sample, points)
    for grade_id, full in points.items():
        lost = sample.loses_everything or grade_id in sample.loses
        assert got["tasks"][grade_id] == (0.0 if lost else full), f"{name}: {grade_id}"


def observed(course: Course) -> dict[str, dict]:
    results = {}
    for name, scores in sorted(gradebook_scores(course).items()):
        note = course.read_note(Submission(ASSIGNMENT, name))
        results[name] = {
            "score": scores["score"],
            "tasks": dict(sorted(scores["tasks"].items())),
            "notebooks": note["notebooks"],
            "problems": [[p["kind"], p["grade_id"]] for p in note["problems"]],
        }
    return results


@pytest.mark.slow
def test_results_match_the_goldens(graded_class, update_goldens):
    """Do the scores, notebook statuses and problems found match the recorded expected results?"""
    results = observed(graded_class["course"])
    if update_goldens:
        GOLDEN.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    assert results == json.loads(GOLDEN.read_text())


@pytest.mark.slow
def test_each_structural_or_broken_case_gets_a_clear_line(graded_class):
    """Does every deleted, moved, retyped, edited, crashed or stuck case come with a line naming its task?"""
    course = graded_class["course"]
    expected = {
        "deleted-test-cell": ("deleted", "Task 3"),
        "deleted-answer-cell": ("deleted", "Task 4"),
        "duplicated-answer-cell": ("duplicated", "Task 2"),
        "moved-test-cell": ("moved", "Task 5"),
        "retyped-answer-cell": ("retyped", "Task 8"),
        "edited-test-cell": ("edited-test", "Task 6"),
        "edited-points": ("edited-metadata", "Task 1"),
        "deleted-setup-cell": ("restored", "set-up"),
        "broken-kernel-crash": ("kernel", "Task 8"),
        "hostile-os-exit": ("kernel", "Cell"),
        "hostile-memory-6gb": ("kernel", "more than 2 GiB"),
        "hostile-fork-bomb": ("cap", "more than 64 processes"),
        "cheat-swallow-errors-blank": ("tampering", "input transformers"),
        "cheat-showtraceback-blank": ("tampering", "showtraceback"),
        "cheat-execute-master": ("tampering", "exec"),
        "cheat-monkeypatch-torch-and-builtins": ("tampering", "torch.equal"),
        "hostile-prints-a-hidden-line": ("withheld", "feedback withheld"),
        "hostile-prints-hidden-transformed": ("withheld", "feedback withheld"),
        "broken-uninterruptible-loop": ("kernel", "Task 5"),
        "broken-endless-loop": ("error", "Task 7"),
        "broken-syntax-error": ("error", "Task 4"),
        "broken-sys-exit": ("error", "Task 2"),
        "broken-unreadable": ("unreadable", "cut off"),
    }
    for name, (kind, words) in expected.items():
        problems = course.read_note(Submission(ASSIGNMENT, name))["problems"]
        count = [p["kind"] for p in problems].count(kind)
        assert count == 1 or (kind == "tampering" and count >= 1), (name, problems)  # a line per cheating cell
        message = next(p["message"] for p in problems if p["kind"] == kind)
        if name == "deleted-setup-cell":
            assert "`setup`" in message and "put back" in message
        elif name == "broken-unreadable":
            assert "could not be read" in message
        else:
            assert words in message, (name, message)
    quiet = ["solution", "correct-with-torch-warning", "untouched-release", "wrong-as-the-lesson-warns"]
    quiet += ["correct-unusual-styles", "correct-with-helper-cells", "wrong-prefix-without-dot"]
    quiet += ["hostile-gradebook-rewrite", "hostile-gradebook-header", "hostile-survivor-process"]
    quiet += ["hostile-writes-outside", "hostile-loopback-network"]
    for name in quiet:
        assert course.read_note(Submission(ASSIGNMENT, name))["problems"] == [], name


@pytest.mark.slow
def test_the_gradebook_is_consistent(graded_class):
    """Has every learner a submission with a settled score for every test cell, and nothing left for a person?"""
    course = graded_class["course"]
    with course.gradebook() as gradebook:
        stored = gradebook.find_assignment(ASSIGNMENT)
        assert {s.student.id for s in stored.submissions} == set(SAMPLES)
        for submission in stored.submissions:
            grades = [grade for notebook in submission.notebooks for grade in notebook.grades]
            assert len(grades) == 8
            for grade in grades:
                assert grade.auto_score is not None, f"{submission.student.id}: {grade.name} has no score"
                assert not grade.needs_manual_grade, f"{submission.student.id}: {grade.name} waits for a person"


def hidden_lines() -> set[str]:
    """Lines of the hidden tests that a learner never sees (not in the release)."""
    master = nbformat.read(SOLUTIONS_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release = nbformat.read(NOTEBOOKS_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    released = "\n".join(cell.source for cell in release.cells)
    found = set()
    for cell in master.cells:
        found |= {line for line in hidden_test_lines(cell.source) if len(line) >= 12 and line not in released}
    return found


@pytest.mark.slow
def test_hostile_code_reaches_nothing_outside_its_sandbox(graded_class):
    """Loopback services, the gradebook, other submissions, processes left behind: is each out of reach?"""
    assert graded_class["hits"] == [], "a sandboxed kernel reached a service on the host's loopback"
    assert "byte-identical before and after grading" in graded_class["result"].stdout
    left = subprocess.run(["pgrep", "-u", "nobody"], capture_output=True, text=True).stdout.split()
    assert left == [], "processes started by learner code outlived the grading"
    with graded_class["course"].gradebook() as gradebook:  # still a database, still everyone's grades
        assert len(gradebook.find_assignment(ASSIGNMENT).submissions) == len(SAMPLES)


@pytest.mark.slow
def test_a_page_that_shows_hidden_tests_is_withheld_for_its_learner_alone(graded_class):
    """Are only the two pages that printed hidden-test text withheld, named in the summary, and the rest released?"""
    course = graded_class["course"]
    withheld = {s.student for s in course.submissions(ASSIGNMENT) if course.read_note(s).get("withheld_feedback")}
    assert withheld == {"hostile-prints-a-hidden-line", "hostile-prints-hidden-transformed"}
    for name in withheld:
        page = html_text((course.feedback_dir / name / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
        assert "withheld" in page and "hidden_tests" not in page
        assert f"feedback withheld: {name}/{ASSIGNMENT}/{ASSIGNMENT}.html" in graded_class["result"].stdout
    assert gradebook_scores(course)["hostile-prints-a-hidden-line"]["score"] == 20.0


@pytest.mark.slow
def test_feedback_pages_hold_no_hidden_test_source(graded_class):
    """Does any line of any hidden test reach any learner's feedback page, in code or in a traceback?"""
    course = graded_class["course"]
    lines = hidden_lines()
    assert len(lines) >= 9  # a probe call per test cell, and its import
    pages = sorted(course.feedback_dir.glob(f"*/{ASSIGNMENT}/*.html"))
    assert {p.parent.parent.name for p in pages} == set(SAMPLES)
    for page in pages:
        learner = page.parent.parent.name
        # A line the learner wrote too (`return groups`) is theirs to see.
        own = (graded_class["incoming"] / learner / f"{ASSIGNMENT}.ipynb").read_text(errors="replace")
        text = " ".join(html_text(page.read_text()).split())
        leaked = [line for line in lines if " ".join(line.split()) in text and json.dumps(line)[1:-1] not in own]
        assert not leaked, f"{learner}: {leaked[:3]}"


@pytest.mark.slow
def test_feedback_pages_open_with_the_grading_report(graded_class):
    """Does each page begin with the score and a row per task, and the broken file get a page of its own?"""
    course = graded_class["course"]
    page = html_text((course.feedback_dir / "edited-test-cell" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
    assert "Grading report: 16 / 20 points" in page
    assert "was edited" in page and "Task 6 · Freeze BatchNorm layers properly" in page
    cut_off = html_text((course.feedback_dir / "broken-unreadable" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
    assert "could not be read as a notebook" in cut_off and "Score for this notebook: 0" in cut_off


@pytest.mark.slow
def test_the_csv_files_hold_the_expected_numbers(graded_class):
    """Do grades.csv (nbgrader export) and task-scores.csv give each learner's expected points?"""
    course = graded_class["course"]
    points = points_per_test_cell(course, ASSIGNMENT)
    with (course.exports_dir / "grades.csv").open() as handle:
        grades = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(grades) == set(SAMPLES)
    for name, row in grades.items():
        assert float(row["score"]) == expected_score(SAMPLES[name], points), name
        assert float(row["max_score"]) == 20.0
    with (course.exports_dir / "task-scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 * len(SAMPLES)
    for name in SAMPLES:
        mine = [row for row in rows if row["student_id"] == name]
        assert sum(float(row["score"]) for row in mine) == float(grades[name]["score"])
        assert [row["grade_id"] for row in mine] == list(points), "rows follow the notebook's order"
    moved = next(
        row for row in rows if row["student_id"] == "moved-test-cell" and row["grade_id"] == "test-trainable-optimizer"
    )
    assert moved["passed"] == "0" and "moved" in moved["problems"]


@pytest.mark.slow
def test_the_summary_picture_is_drawn(graded_class):
    """Is there a PNG of the score distribution and pass rates, and its numbers in the command's output?"""
    course = graded_class["course"]
    picture = course.exports_dir / "summary.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000
    assert re.search(r"Task 6 · Freeze BatchNorm layers properly\s+passed by\s+\d+%", graded_class["result"].stdout)


@pytest.mark.slow
def test_submissions_are_never_modified(graded_class):
    """Are the learners' files, where they came from and where they were collected, byte for byte unchanged?"""
    for path, before in graded_class["before"].items():
        assert digest(path) == before, path
        relative = path.relative_to(graded_class["incoming"])
        collected = graded_class["course"].submitted_dir / relative.parts[0] / ASSIGNMENT / relative.name
        assert digest(collected) == before, collected


@pytest.mark.slow
def test_grading_again_gives_the_same_grades(graded_class):
    """Does autograding the hard cases a second time, alone and with one worker this time (the class ran
    with two), give the same scores and problems?"""
    course = graded_class["course"]
    again = ["deleted-test-cell", "broken-kernel-crash", "correct-with-torch-warning", "broken-unreadable"]
    first = observed(course)
    arguments = ["autograde", "--assignment", ASSIGNMENT, "--jobs", "1"]
    for name in again:
        arguments += ["--student", name]
    result = run_cli(*arguments, state=course.state_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    second = observed(course)
    assert {name: second[name] for name in again} == {name: first[name] for name in again}
    assert second == first


# ------------------------------------------------------------------------------------ stock nbgrader


STOCK_CONTROL = FILES / "stock-control"
"""The master as nbgrader users write it (hidden tests as assertions in the test cells): the control."""
HOLES = sorted(name for name, sample in SAMPLES.items() if sample.hole is not None)
STOCK_LOOPBACK_HITS: list[int] = []


@pytest.fixture(scope="module")
def stock_class(tmp_path_factory):
    """Some of the same fixtures through nbgrader as it ships (no preprocessors, no sandbox of ours).

    Only files whose damage stays inside this throwaway state folder run here: learner code runs
    unsandboxed, as root, as it does under stock nbgrader.
    """
    course = Course(tmp_path_factory.mktemp("stock-state"), solutions_dir=STOCK_CONTROL)
    names = ["correct-with-torch-warning", "deleted-test-cell", "deleted-setup-cell", "hostile-loopback-network"]
    with LoopbackListeners() as listeners:
        stock_grade(course, [*names, *HOLES])
        course.nbgrader("generate_feedback", ASSIGNMENT, "--force", stock=True)
    STOCK_LOOPBACK_HITS.extend(listeners.hits)
    return course


def stock_grade(course: Course, names: list[str]) -> None:
    for name in names:
        folder = course.submitted_dir / name / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copyfile(FILES / SAMPLES[name].filename, folder / f"{ASSIGNMENT}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FREEZELAB_CELL_TIMEOUT", CELL_TIMEOUT)
        autograde(course, ASSIGNMENT, progress=False, stock=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", HOLES)
def test_each_hole_is_real_under_stock_nbgrader(stock_class, graded_class, name):
    """Does stock nbgrader give the cheat the points it did not earn, where ours gives what it earned?"""
    stock = gradebook_scores(stock_class)
    ours = gradebook_scores(graded_class["course"])[name]["score"]
    assert stock[name]["score"] == SAMPLES[name].hole != ours


@pytest.mark.slow
def test_under_stock_nbgrader_learner_code_reaches_the_network(stock_class, graded_class):
    """Does the loopback sample reach a service on the host under stock nbgrader (and nothing under ours)?"""
    assert STOCK_LOOPBACK_HITS and graded_class["hits"] == []


@pytest.mark.slow
def test_under_stock_nbgrader_a_learner_rewrites_the_gradebook(tmp_path, graded_class):
    """Does a learner graded later zero one graded earlier under stock nbgrader (and nobody under ours)?"""
    course = Course(tmp_path / "stock-state", solutions_dir=STOCK_CONTROL)
    stock_grade(course, ["correct-requires-grad-underscore", "hostile-gradebook-rewrite"])
    assert gradebook_scores(course)["correct-requires-grad-underscore"]["score"] == 0.0
    assert gradebook_scores(graded_class["course"])["correct-requires-grad-underscore"]["score"] == 20.0


@pytest.mark.slow
def test_stock_nbgrader_zeroes_a_correct_answer_that_printed_a_torch_warning(stock_class, graded_class):
    """Is the torch warning real, costing task 4 under stock nbgrader, and costing nothing here?"""
    stock = gradebook_scores(stock_class)["correct-with-torch-warning"]["tasks"]
    ours = gradebook_scores(graded_class["course"])["correct-with-torch-warning"]["tasks"]
    assert stock["test-count-trainable-and-frozen"] == 0.0 and ours["test-count-trainable-and-frozen"] == 2.0
    graded = nbformat.read(
        stock_class.autograded_dir / "correct-with-torch-warning" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4
    )
    cell = next(c for c in graded.cells if nbgrader_metadata(c).get("grade_id") == "test-count-trainable-and-frozen")
    assert any(o.output_type == "stream" and o.name == "stderr" and "UserWarning" in o.text for o in cell.outputs)


@pytest.mark.slow
def test_stock_nbgrader_leaves_a_deleted_test_cell_waiting_for_manual_grading(stock_class):
    """Does stock nbgrader leave the deleted test cell unscored and 'needs manual grading' (nbgrader#1682)?"""
    with stock_class.gradebook() as gradebook:
        grade = gradebook.find_grade("test-freeze-all-but-head", ASSIGNMENT, ASSIGNMENT, "deleted-test-cell")
        assert grade.auto_score is None and grade.needs_manual_grade


@pytest.mark.slow
def test_stock_nbgrader_loses_everything_to_a_deleted_set_up_cell(stock_class, graded_class):
    """Without the set-up cell put back, does every task fail under stock nbgrader, and none here?"""
    assert gradebook_scores(stock_class)["deleted-setup-cell"]["score"] == 0.0
    assert gradebook_scores(graded_class["course"])["deleted-setup-cell"]["score"] == 20.0


@pytest.mark.slow
def test_the_leak_check_catches_the_hidden_tests_in_stock_feedback(stock_class, graded_class):
    """Does stock feedback show the hidden tests (nbgrader#917), so that the check finding none here means something?"""
    assert find_hidden_test_leaks(stock_class, ASSIGNMENT)
    assert find_hidden_test_leaks(graded_class["course"], ASSIGNMENT) == []


# ------------------------------------------------------------------------- collecting, other assignments


def test_collect_copies_learner_folders_in_either_layout_and_warns(tmp_path):
    """Are `alice/nb.ipynb` and `bob/assignment/nb.ipynb` both collected unchanged, with a warning for the odd ones?"""
    incoming = tmp_path / "incoming"
    solution = (FILES / SAMPLES["solution"].filename).read_bytes()
    (incoming / "alice").mkdir(parents=True)
    (incoming / "alice" / f"{ASSIGNMENT}.ipynb").write_bytes(solution)
    (incoming / "bob" / ASSIGNMENT).mkdir(parents=True)
    (incoming / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes(solution)
    (incoming / "bob" / ASSIGNMENT / "notes.txt").write_text("my notes")
    (incoming / "carol").mkdir()
    (incoming / "carol" / "Untitled.ipynb").write_bytes(solution)
    (incoming / "dave").mkdir()
    course = Course(tmp_path / "state")
    collected = collect(course, incoming)
    assert collected.assignment == ASSIGNMENT and collected.students == ["alice", "bob", "carol"]
    for student in ("alice", "bob"):
        assert (course.submitted_dir / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == solution
    assert (course.submitted_dir / "bob" / ASSIGNMENT / "notes.txt").read_text() == "my notes"
    assert any("carol" in w and "Untitled.ipynb" in w for w in collected.warnings)
    assert any("dave" in w and "empty" in w for w in collected.warnings)


@pytest.mark.slow
def test_an_lms_download_goes_through_nbgrader_zip_collect(tmp_path):
    """Does a zip of `<learner>_<ids>_<notebook>.ipynb` files land, unchanged, in each learner's folder?"""
    download = tmp_path / "download.zip"
    contents = {
        "ana": (FILES / SAMPLES["solution"].filename).read_bytes(),
        "ben": (FILES / SAMPLES["partial-first-five-tasks"].filename).read_bytes(),
    }
    with zipfile.ZipFile(download, "w") as archive:
        for number, (learner, data) in enumerate(contents.items()):
            archive.writestr(f"{learner}_{100 + number}_{900 + number}_{ASSIGNMENT}.ipynb", data)
        archive.writestr("readme_from_the_lms.txt", "not a submission")
    course = Course(tmp_path / "state")
    collected = collect(course, download, ASSIGNMENT)
    assert collected.students == ["ana", "ben"]
    for learner, data in contents.items():
        assert (course.submitted_dir / learner / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == data
    assert download.exists() and zipfile.ZipFile(download).namelist()[0].startswith("ana_")


@pytest.mark.slow
def test_every_other_assignment_is_graded_generically(tmp_path, monkeypatch):
    """Do the mastery quiz and a multi-notebook assignment go through the same pipeline, right scores and all?"""
    from freezelab.grading.export import export
    from freezelab.quiz import build_exam, load_quiz

    course = Course(tmp_path / "state")
    assignments = course.assignments()
    assert {"freeze-it-yourself", "mastery-quiz", "lessons"} <= set(assignments)
    sync_assignments(course, ["mastery-quiz"])
    released = course.release_dir / "mastery-quiz"
    key = {question.id: question.answer for question in load_quiz("mastery").questions}
    for learner in ("all-right", "untouched-release"):
        folder = course.submitted_dir / learner / "mastery-quiz"
        shutil.copytree(released, folder)
        if learner == "all-right":
            exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json", learner=learner)
            for question_id, option_id in key.items():
                exam.answer(question_id, option_id)
    answered = samples.build_sample(samples.generic_samples()[0], "lessons", "00-start-here")
    for learner in ("one-lesson-done", "one-lesson-done-one-cut-off"):
        lessons = course.submitted_dir / learner / "lessons"
        lessons.mkdir(parents=True)
        (lessons / "00-start-here.ipynb").write_bytes(answered)
    # A second notebook cut off: nbgrader would drop the whole submission, here only that notebook.
    (lessons / "01-why-freeze.ipynb").write_bytes(answered[:500])
    monkeypatch.setenv("FREEZELAB_CELL_TIMEOUT", CELL_TIMEOUT)
    outcomes = {(o.submission.assignment, o.submission.student): o for o in autograde(course, progress=False)}
    quiz = outcomes[("mastery-quiz", "all-right")]
    assert (quiz.score, quiz.max_score) == (10.0, 10.0) and quiz.fully_graded
    assert outcomes[("mastery-quiz", "untouched-release")].score == 0.0
    lesson = outcomes[("lessons", "one-lesson-done")]
    assert lesson.score == 1.0 and lesson.notebooks["00-start-here"] == "graded"
    assert sum(status == "missing" for status in lesson.notebooks.values()) == len(lesson.notebooks) - 1
    cut_off = outcomes[("lessons", "one-lesson-done-one-cut-off")]
    assert cut_off.score == 1.0 and cut_off.notebooks["00-start-here"] == "graded"
    assert cut_off.notebooks["01-why-freeze"] == "unreadable"
    kinds = sorted(p.kind for p in cut_off.problems)
    assert kinds == ["missing"] * (len(cut_off.notebooks) - 2) + ["unreadable"]
    pages = feedback(course)
    assert len(pages) == 2 + 2 * len(lesson.notebooks)
    assert find_hidden_test_leaks(course) == []
    with export(course).tasks_csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["assignment"] for row in rows} == {"mastery-quiz", "lessons"}
    graded = nbformat.read(course.autograded_dir / "all-right" / "mastery-quiz" / "mastery-quiz.ipynb", as_version=4)
    assert problems_of(graded) == []

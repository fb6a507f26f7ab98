"""The grading commands as a learner and an instructor type them (python -m freezelab.grading ...)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from freezelab.grading import samples
from freezelab.grading.cli import main
from freezelab.grading.feedback import html_text
from tests.conftest import requires_sandbox

pytestmark = requires_sandbox()

FILES = Path(__file__).parent / "files"
SAMPLES = {sample.name: sample for sample in samples.freeze_it_yourself_samples()}


def run(*arguments: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, FREEZELAB_CELL_TIMEOUT="20")
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    return subprocess.run(
        [sys.executable, "-m", "freezelab.grading", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_every_step_has_a_command():
    """Does the command line offer all, collect, autograde, feedback, export, summary, check and demo?"""
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    result = run("--help")
    for verb in ("all", "collect", "autograde", "feedback", "export", "summary", "check", "demo"):
        assert f"\n    {verb}" in result.stdout, verb


@pytest.mark.slow
def test_check_grades_one_notebook_with_the_hidden_tests_and_changes_nothing(tmp_path):
    """Does `check` find what only the hidden tests catch, say why, write a feedback page and leave the file alone?"""
    notebook = tmp_path / "freeze-it-yourself.ipynb"
    shutil.copyfile(FILES / SAMPLES["wrong-caught-only-by-hidden-tests"].filename, notebook)
    before = hashlib.sha256(notebook.read_bytes()).hexdigest()
    page = tmp_path / "feedback.html"
    result = run("check", str(notebook), "--html", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # a partial score is a result, not a crash
    assert "freeze-it-yourself: 9 / 20 points" in result.stdout
    failed = [line for line in result.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 4 and all("Hidden test on" in line for line in failed), failed
    assert "Task 1 · Freeze a whole module" in result.stdout and "2/2  passed" in result.stdout
    assert "Grading report: 9 / 20 points" in html_text(page.read_text())
    assert hashlib.sha256(notebook.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.html", "freeze-it-yourself.ipynb"]


@pytest.mark.slow
def test_check_reports_a_file_that_is_not_a_notebook(tmp_path):
    """Does `check` on a cut-off file say it could not be read, score 0 and exit non-zero (it could not grade)?"""
    notebook = tmp_path / "freeze-it-yourself.ipynb"
    shutil.copyfile(FILES / SAMPLES["broken-unreadable"].filename, notebook)
    result = run("check", str(notebook), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 / 20 points" in result.stdout and "could not be read as a notebook" in result.stdout


@pytest.mark.slow
def test_the_demo_runs_the_whole_pipeline_and_keeps_its_folder(tmp_path):
    """Does `demo` collect a folder and an LMS zip, grade, and print expected next to actual scores?"""
    out = tmp_path / "demo"
    result = run("demo", "--out", str(out), "--only", "solution", "--only", "broken-unreadable")
    assert result.returncode == 0, result.stdout + result.stderr
    table = {
        line.split()[0]: line.split()[1:3]
        for line in result.stdout.splitlines()
        if line.split() and line.split()[0] in {"ana", "solution", "broken-unreadable"}
    }
    assert table == {"ana": ["20", "20"], "solution": ["20", "20"], "broken-unreadable": ["0", "0"]}
    for produced in (
        "state/exports/summary.png",
        "state/exports/grades.csv",
        "state/exports/task-scores.csv",
        "state/feedback/ana/freeze-it-yourself/freeze-it-yourself.html",
        "lms-download.zip",
    ):
        assert (out / produced).is_file(), produced
    assert "autograding" in result.stderr


@pytest.mark.slow
def test_the_demo_grades_the_mastery_quiz_from_its_answers_files(tmp_path):
    """Does `demo` autograde the quiz's samples, each scoring what its answers file says: 10, 7 and 3 for
    honest answers, 0 with a reason for none, a cut-off and a forged file, and 2 for the notebook that
    rewrites its answers, the checks, its own metadata and the gradebook?"""
    out = tmp_path / "demo"
    names = [sample.name for sample in samples.quiz_samples()]
    result = run("demo", "--out", str(out), "--jobs", "2", *(f"--only={name}" for name in names))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    table = {row[0]: row[1:3] for row in rows if row and row[0] in names}
    assert table == {
        "quiz-all-right": ["10", "10"],
        "quiz-seven-right": ["7", "7"],
        "quiz-three-answered": ["3", "3"],
        "quiz-nothing-answered": ["0", "0"],
        "quiz-answers-file-cut-off": ["0", "0"],
        "quiz-answers-file-forged": ["0", "0"],
        "quiz-sets-its-own-score": ["2", "2"],
    }
    assert "NOT AS EXPECTED" not in result.stdout
    assert "mastery-answers.json is not valid JSON" in result.stdout and "'score' was unexpected" in result.stdout
    page = html_text((out / "state/feedback/quiz-sets-its-own-score/mastery-quiz/mastery-quiz.html").read_text())
    assert "Grading report: 2 / 10 points" in page and "Question 3 of 10 (medium)" not in page
    assert "Question 3 of 10 (easy): requires_grad_ on a module" in page and "your recorded answer (option" in page
    assert (out / "state/exports/mastery-quiz-statistics.csv").is_file()
    assert "ProgressWarning" not in result.stderr


@pytest.mark.slow
def test_check_warns_about_a_renamed_copy_and_strict_fails_a_partial_score(tmp_path):
    """A `-Copy1` file scores 0 in a class batch: does `check` say so? And does --strict exit 1 below full marks?"""
    notebook = tmp_path / "freeze-it-yourself-Copy1.ipynb"
    shutil.copyfile(FILES / SAMPLES["partial-first-five-tasks"].filename, notebook)
    result = run("check", "--strict", str(notebook), cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "10 / 20 points" in result.stdout
    assert "freeze-it-yourself-Copy1.ipynb" in result.stdout and "gives 0" in result.stdout


@pytest.mark.slow
def test_check_reads_the_mastery_quiz_answers_beside_the_notebook(tmp_path):
    """Does `make grade-check` on the mastery quiz take mastery-answers.json along, and score what it holds?"""
    folder = tmp_path / "mastery-quiz"
    shutil.copytree(Path(__file__).resolve().parent.parent / "notebooks" / "mastery-quiz", folder)
    from freezelab.quiz import build_exam, load_quiz

    key = {question.id: question.answer for question in load_quiz("mastery").questions}
    exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json", learner="me")
    for question_id in list(key)[:4]:
        exam.answer(question_id, key[question_id])
    result = subprocess.run(
        ["make", "-s", "grade-check", f"NOTEBOOK={folder / 'mastery-quiz.ipynb'}"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mastery-quiz: 4 / 10 points" in result.stdout
    assert "Error" not in result.stderr

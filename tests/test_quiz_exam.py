"""The graded mastery quiz, end to end with the real nbgrader CLI and its SQLite gradebook.

nbgrader generates the learner's copy into a scratch release folder; fake students answer in
the exam widgets (the same objects a click drives) inside their submitted assignment folders;
``nbgrader autograde`` grades them in a scratch state folder; the scores are read back from the
gradebook with ``nbgrader.api.Gradebook``. Expected scores live beside the fixtures
(``tests/files/quiz-mastery-expected-grades.json``); ``--update-goldens`` rewrites them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from freezelab.paths import AUTOGRADER_DIR, SOLUTIONS_DIR
from freezelab.quiz import build_exam, load_bank, load_quiz
from tests.conftest import requires_sandbox

pytestmark = [pytest.mark.slow, requires_sandbox()]

FILES = Path(__file__).parent / "files"
GOLDEN = FILES / "quiz-mastery-expected-grades.json"
MASTER = SOLUTIONS_DIR / "mastery-quiz" / "mastery-quiz.ipynb"
ASSIGNMENT = "mastery-quiz"
KEY = {question.id: question.answer for question in load_quiz("mastery").questions}


def wrong_option(question_id: str) -> str:
    return next(option for option in "ABCD" if option != KEY[question_id])


# Each fake student: how they answer (question id -> option id), or a fixture file.
STUDENTS = {
    "all-right": dict(KEY),
    "seven-right": {qid: (KEY[qid] if index < 7 else wrong_option(qid)) for index, qid in enumerate(KEY)},
    "three-answered": {qid: KEY[qid] for qid in list(KEY)[:3]},
    "no-answers": None,
    "garbled-answers": FILES / "quiz-answers-garbled.json",
    # A file recorded before options were shuffled per learner (bank ids, no letters shown).
    "recorded-before-per-learner-order": FILES / "quiz-answers-recorded-before-per-learner-order.json",
}


def nbgrader(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("nbgrader")
    result = subprocess.run(
        [str(executable), *arguments], cwd=AUTOGRADER_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"nbgrader {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}"
    return result


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release the assignment, submit every fake student, autograde them all once."""
    scratch = tmp_path_factory.mktemp("mastery-grading")
    state, release = scratch / "state", scratch / "release"
    env = dict(
        os.environ,
        FREEZELAB_GRADING_DIR=str(state),
        FREEZELAB_RELEASE_DIR=str(release),
        FREEZELAB_PROGRESS_DIR=str(scratch / "progress"),
        # nbgrader runs alembic from PATH when it creates the gradebook
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    env.pop("NBGRADER_EXECUTION", None)
    state.mkdir()
    nbgrader("generate_assignment", ASSIGNMENT, "--force", env=env)
    released = release / ASSIGNMENT
    for student, answers in STUDENTS.items():
        folder = state / "submitted" / student / ASSIGNMENT
        shutil.copytree(released, folder)
        (folder / "timestamp.txt").write_text("2025-01-15 10:00:00.000000 UTC")
        if isinstance(answers, dict):
            exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json", learner=student)
            for question_id, option_id in answers.items():
                exam.answer(question_id, option_id)
        elif isinstance(answers, Path):
            shutil.copy(answers, folder / "mastery-answers.json")
    nbgrader("autograde", ASSIGNMENT, "--force", env=env)
    return {"state": state, "release": released}


def gradebook_results(state: Path) -> dict[str, dict]:
    from nbgrader.api import Gradebook

    results = {}
    with Gradebook(f"sqlite:///{state / 'gradebook.db'}") as gradebook:
        for student in STUDENTS:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            notebook = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            results[student] = {
                "score": submission.score,
                "max_score": submission.max_score,
                "wrong": sorted(grade.name for grade in notebook.grades if grade.score < grade.max_score),
            }
    return results


def test_autograded_scores_match_the_expected_grades(graded, update_goldens):
    """Do all-correct answers score 10/10, seven right 7, three answered 3, none or a garbled
    file 0 (without crashing the autograder), question by question as expected?"""
    results = gradebook_results(graded["state"])
    if update_goldens:
        GOLDEN.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert results == expected
    assert results["all-right"]["score"] == results["all-right"]["max_score"] == 10
    assert results["seven-right"]["score"] == 7
    assert results["seven-right"]["wrong"] == ["exam-q08", "exam-q09", "exam-q10"]
    assert results["three-answered"]["score"] == 3
    assert results["no-answers"]["score"] == 0 and results["garbled-answers"]["score"] == 0
    assert results["recorded-before-per-learner-order"]["score"] == 10  # answer files in the wild still grade


def test_autograding_read_the_answers_file_without_changing_it(graded):
    """Is each student's answers file in the autograded copy byte-identical to the submission
    (the widget ran read-only under nbgrader)?"""
    for student in ("seven-right", "garbled-answers"):
        submitted = graded["state"] / "submitted" / student / ASSIGNMENT / "mastery-answers.json"
        autograded = graded["state"] / "autograded" / student / ASSIGNMENT / "mastery-answers.json"
        assert autograded.read_bytes() == submitted.read_bytes()


def key_leaks(text: str) -> list[str]:
    """Every trace of the answer key in ``text``: hidden-test code, a question id compared with
    its keyed letter, the key's JSON field, or any explanation, hint, quick check or solution."""
    leaks = [marker for marker in ("BEGIN HIDDEN TESTS", "autograding():", "recorded ==", '"answer"') if marker in text]
    for question_id, answer in KEY.items():
        if re.search(rf'{re.escape(question_id)}[^\n]{{0,200}}\n[^\n]*==\s*\\?"{answer}', text):
            leaks.append(f"{question_id} compared with {answer}")
    for question in load_bank().values():
        secrets = [question.hint, question.quick_check, question.more_precisely]
        secrets += [step.text for step in question.solution]
        secrets += [option.explanation for option in question.options]
        leaks += [
            f"{question.id}: {secret[:40]!r}"
            for secret in filter(None, secrets)
            if " ".join(secret.split())[:50] in " ".join(text.split())
        ]
    return leaks


def test_the_release_holds_no_trace_of_the_key(graded):
    """Grepping every released file: is there no hidden test, no keyed comparison, no answer
    field and no explanation anywhere in what learners receive?"""
    released_files = sorted(p for p in graded["release"].rglob("*") if p.is_file())
    assert {p.name for p in released_files} == {"mastery-quiz.ipynb", "mastery-questions.json"}
    for path in released_files:
        assert key_leaks(path.read_text(encoding="utf-8")) == [], path.name


def test_the_leak_detector_finds_the_key_in_the_master():
    """Would the grep catch a key? (It must flag every question in the instructor's master.)"""
    leaks = key_leaks(MASTER.read_text(encoding="utf-8"))
    assert "BEGIN HIDDEN TESTS" in leaks
    for question_id, answer in KEY.items():
        assert f"{question_id} compared with {answer}" in leaks


def test_the_released_notebook_runs_and_only_reports_recorded_answers(graded, tmp_path):
    """Does the learner's copy run top to bottom with no answers, saying what is unanswered?"""
    from nbclient import NotebookClient

    folder = tmp_path / ASSIGNMENT
    shutil.copytree(graded["release"], folder)
    notebook = nbformat.read(folder / "mastery-quiz.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "0 of 10 questions have a recorded answer." in printed
    assert "Question 10: no answer recorded yet" in printed
    echoed = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "execute_result"]
    assert echoed == [], "a check cell echoes a value (True/False) after its message"
    assert not (folder / "mastery-answers.json").exists()  # running it writes nothing


def test_nbgrader_validate_lists_exactly_the_unanswered_questions(graded, tmp_path):
    """Does the Validate button (nbgrader validate) fail on each unanswered question only, and
    pass once all ten are answered, without ever revealing whether an answer is right?"""
    partial, complete = tmp_path / "partial", tmp_path / "complete"
    for folder, answered in ((partial, dict(list(KEY.items())[:2])), (complete, STUDENTS["seven-right"])):
        shutil.copytree(graded["release"], folder)
        exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json")
        for question_id, option_id in answered.items():
            exam.answer(question_id, option_id)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    results = {}
    for name, folder in (("partial", partial), ("complete", complete)):
        run = subprocess.run(
            [str(Path(sys.executable).with_name("nbgrader")), "validate", "mastery-quiz.ipynb"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        results[name] = run.stdout + run.stderr
    assert "VALIDATION FAILED ON 8 CELL(S)" in results["partial"]
    assert "Question 1: no answer" not in results["partial"]
    assert "Question 3: no answer recorded yet" in results["partial"]
    # The learner sees their own check cell, not the course's internals.
    for internal in ("answers.py", "NBGRADER_EXECUTION", "_validating", "site-packages"):
        assert internal not in results["partial"], internal
    assert "Success! Your notebook passes all the tests." in results["complete"]  # 3 are wrong

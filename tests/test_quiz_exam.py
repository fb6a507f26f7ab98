"""The graded mastery quiz, end to end with the real nbgrader CLI and its SQLite gradebook.

nbgrader generates the learner's copy into a scratch release folder; fake students answer in
the exam widgets (the same objects a click drives) inside their submitted assignment folders;
``nbgrader autograde`` grades them in a scratch state folder; the scores are read back from the
gradebook with ``nbgrader.api.Gradebook``. Expected scores live beside the fixtures
(``tests/files/quiz-mastery-expected-grades.json``); ``--update-goldens`` rewrites them, and the
assertions beside them say what each student must score, which no flag rewrites.

The marks are decided outside the sandbox, from the submitted answers file and the bank's key
(:mod:`freezelab.quiz.marking`). A forger's cell that tries every way to raise its score from inside the
kernel scores what its file says; under stock nbgrader with the old master (the key compared in the
kernel, ``tests/files/stock-control/mastery-quiz/``) the same notebook scored 10/10: the hole was real.
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


TWO_RIGHT = {qid: (KEY[qid] if index < 2 else wrong_option(qid)) for index, qid in enumerate(KEY)}

# Each fake student: how they answer (question id -> option id), or a fixture file.
STUDENTS = {
    "all-right": dict(KEY),
    "seven-right": {qid: (KEY[qid] if index < 7 else wrong_option(qid)) for index, qid in enumerate(KEY)},
    "three-answered": {qid: KEY[qid] for qid in list(KEY)[:3]},
    "no-answers": None,
    "garbled-answers": FILES / "quiz-answers-garbled.json",
    # A file recorded before options were shuffled per learner (bank ids, no letters shown).
    "recorded-before-per-learner-order": FILES / "quiz-answers-recorded-before-per-learner-order.json",
    # Two right answers recorded, then a cell of their own that tries every way to raise the score from
    # inside the kernel (FORGER below): it must still score 2.
    "forges-in-the-kernel": TWO_RIGHT,
    # The answers file is a link to the all-right learner's file: refused, not followed.
    "answers-file-a-link": "all-right",
}

# What a learner's own cell, placed before the check cells, would try in order to score what it did not answer.
FORGER = """
import builtins, json, os, sys
import freezelab.quiz as quiz
from freezelab.paths import QUIZZES_DIR
saw = {"bank_files": sorted(os.listdir(QUIZZES_DIR)) if QUIZZES_DIR.is_dir() else None}
try:
    quiz.load_quiz("mastery")
    saw["key_loaded"] = True
except Exception as error:
    saw["key_loaded"] = type(error).__name__
print("FORGER-SAW " + json.dumps(saw))
# Every question answered 'A' in the file the kernel can see, and every check made to pass.
guess = {"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {}}
for name in json.load(open("mastery-questions.json"))["questions"]:
    guess["answers"][name["id"]] = "A"
open("mastery-answers.json", "w").write(json.dumps(guess))
quiz.autograding = autograding = lambda: False
read_recorded_answers = lambda *args, **kwargs: {key: "A" for key in guess["answers"]}
report_recorded_answer = lambda *args, **kwargs: print("right!")
sys.excepthook = lambda *args: None
"""


STOCK_CONTROL = FILES / "stock-control"
"""The master as it was, with the key in hidden tests that compare in the kernel: the control."""


def nbgrader(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("nbgrader")
    result = subprocess.run(
        [str(executable), *arguments], cwd=AUTOGRADER_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"nbgrader {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}"
    return result


def grading_environment(scratch: Path, stock: bool = False) -> dict[str, str]:
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
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    env.pop("FREEZELAB_SOURCE_DIR", None)
    if stock:  # nbgrader as it ships, on the old master: unsandboxed, so only inside this scratch folder
        env.update(FREEZELAB_STOCK_NBGRADER="1", FREEZELAB_SOURCE_DIR=str(STOCK_CONTROL))
    state.mkdir()
    return env


def submit(folder: Path, released: Path, student: str, answers: object) -> None:
    """What ``student`` hands in: the released folder, their answers, and for the forger a cell of its own."""
    shutil.copytree(released, folder)
    (folder / "timestamp.txt").write_text("2025-01-15 10:00:00.000000 UTC")
    if isinstance(answers, dict):
        exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json", learner=student)
        for question_id, option_id in answers.items():
            exam.answer(question_id, option_id)
    elif isinstance(answers, Path):
        shutil.copy(answers, folder / "mastery-answers.json")
    elif isinstance(answers, str):
        target = folder.parent.parent / answers / ASSIGNMENT / "mastery-answers.json"
        os.symlink(target, folder / "mastery-answers.json")
    if student == "forges-in-the-kernel":
        notebook = nbformat.read(folder / "mastery-quiz.ipynb", as_version=4)
        read = next(i for i, cell in enumerate(notebook.cells) if "read_recorded_answers(" in cell.source)
        notebook.cells.insert(read + 1, nbformat.v4.new_code_cell(FORGER))
        nbformat.write(notebook, folder / "mastery-quiz.ipynb")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release the assignment, submit every fake student, autograde them all once."""
    scratch = tmp_path_factory.mktemp("mastery-grading")
    env = grading_environment(scratch)
    state, release = scratch / "state", scratch / "release"
    nbgrader("generate_assignment", ASSIGNMENT, "--force", env=env)
    released = release / ASSIGNMENT
    for student, answers in STUDENTS.items():
        submit(state / "submitted" / student / ASSIGNMENT, released, student, answers)
    nbgrader("autograde", ASSIGNMENT, "--force", env=env)
    return {"state": state, "release": released}


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    """The forger and an honest learner with the same answers, under stock nbgrader and the old master."""
    scratch = tmp_path_factory.mktemp("mastery-stock")
    env = grading_environment(scratch, stock=True)
    state, release = scratch / "state", scratch / "release"
    nbgrader("generate_assignment", ASSIGNMENT, "--force", env=env)
    for student in ("forges-in-the-kernel", "two-right"):
        submit(state / "submitted" / student / ASSIGNMENT, release / ASSIGNMENT, student, TWO_RIGHT)
    nbgrader("autograde", ASSIGNMENT, "--force", env=env)
    return state


def test_with_the_key_in_the_kernel_the_forger_scored_full_marks(stock, graded):
    """Is the hole real: with the key compared in the kernel (stock nbgrader, the old master), does the
    forger's cell turn two right answers into 10/10, where the honest learner gets 2, and here 2?"""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{stock / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission(ASSIGNMENT, s).score for s in ("forges-in-the-kernel", "two-right")}
    assert scores == {"forges-in-the-kernel": 10.0, "two-right": 2.0}
    assert gradebook_results(graded["state"])["forges-in-the-kernel"]["score"] == 2.0


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
    assert results["forges-in-the-kernel"]["score"] == 2, "what the kernel did must not change a mark"
    assert results["answers-file-a-link"]["score"] == 0


def autograded(graded, student: str) -> nbformat.NotebookNode:
    return nbformat.read(graded["state"] / "autograded" / student / ASSIGNMENT / "mastery-quiz.ipynb", as_version=4)


def test_the_kernel_never_sees_the_key_and_its_forgeries_change_nothing(graded):
    """Inside the sandbox, is the question bank absent and the key unloadable? Did the forger's cell run
    (so it really tried), and do the check cells' feedback name the questions it did not answer right?"""
    notebook = autograded(graded, "forges-in-the-kernel")
    printed = "".join(o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", []))
    saw = json.loads(printed.split("FORGER-SAW ", 1)[1].splitlines()[0])
    assert saw == {"bank_files": ["schema"], "key_loaded": "FileNotFoundError"}
    assert "right!" in printed, "the forger's replacement of the check ran in the kernel"
    # Everything the kernel was sent: no key in any cell source.
    assert key_leaks("\n".join(cell.source for cell in notebook.cells)) == []
    reasons = [o.evalue for cell in notebook.cells for o in cell.get("outputs", []) if o.get("ename") == "NoPoint"]
    assert len(reasons) == 8 and reasons[0].startswith("Question 3: your recorded answer (option ")
    submitted = graded["state"] / "submitted" / "forges-in-the-kernel" / ASSIGNMENT / "mastery-answers.json"
    assert json.loads(submitted.read_text())["answers"] == TWO_RIGHT, "the submitted file is only read"


def test_an_unusable_answers_file_is_named_in_the_notes_of_the_notebook(graded):
    """Do a missing, a garbled and a linked answers file each get one line saying why every question scored 0?"""
    expected = {
        "no-answers": "There is no mastery-answers.json in the submission",
        "garbled-answers": "mastery-answers.json is not text",
        "answers-file-a-link": "mastery-answers.json is a link",
    }
    for student, start in expected.items():
        problems = autograded(graded, student).metadata["freezelab_grading"]["problems"]
        assert [p["kind"] for p in problems] == ["answers"], student
        assert problems[0]["message"].startswith(start) and "every question scores 0" in problems[0]["message"]


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


def test_the_leak_detector_finds_a_key_written_as_hidden_tests_used_to_hold_it():
    """Would the grep catch a key? (It must flag every question of a master that compares in the kernel,
    as this one did until the marks moved out of the sandbox.)"""
    old_style = "".join(
        f'report_recorded_answer(answers, "{question_id}", 1)\n### BEGIN HIDDEN TESTS\nif autograding():\n'
        f'    recorded = read_recorded_answers("mastery-answers.json").get("{question_id}")\n'
        f'    assert recorded == "{answer}", "not the right one"\n### END HIDDEN TESTS\n'
        for question_id, answer in KEY.items()
    )
    leaks = key_leaks(old_style)
    assert "BEGIN HIDDEN TESTS" in leaks
    for question_id, answer in KEY.items():
        assert f"{question_id} compared with {answer}" in leaks
    assert key_leaks(MASTER.read_text(encoding="utf-8")) == [], "the master itself holds no key now"


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

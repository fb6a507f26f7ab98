"""Marking the graded quiz outside the kernel, from the submitted answers file (freezelab.quiz.marking)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from freezelab.paths import SOLUTIONS_DIR
from freezelab.quiz import build_exam, load_quiz
from freezelab.quiz.marking import (
    MAX_ANSWERS_BYTES,
    graded_quizzes,
    mark_answers,
    questions_of_cells,
    read_submitted_answers,
)

FILES = Path(__file__).parent / "files"
QUIZ = load_quiz("mastery")
KEY = {question.id: question.answer for question in QUIZ.questions}
QUESTIONS_FILE = SOLUTIONS_DIR / "mastery-quiz" / "mastery-questions.json"


def wrong_option(question_id: str) -> str:
    return next(option for option in "ABCD" if option != KEY[question_id])


def recorded(tmp_path: Path, answers: dict[str, str], learner: str = "kim") -> Path:
    """An answers file written by the exam widget itself, as a learner's clicks write it."""
    path = tmp_path / "mastery-answers.json"
    exam = build_exam(QUESTIONS_FILE, path, learner=learner)
    for question_id, option_id in answers.items():
        exam.answer(question_id, option_id)
    return path


def score(path: Path | None) -> tuple[int, list[str]]:
    submitted = read_submitted_answers(path, QUIZ, "mastery-answers.json")
    marks = mark_answers(QUIZ, submitted)
    return sum(mark.right for mark in marks.values()), [m.reason for m in marks.values() if m.reason]


def test_the_mastery_quiz_is_graded_by_its_assignment_from_its_answers_file():
    """Does quizzes.yaml's graded_as name the assignment, and the file the notebook records into?"""
    graded = graded_quizzes()
    assert set(graded) == {"mastery-quiz"}
    assert graded["mastery-quiz"].quiz_id == "mastery"
    assert graded["mastery-quiz"].answers_file == "mastery-answers.json"
    master = (SOLUTIONS_DIR / "mastery-quiz" / "mastery-quiz.ipynb").read_text()
    assert 'answers_file=\\"mastery-answers.json\\"' in master, "the notebook records where the grader reads"


def test_answers_recorded_by_the_widget_are_marked_against_the_key(tmp_path):
    """Do seven right and three wrong answers, clicked in a learner's own option order, score 7?"""
    answers = {qid: (KEY[qid] if index < 7 else wrong_option(qid)) for index, qid in enumerate(KEY)}
    got, reasons = score(recorded(tmp_path, answers))
    assert got == 7
    assert len(reasons) == 3 and all("is not the right one" in reason for reason in reasons)
    assert reasons[0].startswith("Question 8: your recorded answer (option ")


def test_the_letter_in_a_wrong_answers_message_is_the_one_the_learner_saw(tmp_path):
    """With options in a per-learner order, does the message name the letter on the learner's screen?"""
    question = QUIZ.questions[0]
    path = recorded(tmp_path, {question.id: wrong_option(question.id)}, learner="someone")
    shown = json.loads(path.read_text())["shown"][question.id]
    _, reasons = score(path)
    assert reasons[0] == f"Question 1: your recorded answer (option {shown}) is not the right one."


def test_a_file_recorded_before_the_per_learner_order_still_scores_full_marks():
    """Does an answers file without shown letters (bank ids only) still score 10/10?"""
    assert score(FILES / "quiz-answers-recorded-before-per-learner-order.json") == (10, [])


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "There is no mastery-answers.json in the submission"),
        (FILES / "quiz-answers-garbled.json", "is not text"),
        (b'{"format": "freezelab-answers", "answers": {"what-freezing-does": "C"', "is not valid JSON"),
        (b"[1, 2, 3]", "is not a file of recorded quiz answers"),
        (b'{"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {}, "score": 10}', "form"),
        (b'{"format": "freezelab-answers", "version": 1, "quiz": "practice", "answers": {}}', "'practice'"),
        (b'{"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": {"q": ["A", "B"]}}', "form"),
        (b" " * (MAX_ANSWERS_BYTES + 1), "larger than"),
    ],
    ids=["missing", "garbled", "cut-off", "not-an-object", "claims-a-score", "other-quiz", "list", "huge"],
)
def test_a_missing_damaged_or_forged_file_scores_zero_with_a_reason(tmp_path, content, why):
    """Does every unusable answers file count as no answers, say why in one sentence, and never raise?"""
    path = tmp_path / "mastery-answers.json"
    if isinstance(content, Path):
        path.write_bytes(content.read_bytes())
    elif content is not None:
        path.write_bytes(content)
    submitted = read_submitted_answers(path, QUIZ, "mastery-answers.json")
    assert submitted.answers == {} and why in submitted.problem
    assert "every question scores 0" in submitted.problem
    got, reasons = score(path)
    assert got == 0 and len(reasons) == 10 and all("not marked" in reason for reason in reasons)


def test_a_link_is_not_followed(tmp_path):
    """Is an answers file that is a link (to another learner's file, say) refused rather than read?"""
    (tmp_path / "other").mkdir()
    other = recorded(tmp_path / "other", dict(KEY))
    link = tmp_path / "mine" / "mastery-answers.json"
    link.parent.mkdir()
    os.symlink(other, link)
    submitted = read_submitted_answers(link, QUIZ)
    assert submitted.answers == {} and "is a link" in submitted.problem
    fifo = tmp_path / "fifo" / "mastery-answers.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    assert "not a plain file" in read_submitted_answers(fifo, QUIZ).problem  # and it did not block


def test_an_option_that_does_not_exist_and_unknown_questions_are_marked_wrong_or_ignored(tmp_path):
    """Is an answer 'F' to a four-option question wrong, and an answer to a question not asked ignored?"""
    path = tmp_path / "mastery-answers.json"
    answers = dict(KEY, **{QUIZ.questions[0].id: "F", "a-question-not-asked": "A"})
    path.write_text(json.dumps({"format": "freezelab-answers", "version": 1, "quiz": "mastery", "answers": answers}))
    got, reasons = score(path)
    assert got == 9 and reasons == ["Question 1: the recorded answer (F) is not one of the question's options."]


def test_each_test_cell_marks_the_one_question_its_source_names():
    """Is each of the master's ten test cells tied to its own question, and a cell naming none (or two) to none?"""
    import nbformat

    master = nbformat.read(SOLUTIONS_DIR / "mastery-quiz" / "mastery-quiz.ipynb", as_version=4)
    sources = {
        cell.metadata["nbgrader"]["grade_id"]: cell.source
        for cell in master.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
    }
    mapping = questions_of_cells(sources, QUIZ)
    assert list(mapping.values()) == list(KEY)
    assert list(mapping) == [f"exam-q{number:02d}" for number in range(1, 11)]
    two = f'print("{QUIZ.questions[0].id}", "{QUIZ.questions[1].id}")'
    assert questions_of_cells({"a": "print('nothing')", "b": two}, QUIZ) == {}


def test_the_master_holds_no_key_so_none_reaches_the_kernel():
    """Does the master (whose test cells nbgrader sends to the learner's kernel) compare with no answer at all?"""
    master = (SOLUTIONS_DIR / "mastery-quiz" / "mastery-quiz.ipynb").read_text()
    assert "BEGIN HIDDEN TESTS" not in master and "==" not in master
    assert "load_quiz" not in master and "questions.yaml" not in master

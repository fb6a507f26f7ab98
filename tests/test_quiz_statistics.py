"""Quiz statistics on a class whose figures are known by construction.

Nine learners take the ten-question mastery quiz. Learner k answers the first ``TOTALS[k]``
questions right and every later one with the question's first wrong option (in the bank's
order); the last learner answers nothing. So, for question j (from 0), the learners right are those
with ``TOTALS[k] > j``; the upper third is learners 0-2, the lower third learners 6-8.
"""

from __future__ import annotations

import csv
import json

import pytest

from freezelab.quiz import load_quiz
from freezelab.quiz.sample_class import POPULAR, draw_class, popular_distractor, write_answer_files
from freezelab.quiz.statistics import (
    first_sentence,
    question_statistics,
    read_class_answers,
    thirds,
    write_report,
)

QUIZ = load_quiz("mastery")
TOTALS = [10, 9, 8, 6, 5, 4, 2, 1, 0]


def first_wrong(question) -> str:
    return next(option.id for option in question.options if option.id != question.answer)


def constructed_class() -> dict[str, dict[str, str]]:
    answers = {}
    for k, total in enumerate(TOTALS):
        learner = f"k{k}"
        if k == 8:
            answers[learner] = {}
            continue
        answers[learner] = {
            q.id: (q.answer if j < total else first_wrong(q)) for j, q in enumerate(QUIZ.questions)
        }
    return answers


@pytest.fixture(scope="module")
def rows():
    return question_statistics(constructed_class(), QUIZ)


def test_thirds_are_taken_by_total_score():
    """Are the upper and lower thirds the three best and the three weakest by total score?"""
    upper, lower = thirds(constructed_class(), QUIZ)
    assert upper == ["k0", "k1", "k2"] and lower == ["k6", "k7", "k8"]


@pytest.mark.parametrize(
    ("index", "facility", "discrimination", "wrong"),
    [
        (0, 8 / 9, 1 - 2 / 3, 0),  # right: k0-k7; lower third: k6, k7 right, k8 blank
        (5, 4 / 9, 1.0, 4),  # right: k0-k3; k4-k7 chose the first wrong option
        (9, 1 / 9, 1 / 3, 7),  # right: k0 only
    ],
)
def test_facility_discrimination_and_distractors_match_the_construction(rows, index, facility, discrimination, wrong):
    """Are answered, facility, discrimination and the distractor counts those the class was built to give?"""
    row = rows[index]
    question = QUIZ.questions[index]
    assert row.number == index + 1 and row.question_id == question.id
    assert row.learners == 9 and row.answered == 8
    assert row.facility == pytest.approx(facility)
    assert row.discrimination == pytest.approx(discrimination)
    counts = {option.option_id: option.chosen for option in row.options}
    assert counts[question.answer] == round(facility * 9)
    assert counts[first_wrong(question)] == wrong
    assert sum(counts.values()) == 8  # the blank learner chose nothing
    top = row.distractors[0]
    assert top.option_id == first_wrong(question) and top.share == pytest.approx(wrong / 9)
    assert top.misconception == first_sentence(question.option(top.option_id).explanation)
    assert top.misconception and top.misconception in question.option(top.option_id).explanation


def test_a_question_everyone_gets_right_does_not_discriminate():
    """Does a question that all learners answer right have facility 1 and discrimination 0?"""
    everyone = {f"l{i}": {q.id: q.answer for q in QUIZ.questions} for i in range(6)}
    row = question_statistics(everyone, QUIZ)[0]
    assert row.facility == 1 and row.discrimination == 0 and all(o.chosen == 0 for o in row.distractors)


def test_fewer_than_three_learners_have_no_discrimination():
    rows = question_statistics({"a": {}, "b": {}}, QUIZ)
    assert rows[0].discrimination is None and rows[0].facility == 0 and rows[0].answered == 0


def test_the_report_writes_a_csv_and_a_figure(tmp_path, rows):
    """Do the CSV's lines carry the same figures, one per question and option, and is the figure a PNG?"""
    report = write_report(constructed_class(), QUIZ, tmp_path)
    with open(report.csv, encoding="utf-8") as stream:
        lines = list(csv.DictReader(stream))
    assert len(lines) == sum(len(q.options) for q in QUIZ.questions)
    sixth = [line for line in lines if line["number"] == "6"]
    assert {line["facility"] for line in sixth} == {f"{4 / 9:.3f}"}
    assert {line["discrimination"] for line in sixth} == {"1.000"}
    wrong = next(line for line in sixth if line["option"] == first_wrong(QUIZ.questions[5]))
    assert wrong["chosen"] == "4" and wrong["correct"] == "no" and wrong["misconception"]
    assert report.picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and report.picture.stat().st_size > 20_000
    assert "Q6" in report.text and "facility  44%" in report.text


def test_class_answers_are_read_from_the_submitted_folders(tmp_path):
    """Are the recorded answers files read per learner, a missing file as no answers?"""
    answers = constructed_class()
    write_answer_files(answers, tmp_path)
    (tmp_path / "late" / "mastery-quiz").mkdir(parents=True)
    read = read_class_answers(tmp_path)
    assert read == {**answers, "late": {}}
    assert json.loads((tmp_path / "k0" / "mastery-quiz" / "mastery-answers.json").read_text())["quiz"] == "mastery"


def test_the_sample_class_makes_its_distractors_popular():
    """In the demo's sample class, is each popular distractor the most chosen wrong option of its
    question, chosen by a good share of the class?"""
    answers = draw_class(QUIZ)
    rows = {row.question_id: row for row in question_statistics(answers, QUIZ)}
    assert draw_class(QUIZ) == answers  # the same class every time
    for question_id in POPULAR:
        top = rows[question_id].distractors[0]
        assert top.option_id == popular_distractor(QUIZ, question_id)
        assert top.share >= 0.2, (question_id, top.share)
    discriminations = [row.discrimination for row in rows.values()]
    assert all(d is not None and d > 0 for d in discriminations)


def test_the_class_summary_step_writes_a_report_per_graded_quiz(tmp_path):
    """Given submitted folders, does the summary's call write the mastery quiz's CSV and figure,
    and nothing when no learner submitted the quiz?"""
    from freezelab.quiz.statistics import class_reports

    assert class_reports(tmp_path / "submitted", tmp_path / "exports") == []
    write_answer_files(constructed_class(), tmp_path / "submitted")
    (report,) = class_reports(tmp_path / "submitted", tmp_path / "exports")
    assert report.csv == tmp_path / "exports" / "mastery-quiz-statistics.csv" and report.picture.is_file()
    assert report.rows == question_statistics(constructed_class(), QUIZ)

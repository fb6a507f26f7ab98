"""The question bank: valid data, the lesson's five questions exactly, five more, a keyless copy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from freezelab.quiz.__main__ import KEYLESS_TARGETS, bank_files, keyless_text, validate_all
from freezelab.quiz.bank import (
    KEYLESS_OPTION_FIELDS,
    KEYLESS_QUESTION_FIELDS,
    QUESTIONS_FILE,
    BankError,
    keyless_document,
    load_bank,
    load_keyless,
    load_quiz,
    read_document,
    validate_document,
)

FILES = Path(__file__).parent / "files"
LESSON = FILES / "quiz-source-lesson.txt"


# ---------------------------------------------------------------------------- the source lesson


def lesson_practice_questions(text: str) -> list[dict]:
    """The practice questions of the source lesson: stem lines, difficulty, options A-D, the
    final answer letter, hint and quick check, parsed from the lesson's plain text."""
    practice = text.split("\nPractice\n", 1)[1]
    blocks = re.split(r"\n(?=\d\. )", practice)[1:]
    questions = []
    for block in blocks:
        lines = block.split("\n")
        level = next(i for i, line in enumerate(lines) if line in {"easy", "medium", "hard"})
        stem_lines = [lines[0].split(". ", 1)[1]] + lines[1:level]
        options = {}
        for line in lines[level + 1 : level + 5]:
            letter, text_ = line.split(". ", 1)
            options[letter] = text_
        final = re.search(r"-> Option ([A-D])", block)
        hint = re.search(r"^Hint: (.*?) \[OK\]$", block, flags=re.M)
        quick = re.search(r"Quick Check:\n\n\s*(.*?) \[OK\]", block)
        questions.append(
            {
                "number": int(lines[0].split(".", 1)[0]),
                "stem_lines": [line.rstrip() for line in stem_lines if line.strip()],
                "difficulty": lines[level],
                "options": options,
                "answer": final.group(1),
                "hint": hint.group(1),
                "quick_check": quick.group(1),
            }
        )
    return questions


def bank_stem_lines(question) -> list[str]:
    text = "\n".join(part for part in (question.stem, question.code, question.ask) if part)
    return [line.rstrip() for line in text.split("\n") if line.strip()]


LESSON_QUESTIONS = lesson_practice_questions(LESSON.read_text(encoding="utf-8"))


def test_the_lesson_fixture_parses_into_five_practice_questions():
    """Does the copy of the source lesson yield five questions keyed C, B, A, D, A?"""
    assert [q["answer"] for q in LESSON_QUESTIONS] == ["C", "B", "A", "D", "A"]
    assert [q["difficulty"] for q in LESSON_QUESTIONS] == ["easy", "easy", "medium", "medium", "hard"]


@pytest.mark.parametrize("lesson", LESSON_QUESTIONS, ids=lambda q: f"lesson-q{q['number']}")
def test_seed_question_matches_the_lesson_exactly(lesson):
    """Are the stem, the code, the options A-D, the key and the difficulty exactly the lesson's?"""
    practice = load_quiz("practice")
    question = practice.questions[lesson["number"] - 1]
    assert question.origin == {"source": "lesson", "number": lesson["number"]}
    assert bank_stem_lines(question) == lesson["stem_lines"]
    assert {option.id: option.text for option in question.options} == lesson["options"]
    assert question.answer == lesson["answer"]
    assert question.difficulty == lesson["difficulty"]
    assert question.hint.rstrip(".") == lesson["hint"].rstrip(".")
    assert question.quick_check.rstrip(".") == lesson["quick_check"].rstrip(".")


def test_practice_quiz_is_the_lessons_five_in_order_without_shuffling():
    """Does show_quiz("practice") ask the lesson's five questions, in its order and letters?"""
    practice = load_quiz("practice")
    assert [q.origin["number"] for q in practice.questions] == [1, 2, 3, 4, 5]
    assert practice.shuffle_options is False


# ---------------------------------------------------------------------------- the whole bank


def test_every_bank_file_validates():
    """Does every data file in quizzes/ pass its JSON Schema and the bank's own rules?"""
    assert {path.name for path in bank_files()} >= {"questions.yaml", "quizzes.yaml"}
    assert validate_all() == []


def test_every_schema_is_itself_a_valid_json_schema():
    """Are the schemas in quizzes/schema well-formed Draft 2020-12 schemas?"""
    import jsonschema

    for path in sorted((QUESTIONS_FILE.parent / "schema").glob("*.json")):
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_every_question_has_one_key_and_an_explanation_for_every_option():
    """Does each question have exactly one correct option and a distinct explanation and runnable
    evidence for every option, right or wrong?"""
    for question in load_bank().values():
        correct = [option for option in question.options if option.id == question.answer]
        assert len(correct) == 1, question.id
        for option in question.options:
            assert option.explanation and len(option.explanation) > 40, (question.id, option.id)
            assert option.explanation.strip() != option.text.strip()
            # Evidence that asserts nothing could never fail.
            assert re.search(r"\bassert\b|raise AssertionError", option.evidence or ""), (question.id, option.id)
        explanations = [option.explanation for option in question.options]
        assert len(set(explanations)) == len(explanations), question.id
        assert question.hint and question.quick_check and question.solution


def test_mastery_test_has_ten_questions_across_the_three_levels():
    """Is the mastery test the lesson's five plus five more, spread over easy, medium and hard?"""
    mastery = load_quiz("mastery")
    assert len(mastery) == 10
    sources = [q.origin["source"] for q in mastery.questions]
    assert sources.count("lesson") == 5 and sources.count("freezelab") == 5
    levels = [q.difficulty for q in mastery.questions]
    assert {level: levels.count(level) for level in set(levels)} == {"easy": 3, "medium": 4, "hard": 3}
    order = {"easy": 0, "medium": 1, "hard": 2}
    assert levels == sorted(levels, key=order.get), "the test should run from easy to hard"


def test_explanations_say_where_pytorch_is_more_precise_than_the_lesson():
    """Do the explanations tell the learner that param.grad = False raises TypeError and that
    model.requires_grad_(False) exists, unlike model.requires_grad = False?"""
    bank = load_bank()
    grad_switch = bank["grad-is-not-a-switch"]
    assert "TypeError" in grad_switch.option("B").explanation
    assert "TypeError" in grad_switch.more_precisely
    for question_id, option_id in [("freeze-all-parameters", "C"), ("freeze-two-of-three", "C")]:
        explanation = bank[question_id].option(option_id).explanation
        assert "requires_grad_(False)" in explanation and "more precisely" in explanation


# ---------------------------------------------------------------------------- broken banks fail


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("quiz-bank-answer-not-an-option.yaml", "the answer 'E' is not one of ['A', 'B']"),
        ("quiz-bank-missing-explanation.yaml", "'explanation' is a required property"),
        ("quiz-bank-missing-explanation.yaml", "'evidence' is a required property"),
        ("quiz-bank-duplicate-ids.yaml", "the id is used twice"),
        ("quiz-bank-duplicate-ids.yaml", "option ids must run A, B, C"),
    ],
)
def test_a_broken_bank_is_refused_with_every_problem_named(fixture, expected):
    """Does validation refuse a bank with a bad key, a missing explanation or duplicate ids,
    and say exactly what is wrong?"""
    with pytest.raises(BankError) as caught:
        load_bank(FILES / fixture)
    assert expected in str(caught.value)


def test_a_document_without_a_format_is_refused():
    """Does a file that does not say what it is get refused instead of half-loaded?"""
    with pytest.raises(BankError, match="'format' key"):
        validate_document({"questions": []}, "inline")


# ---------------------------------------------------------------------------- the keyless copy


def test_released_questions_file_is_not_stale():
    """Is solutions/mastery-quiz/mastery-questions.json exactly what the bank generates now?"""
    for quiz, target in KEYLESS_TARGETS.items():
        assert target.read_text(encoding="utf-8") == keyless_text(quiz), (
            f"{target} is stale: run `python -m freezelab.quiz keyless {quiz}`"
        )


def test_released_questions_file_reveals_nothing_of_the_key():
    """Does the keyless file carry stems and options only: no answer, explanation, hint,
    solution, quick check or evidence, and no field beyond the released ones?"""
    path = KEYLESS_TARGETS["mastery"]
    document = read_document(path)
    validate_document(document, str(path), "freezelab-keyless-questions")
    text = path.read_text(encoding="utf-8")
    bank = load_bank()
    for question in document["questions"]:
        assert set(question) <= set(KEYLESS_QUESTION_FIELDS) | {"options"}
        for option in question["options"]:
            assert set(option) <= set(KEYLESS_OPTION_FIELDS)
    for question in bank.values():
        secrets = [question.hint, question.quick_check, question.more_precisely]
        secrets += [step.text for step in question.solution]
        secrets += [option.explanation for option in question.options]
        for secret in filter(None, secrets):
            assert secret.strip()[:60] not in text
    for word in ('"answer"', '"explanation"', '"hint"', '"solution"', '"evidence"', '"verify"'):
        assert word not in text


def test_keyless_quiz_loads_back_with_the_same_questions_and_no_key():
    """Does the released file load as a quiz with the bank's stems and options, but no key?"""
    released = load_keyless(KEYLESS_TARGETS["mastery"])
    mastery = load_quiz("mastery")
    assert [q.id for q in released.questions] == [q.id for q in mastery.questions]
    for mine, theirs in zip(released.questions, mastery.questions, strict=True):
        assert mine.answer is None and not mine.keyed
        assert mine.fingerprint == theirs.fingerprint
        assert all(option.explanation is None for option in mine.options)


def test_keyless_document_of_a_keyed_quiz_drops_the_key():
    """Is the key gone from the generated document itself, not just from the file on disk?"""
    document = keyless_document(load_quiz("practice"))
    assert "answer" not in json.dumps(document)

"""The quiz logic without widgets: select, check, hint, solution, run, score, shuffle, restore."""

from __future__ import annotations

import pytest

from freezelab.quiz.bank import OPTION_IDS, load_keyless, load_quiz
from freezelab.quiz.session import ExamSession, PracticeSession, option_order

QID = "count-trainable-tensors"


@pytest.fixture
def session() -> PracticeSession:
    return PracticeSession(load_quiz("practice"), seed=11)


def test_checking_without_a_choice_asks_for_one(session):
    """Does Check with nothing selected ask for a choice and record no attempt?"""
    assert session.check(QID).status == "no-selection"
    assert session.state(QID).attempts == []


def test_a_wrong_answer_explains_that_option_and_allows_another_try(session):
    """Does a wrong check return that option's own explanation, and a later right one count?"""
    session.select(QID, "B")
    wrong = session.check(QID)
    assert wrong.status == "incorrect" and wrong.option.id == "B" and wrong.label == "B"
    assert "number of parameter tensors in the whole model" in wrong.option.explanation
    session.select(QID, "A")
    right = session.check(QID)
    assert right.correct
    assert session.state(QID).attempts == ["B", "A"]
    assert session.score().correct == 1 and session.score().first_try == 0


def test_score_counts_latest_checks_and_honest_first_tries(session):
    """Does the score count questions whose latest check is right, first tries apart, and not
    count a first try made after seeing the hint?"""
    session.select("what-freezing-does", "C")
    session.check("what-freezing-does")  # right, first try
    session.show_hint("freeze-all-parameters")
    session.select("freeze-all-parameters", "B")
    session.check("freeze-all-parameters")  # right, but after the hint
    session.select(QID, "A")
    session.check(QID)
    session.select(QID, "D")
    session.check(QID)  # right, then changed to wrong
    score = session.score()
    assert (score.correct, score.first_try, score.answered, score.total) == (2, 2, 3, 5)
    assert str(score) == "2 of 5 correct (2 on the first try); 3 of 5 answered"


def test_first_try_after_seeing_the_solution_does_not_count(session):
    """Is an answer checked after opening the solution kept out of the first-try count?"""
    question = session.show_solution("freeze-two-of-three")
    session.select("freeze-two-of-three", question.answer)
    assert session.check("freeze-two-of-three").correct
    assert session.score().first_try == 0 and session.score().correct == 1


def test_hint_and_solution_come_from_the_bank(session):
    """Do Hint and Show solution give the question's own hint and worked solution?"""
    assert session.show_hint(QID) == "Count only parameters with requires_grad=True."
    solution = session.show_solution(QID)
    assert solution.answer == "A" and len(solution.solution) == 2
    assert session.state(QID).hint_shown and session.state(QID).solution_shown


def test_the_snippet_unlocks_after_a_first_check_and_prints_its_real_output(session):
    """Predict, then run: is Run refused before a check, and does it then print 2?"""
    assert not session.can_run(QID)
    session.select(QID, "B")
    session.check(QID)
    assert session.can_run(QID)
    result = session.run(QID)
    assert result.stdout == "2\n"
    assert session.state(QID).ran_code
    with pytest.raises(ValueError, match="no runnable code"):
        session.run("what-freezing-does")


def test_a_foreign_option_id_is_refused(session):
    """Can a selection name an option the question does not have? (It must not.)"""
    with pytest.raises(KeyError):
        session.select(QID, "F")


@pytest.mark.parametrize("seed", range(25))
def test_shuffling_moves_letters_but_never_the_key(seed):
    """With options shuffled, does choosing the displayed position of the right text still
    check as correct, and every other position as wrong?"""
    session = PracticeSession(load_quiz("mastery"), seed=seed)
    session.unlock()
    assert session.shuffle
    for question in session.quiz.questions:
        shown = session.options(question.id)
        assert sorted(o.id for o in shown) == sorted(question.option_ids)
        for position, option in enumerate(shown):
            assert session.label(question.id, option.id) == OPTION_IDS[position]
            session.select(question.id, option.id)
            assert session.check(question.id).correct == (option.text == question.correct_option.text)


def test_shuffling_is_stable_for_a_learner_and_differs_between_learners():
    """Is the order the same on every reopen (same seed) and different for other seeds?"""
    question = load_quiz("mastery").question("discriminative-learning-rates")
    assert option_order(question, True, 1) == option_order(question, True, 1)
    orders = {tuple(o.id for o in option_order(question, True, seed)) for seed in range(30)}
    assert len(orders) > 5
    assert option_order(question, False, 1) == question.options


def test_progress_round_trip_restores_everything():
    """Does a session rebuilt from its saved document have the same choices, attempts, reveals,
    order and score?"""
    first = PracticeSession(load_quiz("mastery"), seed=99)
    first.unlock()
    first.select(QID, "A")
    first.check(QID)
    first.show_hint("resnet-head-count")
    first.select("batchnorm-running-stats", "B")
    document = first.to_document("ada")
    again = PracticeSession(load_quiz("mastery"), document)
    assert again.seed == 99
    assert again.options(QID) == first.options(QID)
    assert again.state(QID).attempts == ["A"]
    assert again.last_feedback(QID).correct
    assert again.state("resnet-head-count").hint_shown
    assert again.state("batchnorm-running-stats").selected == "B"
    assert again.last_feedback("batchnorm-running-stats") is None  # selected, never checked
    assert again.score() == first.score()
    assert not again.locked  # the learner's confirmation is kept too


def test_a_quiz_holding_a_graded_key_reveals_nothing_until_unlocked():
    """Does the lesson 07 quiz (the graded quiz's questions) give no verdict, hint, solution or
    run before the learner confirms the graded quiz is handed in, and everything after?"""
    session = PracticeSession(load_quiz("mastery"), seed=3)
    assert load_quiz("mastery").graded_as == "mastery-quiz" and session.locked
    question = load_quiz("mastery").question(QID)
    session.select(QID, question.answer)
    assert session.check(QID).status == "locked" and session.state(QID).attempts == []
    assert session.last_feedback(QID) is None and not session.can_run(QID)
    with pytest.raises(PermissionError):
        session.show_hint(QID)
    with pytest.raises(PermissionError):
        session.show_solution(QID)
    assert session.to_document("ada")["key_unlocked"] is False
    session.unlock()
    assert session.check(QID).correct and session.can_run(QID)
    assert PracticeSession(load_quiz("mastery"), session.to_document("ada")).locked is False
    assert not PracticeSession(load_quiz("practice")).locked  # lesson 02's practice: no graded key
    assert "key_unlocked" not in PracticeSession(load_quiz("practice")).to_document("ada")


def test_saved_answers_to_a_changed_question_are_set_aside():
    """If a question's text changed since it was answered, are its saved answers dropped?"""
    first = PracticeSession(load_quiz("practice"), seed=1)
    first.select(QID, "A")
    first.check(QID)
    document = first.to_document("ada")
    document["questions"][QID]["fingerprint"] = "0" * 16
    again = PracticeSession(load_quiz("practice"), document)
    assert again.discarded == [QID]
    assert again.state(QID).attempts == []


def test_practice_mode_refuses_a_keyless_quiz(tmp_path):
    """Is immediate feedback impossible without a key (the released file has none)?"""
    from freezelab.quiz.__main__ import KEYLESS_TARGETS

    with pytest.raises(ValueError, match="no answer key"):
        PracticeSession(load_keyless(KEYLESS_TARGETS["mastery"]))


def test_exam_session_records_changes_and_clears_answers():
    """Does exam mode record a choice, replace it, clear it, and save in question order?"""
    from freezelab.quiz.__main__ import KEYLESS_TARGETS

    exam = ExamSession(load_keyless(KEYLESS_TARGETS["mastery"]))
    exam.record("resnet-head-count", "C")
    exam.record("what-freezing-does", "A")
    exam.record("what-freezing-does", "D")
    exam.record("resnet-head-count", None)
    assert exam.answers == {"what-freezing-does": "D"} and exam.answered == 1
    document = exam.to_document("ada")
    assert document["answers"] == {"what-freezing-does": "D"}
    restored = ExamSession(
        exam.quiz, {"answers": {"what-freezing-does": "D", "no-such": "A", "resnet-head-count": "F"}}
    )
    assert restored.answers == {"what-freezing-does": "D"}
    assert sorted(restored.ignored) == ["no-such", "resnet-head-count"]

"""The ipywidgets quizzes, driven in Python the way a click drives them in the browser.

Setting ``radio.value`` is what the front end does when an option is clicked, and
``button.click()`` runs the same handlers as a click on the button.
"""

from __future__ import annotations

import html
import json
import shutil
import warnings
from pathlib import Path

import pytest

from freezelab.quiz import ProgressWarning, build_exam, build_quiz, load_quiz, read_recorded_answers, render
from freezelab.quiz.__main__ import KEYLESS_TARGETS
from freezelab.quiz.bank import load_bank
from freezelab.quiz.progress import progress_path

FILES = Path(__file__).parent / "files"
QID = "count-trainable-tensors"
BANK = load_bank()


def pick(quiz, question_id: str, text: str) -> None:
    """Click the option whose label reads ``text`` (whatever letter it has)."""
    view = quiz.view(question_id)
    for label, option_id in view.radio.options:
        if label.split(". ", 1)[1] == text:
            view.radio.value = option_id
            return
    raise AssertionError(f"no option {text!r}")


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "progress"


def test_a_question_shows_difficulty_stem_code_and_options(folder):
    """Does a question show its difficulty, its stem, its highlighted code and four radio options?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    view = quiz.view(QID)
    assert "medium" in view.header.value and "Consider this PyTorch code snippet" in view.header.value
    assert 'class="fl-code"' in view.header.value and '<span class="k">for</span>' in view.header.value
    assert [label for label, _ in view.radio.options] == ["A. 2", "B. 4", "C. 6", "D. 0"]
    assert view.radio.value is None
    assert [b.description for b in (view.check_button, view.hint_button, view.solution_button)] == [
        "Check",
        "Hint",
        "Show solution",
    ]


def test_wrong_then_right_gives_immediate_feedback_and_the_score(folder):
    """Does a wrong check show that option's explanation, and the right one 'Correct', with the
    score following?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    view = quiz.view(QID)
    pick(quiz, QID, "4")
    view.check_button.click()
    assert "Not quite" in view.feedback.value
    assert "number of parameter tensors in the whole model" in view.feedback.value
    assert "0 of 5 correct" in quiz.score.value and quiz.progress.value == 1
    pick(quiz, QID, "6")
    assert view.feedback.value == ""  # a new choice clears the old verdict
    pick(quiz, QID, "2")
    view.check_button.click()
    assert "Correct: A." in view.feedback.value
    assert "1 of 5 correct (0 on the first try)" in quiz.score.value
    assert quiz.score.value == quiz.final_score.value


def test_check_without_a_choice_says_so(folder):
    """Does pressing Check with nothing chosen ask for a choice and save nothing?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    quiz.view(QID).check_button.click()
    assert "Choose an option first" in quiz.view(QID).feedback.value
    assert not progress_path("practice", "ada", folder).exists()


def test_hint_and_solution_buttons_show_and_hide(folder):
    """Do Hint and Show solution reveal the bank's hint and worked solution, and hide them again?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    view = quiz.view("grad-is-not-a-switch")
    view.hint_button.click()
    assert "Freeze with requires_grad, not param.grad." in view.hint.value
    assert view.hint_button.description == "Hide hint"
    view.solution_button.click()
    assert "Answer: D." in view.solution.value and "More precisely" in view.solution.value
    assert "TypeError" in view.solution.value
    view.solution_button.click()
    assert view.solution.value == "" and view.solution_button.description == "Show solution"


def test_run_button_unlocks_after_a_check_and_shows_real_output(folder):
    """Is Run locked until the first check (predict, then run), and does it then show the
    snippet's real output: 2 for question 3, the TypeError for question 4?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    view = quiz.view(QID)
    assert view.run_button.disabled and "predict" in view.run_button.tooltip
    pick(quiz, QID, "0")
    view.check_button.click()
    assert not view.run_button.disabled
    view.run_button.click()
    assert '<div class="fl-output">2</div>' in view.output.value
    grad = quiz.view("grad-is-not-a-switch")
    grad.solution_button.click()  # the solution unlocks it too
    grad.run_button.click()
    assert "TypeError: assigned grad expected to be a Tensor or None" in grad.output.value
    assert "Set-up run before the snippet" in grad.output.value
    assert quiz.view("what-freezing-does").run_button is None


def test_closing_and_reopening_restores_answers_and_score(folder):
    """After a reopen (a new quiz object, as when the cell runs again), are the choice, the
    verdict, the revealed hint and the score back?"""
    quiz = build_quiz("mastery", learner="ada", progress_folder=folder)
    quiz.unlock_button.click()
    quiz.unlock_button.click()
    pick(quiz, QID, "4")
    quiz.view(QID).check_button.click()
    pick(quiz, QID, "2")
    quiz.view(QID).check_button.click()
    quiz.view("resnet-head-count").hint_button.click()
    labels = [label for label, _ in quiz.view(QID).radio.options]
    saved = json.loads(progress_path("mastery", "ada", folder).read_text())
    assert saved["questions"][QID]["attempts"] == ["B", "A"]

    again = build_quiz("mastery", learner="ada", progress_folder=folder)
    view = again.view(QID)
    assert [label for label, _ in view.radio.options] == labels  # same shuffle
    assert view.radio.value == "A"
    assert "Correct" in view.feedback.value
    assert "A layer created after freezing is not frozen." in again.view("resnet-head-count").hint.value
    assert again.score.value == quiz.score.value and again.progress.value == 1
    other = build_quiz("mastery", learner="grace", progress_folder=folder)
    assert other.progress.value == 0  # progress is per learner


def test_a_corrupt_progress_file_warns_starts_afresh_and_keeps_a_copy(folder):
    """Does a damaged progress file give a visible warning and a working, empty quiz, with the
    damaged file kept beside it rather than overwritten?"""
    folder.mkdir()
    path = progress_path("practice", "ada", folder)
    shutil.copy(FILES / "quiz-progress-truncated.json", path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    # Said once, in the quiz's own warning box; not a second time as a warning on stderr.
    assert [w for w in caught if issubclass(w.category, ProgressWarning)] == []
    assert "could not be used" in quiz.warning.value and 'role="alert"' in quiz.warning.value
    assert "not valid JSON" in quiz.warning.value
    kept = [p for p in folder.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1
    assert kept[0].read_bytes() == (FILES / "quiz-progress-truncated.json").read_bytes()
    pick(quiz, QID, "2")
    quiz.view(QID).check_button.click()
    assert "Correct" in quiz.view(QID).feedback.value
    assert json.loads(path.read_text())["questions"][QID]["attempts"] == ["A"]


def test_start_over_needs_a_second_click(folder):
    """Does Start over ask for confirmation before erasing the answers?"""
    quiz = build_quiz("practice", learner="ada", progress_folder=folder)
    pick(quiz, QID, "2")
    quiz.view(QID).check_button.click()
    quiz.reset_button.click()
    assert quiz.progress.value == 1 and "Click again" in quiz.reset_button.description
    quiz.reset_button.click()
    assert quiz.progress.value == 0 and quiz.view(QID).radio.value is None
    assert quiz.view(QID).feedback.value == ""
    again = build_quiz("practice", learner="ada", progress_folder=folder)
    assert again.progress.value == 0


def test_without_widgets_the_quiz_is_text_and_html_that_keep_the_answer_secret(folder):
    """Where widgets cannot render, does the display fall back to HTML and plain text showing
    every stem and option, and nothing of the answers?"""
    quiz = build_quiz("mastery", learner="ada", progress_folder=folder)
    bundle = quiz._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    for mime in ("text/html", "text/plain"):
        shown = bundle[mime]
        flat = " ".join(shown.split())
        for question in quiz.quiz.questions:
            stem = render.inline(question.stem) if mime == "text/html" else question.stem
            assert " ".join(stem.split()) in flat
            for option in question.options:
                label = option.text if mime == "text/plain" else html.escape(option.text)
                assert label in shown
        for question in BANK.values():
            for option in question.options:
                assert option.explanation[:50] not in shown
            assert question.hint not in shown and question.quick_check not in shown
        for giveaway in ("Correct", "Answer:", "Hint:", "Solution"):
            assert giveaway not in shown
    text = bundle["text/plain"]
    assert "Question 10 of 10 (hard)" in text and "interactive" in text
    for question in quiz.quiz.questions:
        for option in quiz.session.options(question.id):
            assert option.text in text


def test_exam_mode_records_answers_without_feedback(tmp_path):
    """In exam mode, is each choice written at once to the answers file, with no verdict, and
    back after a reopen?"""
    questions = tmp_path / "mastery-questions.json"
    shutil.copy(KEYLESS_TARGETS["mastery"], questions)
    answers = tmp_path / "mastery-answers.json"
    exam = build_exam(questions, answers, learner="ada")
    exam.answer("what-freezing-does", "A")
    exam.answer("resnet-head-count", "B")
    exam.answer("what-freezing-does", "C")
    assert read_recorded_answers(answers) == {"what-freezing-does": "C", "resnet-head-count": "B"}
    assert "Answered 2 of 10. Saved." in exam.summary.value
    shown = " ".join(w.value for view in exam.questions for w in (view.header, view.status))
    assert "Correct" not in shown and "Not quite" not in shown
    exam.questions[0].clear_button.click()
    assert read_recorded_answers(answers) == {"resnet-head-count": "B"}
    again = build_exam(questions, answers, learner="ada")
    assert again.questions[6].radio.value == "B" and again.session.answered == 1


def test_exam_mode_while_autograding_never_touches_the_answers_file(tmp_path, monkeypatch):
    """While nbgrader autogrades, is a damaged answers file left in place, unmoved and unwritten?"""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    shutil.copy(KEYLESS_TARGETS["mastery"], tmp_path / "q.json")
    shutil.copy(FILES / "quiz-answers-garbled.json", tmp_path / "a.json")
    exam = build_exam(tmp_path / "q.json", tmp_path / "a.json")
    assert exam.session.answered == 0 and "cannot be used" in exam.warning.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "q.json"]
    with pytest.warns(ProgressWarning):
        assert read_recorded_answers(tmp_path / "a.json") == {}


def test_show_quiz_displays_the_quiz(capsys):
    """Does show_quiz("practice") display the quiz (here, outside Jupyter, as its text form)?"""
    from freezelab.quiz import show_quiz

    assert show_quiz("practice") is None
    printed = capsys.readouterr().out
    assert "Practice: freezing layers" in printed and "Question 5 of 5 (hard)" in printed


def test_the_graded_quiz_shows_each_learner_an_order_of_their_own(tmp_path):
    """Does the graded quiz draw each learner's option order from their id (the same at every
    visit, different between learners and from lesson 02's practice order), with labels in the
    learner's letters while the recorded value stays the bank's option id?"""
    questions = tmp_path / "mastery-questions.json"
    shutil.copy(KEYLESS_TARGETS["mastery"], questions)
    ada = build_exam(questions, tmp_path / "ada.json", learner="ada")
    ada_again = build_exam(questions, tmp_path / "ada.json", learner="ada")
    grace = build_exam(questions, tmp_path / "grace.json", learner="grace")

    def labels(exam):
        return [[label for label, _ in view.radio.options] for view in exam.questions]

    assert labels(ada) == labels(ada_again)
    assert labels(ada) != labels(grace)
    bank_order = [[f"{o.id}. {o.text}" for o in BANK[view.question.id].options] for view in ada.questions]
    assert labels(ada) != bank_order
    for view in ada.questions:
        letters = [label.split(". ", 1)[0] for label, _ in view.radio.options]
        assert letters == list("ABCDEF"[: len(letters)])  # letters run in display order
        assert sorted(value for _, value in view.radio.options) == sorted(o.id for o in view.question.options)


def test_answering_by_the_letter_shown_records_the_option_id_the_key_compares(tmp_path):
    """Is the mapping from the letter a learner sees to the option recorded explicit and right:
    choosing the keyed option under whatever letter it has records the bank's key, and the file
    says which letter the learner saw?"""
    from freezelab.quiz.session import exam_option_order, shown_letters

    questions = tmp_path / "mastery-questions.json"
    shutil.copy(KEYLESS_TARGETS["mastery"], questions)
    answers = tmp_path / "mastery-answers.json"
    exam = build_exam(questions, answers, learner="ada")
    key = {q.id: q.answer for q in load_quiz("mastery").questions}
    moved = 0
    for view in exam.questions:
        order = exam_option_order(view.question, "ada")
        letter_of = shown_letters(order)
        keyed_text = BANK[view.question.id].correct_option.text
        label = next(label for label, _ in view.radio.options if label.split(". ", 1)[1] == keyed_text)
        assert label.split(". ", 1)[0] == letter_of[key[view.question.id]]
        moved += letter_of[key[view.question.id]] != key[view.question.id]
        view.radio.value = dict((lab, val) for lab, val in view.radio.options)[label]
    assert moved >= 3, "the keyed letter should move for several questions"
    recorded = read_recorded_answers(answers)
    assert recorded == key
    document = json.loads(answers.read_text())
    assert document["shown"] == {qid: shown_letters(exam_option_order(BANK[qid], "ada"))[oid]
                                 for qid, oid in key.items()}
    assert recorded.letters == document["shown"]


def test_an_answers_file_recorded_before_the_per_learner_order_reads_the_same(tmp_path, capsys):
    """Does a learner's answers file from before options were shuffled (bank ids, no letters)
    still load, unchanged, and report each answer without inventing a letter?"""
    from freezelab.quiz import report_recorded_answer

    old = FILES / "quiz-answers-recorded-before-per-learner-order.json"
    recorded = read_recorded_answers(old)
    assert recorded == json.loads(old.read_text())["answers"] and recorded.letters == {}
    assert report_recorded_answer(recorded, "what-freezing-does", 1) is None  # the cell echoes nothing
    assert capsys.readouterr().out == "Question 1: answer recorded.\n"
    shutil.copy(KEYLESS_TARGETS["mastery"], tmp_path / "q.json")
    shutil.copy(old, tmp_path / "a.json")
    exam = build_exam(tmp_path / "q.json", tmp_path / "a.json", learner="ada")
    assert exam.session.answers == dict(recorded)
    assert exam.questions[0].radio.value == recorded["what-freezing-does"]


def test_every_quiz_carries_its_keyboard_and_screen_reader_layer(folder, tmp_path):
    """Is the accessibility widget (front-end code that exists) the first child of the practice
    and the graded quiz, named after the quiz?"""
    from freezelab.quiz.access import ESM, QuizAccess

    shutil.copy(KEYLESS_TARGETS["mastery"], tmp_path / "q.json")
    for quiz in (build_quiz("practice", learner="ada", progress_folder=folder),
                 build_exam(tmp_path / "q.json", tmp_path / "a.json", learner="ada")):
        first = quiz.widget.children[0]
        assert isinstance(first, QuizAccess) and first.title == quiz.quiz.title
        assert "data-lm-suppress-shortcuts" in ESM.read_text() == first._esm


def test_lesson_07_keeps_the_graded_key_behind_a_confirmed_unlock(folder):
    """In the lesson 07 quiz, are Check, Hint and Show solution disabled under a note until two
    clicks on the unlock button, which then stays unlocked at the next visit and after Start over?"""
    quiz = build_quiz("mastery", learner="ada", progress_folder=folder)
    view = quiz.view(QID)
    assert quiz.lock_box.layout.display == "flex" and "mastery-quiz" in quiz.lock_note.value
    assert view.check_button.disabled and view.hint_button.disabled and view.solution_button.disabled
    assert view.run_button is not None and view.run_button.disabled
    pick(quiz, QID, "2")  # choosing is allowed, and judged by nobody
    assert view.feedback.value == "" and "Correct" not in json.dumps([v.feedback.value for v in quiz.questions])
    quiz.unlock_button.click()
    assert view.check_button.disabled and "Click again" in quiz.unlock_button.description
    quiz.unlock_button.click()
    assert not view.check_button.disabled and quiz.lock_box.layout.display == "none"
    view.check_button.click()
    assert "Correct" in view.feedback.value
    again = build_quiz("mastery", learner="ada", progress_folder=folder)
    assert not again.view(QID).check_button.disabled and again.lock_box.layout.display == "none"
    again.reset_button.click()
    again.reset_button.click()
    assert not again.session.locked
    practice = build_quiz("practice", learner="ada", progress_folder=folder)
    assert practice.lock_box.layout.display == "none" and not practice.view(QID).check_button.disabled


def test_the_check_cell_names_the_letter_the_learner_saw(tmp_path, capsys):
    """Does a check cell's message give the letter shown to this learner, not the bank's id?"""
    from freezelab.quiz import report_recorded_answer
    from freezelab.quiz.session import exam_option_order, shown_letters

    shutil.copy(KEYLESS_TARGETS["mastery"], tmp_path / "q.json")
    exam = build_exam(tmp_path / "q.json", tmp_path / "a.json", learner="ada")
    # A question and an option whose letter moved for this learner.
    number, option_id, letter = next(
        (number, option_id, letter)
        for number, view in enumerate(exam.questions, start=1)
        for option_id, letter in shown_letters(exam_option_order(view.question, "ada")).items()
        if option_id != letter
    )
    view = exam.questions[number - 1]
    exam.answer(view.question.id, option_id)
    assert read_recorded_answers(tmp_path / "a.json")[view.question.id] == option_id  # graded: the id
    assert report_recorded_answer(read_recorded_answers(tmp_path / "a.json"), view.question.id, number) is None
    assert capsys.readouterr().out == f"Question {number}: answer {letter} recorded.\n"
    assert f"Recorded: <strong>{letter}</strong>" in view.status.value

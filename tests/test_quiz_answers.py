"""Every answer of the bank, and every claim of its explanations, checked by running real PyTorch.

The key is not taken on trust: a question whose options are code runs each option against a
fresh model, and only the keyed option may do what the stem asks; a question whose snippet
prints must print exactly the keyed option; and every explanation's ``evidence`` (the code
that backs its factual claims) must run without a failed assertion.
"""

from __future__ import annotations

import pytest

from freezelab.quiz.bank import load_bank
from freezelab.quiz.runner import run_snippet

BANK = load_bank()


def evidence_cases():
    for question in BANK.values():
        for option in question.options:
            yield pytest.param(option.evidence, id=f"{question.id}-{option.id}")
        if question.more_precisely_evidence:
            yield pytest.param(question.more_precisely_evidence, id=f"{question.id}-more-precisely")


@pytest.mark.parametrize("evidence", list(evidence_cases()))
def test_explanation_evidence_holds_in_pytorch(evidence):
    """Does the code behind this explanation's claims run, with every assertion true?"""
    result = run_snippet(evidence)
    assert result.ok, f"{result.error}\n{result.traceback}"


def verified(kind: str) -> list[str]:
    return [qid for qid, q in BANK.items() if (q.verify or {}).get("kind") == kind]


@pytest.mark.parametrize("question_id", verified("option-code"))
def test_only_the_keyed_option_does_what_the_stem_asks(question_id):
    """Run setup, then each option's code, then the stem's check: does exactly the keyed option
    pass, and does every other option either raise or fail the check?"""
    question = BANK[question_id]
    passing = []
    for option in question.options:
        result = run_snippet(option.code + "\n" + question.verify["check"], setup=question.verify["setup"])
        if result.ok:
            passing.append(option.id)
    assert passing == [question.answer]


@pytest.mark.parametrize("question_id", verified("prints-answer"))
def test_the_snippet_prints_the_keyed_option(question_id):
    """Does running the question's code print exactly the keyed option, and no other option?"""
    question = BANK[question_id]
    result = run_snippet(question.code, question.setup)
    assert result.ok, result.error
    printed = result.stdout.strip()
    assert [option.id for option in question.options if option.text == printed] == [question.answer]


@pytest.mark.parametrize("question_id", verified("prints") + verified("raises"))
def test_the_snippet_behaves_as_the_bank_says(question_id):
    """Does the question's code print, or raise, exactly what its verification records?"""
    question = BANK[question_id]
    result = run_snippet(question.code, question.setup)
    if question.verify["kind"] == "prints":
        assert result.ok and result.stdout.strip() == question.verify["output"]
    else:
        assert result.error_type == question.verify["exception"]


def test_every_code_question_is_verified_by_running_it():
    """Does every question with code, or with options as code, carry a verification?"""
    for question in BANK.values():
        if question.code or any(option.code for option in question.options):
            assert question.verify, question.id


# The cases the issue names, spelled out so that a change of the bank cannot silently drop them.


def test_question_3_prints_2():
    """Does the lesson's question 3 snippet print 2?"""
    question = BANK["count-trainable-tensors"]
    assert run_snippet(question.code).stdout == "2\n"
    assert question.answer == "A" and question.option("A").text == "2"


def test_question_4_wrong_code_raises_type_error():
    """Does the lesson's question 4 code (param.grad = False) raise TypeError in real PyTorch?"""
    question = BANK["grad-is-not-a-switch"]
    result = run_snippet(question.code, question.setup)
    assert result.error_type == "TypeError"
    assert "Tensor or None" in result.error_message


@pytest.mark.parametrize(
    ("question_id", "expected"),
    [
        (
            "freeze-all-parameters",
            {"A": "AttributeError", "B": "frozen: all", "C": "frozen: none", "D": "frozen: none"},
        ),
        (
            "freeze-two-of-three",
            {"A": "frozen: layer1, layer2", "B": "frozen: all", "C": "frozen: none", "D": "AttributeError"},
        ),
    ],
)
def test_questions_2_and_5_options_freeze_what_they_freeze(question_id, expected):
    """Applied to a real model, what does each option of questions 2 and 5 actually freeze?"""
    question = BANK[question_id]
    report = (
        "import torch\n"
        "names = [n for n, p in model.named_parameters() if not p.requires_grad]\n"
        "layers = sorted({n.split('.')[0] for n in names})\n"
        "everything = len(names) == len(list(model.parameters()))\n"
        "print('frozen: ' + ('all' if everything else ', '.join(layers) or 'none'))\n"
    )
    outcome = {}
    for option in question.options:
        result = run_snippet(option.code + "\n" + report, setup=question.verify["setup"])
        outcome[option.id] = result.stdout.strip() if result.ok else result.error_type
    assert outcome == expected


def test_the_batchnorm_question_needs_eval_not_requires_grad():
    """Does a frozen BatchNorm in train mode print False, and the same in eval mode print True?"""
    question = BANK["batchnorm-running-stats"]
    assert run_snippet(question.code).stdout.strip() == "False"
    in_eval = question.code.replace("bn.requires_grad_(False)", "bn.requires_grad_(False)\nbn.eval()")
    assert run_snippet(in_eval).stdout.strip() == "True"

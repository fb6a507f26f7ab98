"""The hidden tests of 'freeze it yourself' as data and verdicts.

Right answers pass, wrong ones fail, forged reports fail, and the tampering scan leaves honest code alone.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from freezelab.grading import samples
from freezelab.grading.probe import FUNCTIONS, MIMETYPE, run_cases
from freezelab.grading.tampering import aliases_in, scan
from freezelab.grading.tasks import TOLD, UNTOLD, cases_for, default_cases
from freezelab.grading.verdicts import judge, verdict_of_outputs

ASSIGNMENT = samples.FREEZE
LEARNERS = ["alice", "bob", "carol", "dmitri"]
SOLUTION = samples.solution_answers(ASSIGNMENT, ASSIGNMENT)


def functions(*overrides: dict[str, str]) -> dict:
    """The learner's namespace after running the set-up imports and these answers (the master's, then overrides)."""
    answers = dict(SOLUTION)
    for override in overrides:
        answers.update(override)
    namespace = {"torch": torch, "nn": nn}
    for source in answers.values():
        exec(source, namespace)
    return namespace


def verdict(namespace: dict, task: str, learner: str) -> str | None:
    cases = cases_for(task, ASSIGNMENT, learner, b"test-secret")
    return judge(task, cases, run_cases(task, namespace[FUNCTIONS[task]], cases))


@pytest.mark.parametrize("task", list(FUNCTIONS))
def test_the_masters_answers_pass_every_learners_cases(task):
    """Does the instructor's own solution pass each task's hidden cases, for several learners and without one?"""
    namespace = functions()
    for learner in LEARNERS[:2]:
        assert verdict(namespace, task, learner) is None, learner
    cases = default_cases(task)
    assert judge(task, cases, run_cases(task, namespace[FUNCTIONS[task]], cases)) is None


STYLES = ["REQUIRES_GRAD_UNDERSCORE", "NAMED_PARAMETERS", "MODULE_TRAVERSAL", "UNUSUAL_BUT_RIGHT"]


@pytest.mark.parametrize("style", STYLES)
def test_every_correct_style_passes(style):
    """Do the right answers written in other styles keep full marks on every task?"""
    namespace = functions(getattr(samples, style))
    for task in FUNCTIONS:
        assert verdict(namespace, task, "alice") is None, task


WRONG = {
    "BATCHNORM_1D_2D_ONLY": {"test-freeze-batchnorm"},
    "PREFIX_WITHOUT_DOT": {"test-freeze-submodules", "test-freeze-all-but-head"},
    "EXPONENT_SKIPS_FROZEN": {"test-discriminative-param-groups"},
    "SHARED_WEIGHT_IN_TWO_GROUPS": {"test-discriminative-param-groups"},
    "HARD_CODED": {"test-count-trainable-and-frozen", "test-freeze-all-but-head"},
    "AS_THE_LESSON_WARNS": set(FUNCTIONS),
    "CAUGHT_ONLY_BY_HIDDEN_TESTS": {
        "test-freeze-all-but-head",
        "test-count-trainable-and-frozen",
        "test-freeze-batchnorm",
        "test-unfreeze-next-stage",
    },
}


@pytest.mark.parametrize("answers", list(WRONG))
def test_each_wrong_answer_fails_exactly_its_tasks_for_every_learner(answers):
    """Is each mistake caught for every learner's cases, and no right answer beside it failed?"""
    namespace = functions(getattr(samples, answers))
    learner = LEARNERS[len(answers) % len(LEARNERS)]  # a different learner's cases for each mistake
    failed = {task for task in FUNCTIONS if verdict(namespace, task, learner) is not None}
    assert failed == WRONG[answers], learner


def test_cases_are_per_learner_repeatable_and_include_unnamed_architectures():
    """Same learner, same cases; other learners, other cases; architectures the text never names among them?"""
    draws = {learner: cases_for("test-freeze-all", ASSIGNMENT, learner, b"s") for learner in LEARNERS}
    assert draws["alice"] == cases_for("test-freeze-all", ASSIGNMENT, "alice", b"s")
    assert len({json.dumps(cases, sort_keys=True) for cases in draws.values()}) > 1
    assert cases_for("test-freeze-all", ASSIGNMENT, "alice", b"another class") != draws["alice"]
    named = {case["model"].get("torchvision") for cases in draws.values() for case in cases}
    assert named & set(UNTOLD) and named & set(TOLD)


def _outputs(records: list, task: str, copies: int = 1) -> list[dict]:
    data = {MIMETYPE: json.dumps({"task": task, "records": records})}
    return [{"output_type": "display_data", "data": data, "metadata": {}}] * copies


def test_a_verdict_needs_exactly_one_honest_report():
    """No report, two reports, a report for another task or garbage: does each fail, and one honest report pass?"""
    task = "test-freeze-all"
    cases = cases_for(task, ASSIGNMENT, "alice", b"s")
    honest = run_cases(task, functions()["freeze_all"], cases)
    assert verdict_of_outputs(task, cases, _outputs(honest, task)) is None
    assert "did not run" in verdict_of_outputs(task, cases, [])
    assert "forged or duplicated" in verdict_of_outputs(task, cases, _outputs(honest, task, copies=2))
    assert "forged" in verdict_of_outputs(task, cases, _outputs(honest, "test-freeze-submodules"))
    garbage = [{"output_type": "display_data", "data": {MIMETYPE: "{not json"}, "metadata": {}}]
    assert verdict_of_outputs(task, cases, garbage) is not None


def test_a_report_forged_from_the_visible_tests_fails():
    """A learner who reports 'everything frozen' for every case without calling anything: does it fail?"""
    task = "test-freeze-submodules"
    cases = cases_for(task, ASSIGNMENT, "alice", b"s")
    honest = run_cases(task, functions()["freeze_submodules"], cases)
    forged = [dict(record, flags=dict.fromkeys(record["flags"], False)) for record in honest]
    assert verdict_of_outputs(task, cases, _outputs(forged, task)) is not None


# ------------------------------------------------------------------------------------------ tampering

HONEST = [
    *SOLUTION.values(),
    *samples.REQUIRES_GRAD_UNDERSCORE.values(),
    *samples.NAMED_PARAMETERS.values(),
    *samples.MODULE_TRAVERSAL.values(),
    *samples.UNUSUAL_BUT_RIGHT.values(),
    *samples.AS_THE_LESSON_WARNS.values(),
    "%matplotlib inline\nimport math\nprint(math.pi)",
    "module.requires_grad = False  # wrong, but not tampering",
    "from freezelab import params, plots\nfrom freezelab.quiz import show_exam",  # the lessons' own library
]
CHEATS = {
    "SWALLOW_ERRORS": "input transformers",
    "SHOWTRACEBACK": "showtraceback",
    "EXECUTE_MASTER": "exec",
    "PATCH_TORCH": "torch.equal",
}


def test_honest_answers_in_every_style_raise_no_finding():
    """Do loops, requires_grad_, prefixes, apply, recursion and generators pass the tampering scan untouched?"""
    aliases = aliases_in(HONEST)
    for source in HONEST:
        assert scan(source, aliases) == [], source


@pytest.mark.parametrize("cheat", list(CHEATS))
def test_each_cheat_is_named(cheat):
    """Does the scan name what each cheating cell does?"""
    source = samples.MASTERS_ANSWERS["freeze-all"] if cheat == "EXECUTE_MASTER" else getattr(samples, cheat)
    findings = scan(source, aliases_in([source]))
    assert any(CHEATS[cheat] in finding.what for finding in findings), findings


def test_patching_through_an_alias_or_setattr_is_found():
    """`M = nn.Module; M.parameters = ...` and `setattr(torch, 'equal', ...)`: found?"""
    sources = [
        "M = nn.Module\nM.parameters = lambda self: iter(())",
        "import torch as t\nsetattr(t, 'equal', max)",
        "getattr(get_ipython(), 'input_transformers_post').append(print)",
        "from freezelab.grading import tasks",
        "import os\nos.environ['NBGRADER_EXECUTION'] = ''",
        "import os\nos.environ.pop('NBGRADER_EXECUTION')",
    ]
    aliases = aliases_in(sources)
    assert all(scan(source, aliases) for source in sources)


# ------------------------------------------------------------------ the claim in Task 5 of the assignment


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW])
def test_an_optimizer_keeps_no_state_for_frozen_parameters_but_trains_them_once_unfrozen(optimizer):
    """Task 5 says: SGD, Adam and AdamW keep no state for frozen parameters, but train one that is unfrozen later."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
    model[0].requires_grad_(False)
    kwargs = {"momentum": 0.9} if optimizer is torch.optim.SGD else {}
    opt = optimizer(model.parameters(), lr=0.1, **kwargs)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
    assert all(p not in opt.state for p in model[0].parameters())
    assert all(p in opt.state for p in model[1].parameters())
    before = model[0].weight.detach().clone()
    model[0].requires_grad_(True)
    opt.zero_grad()
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, model[0].weight)


def test_torch_optim_refuses_a_parameter_in_two_groups():
    """Task 8 says torch.optim refuses a parameter in two groups: does it?"""
    shared = nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        torch.optim.SGD([{"params": [shared]}, {"params": [shared], "lr": 0.1}], lr=0.01)

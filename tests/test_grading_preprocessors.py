"""The nbgrader preprocessors that harden autograding and feedback (freezelab.grading.preprocessors)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader import utils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    Execute,
    GetGrades,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets.config import Config

from freezelab.grading.integrity import METADATA_KEY, Problem, record_problem
from freezelab.grading.preprocessors import (
    AddFeedbackStyle,
    AddGradingReport,
    FeedbackExporter,
    HideHiddenTests,
    InspectSubmission,
    LabelGradedCells,
    NeutralPaths,
    ResilientExecute,
    SaveAutoGradesIgnoringStderr,
    ZeroAffectedTests,
    determine_grade_ignoring_stderr,
    execution_problems,
    grading_report,
    harden,
    hide_test_frames,
    neutral_paths,
    strip_ansi,
)
from freezelab.paths import AUTOGRADER_DIR, REPO_ROOT


def grade_cell(outputs, points=2.0, grade_id="test-x"):
    cell = new_code_cell("check()")
    cell.outputs = outputs
    cell.metadata["nbgrader"] = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": points,
        "grade_id": grade_id,
        "schema_version": 3,
    }
    return cell


WARNING = new_output(
    "stream",
    name="stderr",
    text="UserWarning: To copy construct from a tensor, it is recommended to use sourceTensor.detach().clone()\n",
)
PASSED = new_output("stream", name="stdout", text="Task 4: the visible tests pass.\n")
FAILED = new_output("error", ename="AssertionError", evalue="expected (10, 0)", traceback=[])


def test_a_torch_warning_zeroes_a_passing_test_in_stock_nbgrader_but_not_here():
    """Does a stderr warning cost nothing here, where nbgrader's own determine_grade gives 0?"""
    cell = grade_cell([PASSED, WARNING])
    assert utils.determine_grade(cell) == (0, 2.0), "the stock rule this package exists to fix"
    assert determine_grade_ignoring_stderr(cell) == (2.0, 2.0)
    assert cell.outputs == [PASSED, WARNING], "the outputs shown in the feedback stay as they were"


def test_an_error_still_fails_and_partial_credit_still_counts():
    """Is a real failure still 0, and a numeric result still partial credit, as in nbgrader?"""
    assert determine_grade_ignoring_stderr(grade_cell([WARNING, FAILED])) == (0, 2.0)
    partial = new_output("execute_result", data={"text/plain": "1.5"}, execution_count=1)
    assert determine_grade_ignoring_stderr(grade_cell([WARNING, partial])) == (1.5, 2.0)
    assert determine_grade_ignoring_stderr(grade_cell([])) == (2.0, 2.0)


def real_traceback() -> tuple[list[str], int]:
    """An IPython traceback through a test cell (with a secret in it) into a learner's function."""
    shell = InteractiveShell.instance()
    shell.run_cell("def learner_function(x):\n    return x.missing_attribute\n", store_history=True)
    test_count = shell.execution_count
    result = shell.run_cell(
        "secret_expected_value = 41\nassert learner_function(1) == secret_expected_value", store_history=True
    )
    error = result.error_in_exec
    return shell.InteractiveTB.structured_traceback(type(error), error, error.__traceback__), test_count


def test_tracebacks_lose_the_test_cells_frames_and_keep_the_learners():
    """Does a traceback keep the learner's own frame and the error line, but not the test's code?"""
    traceback, test_count = real_traceback()
    assert "secret_expected_value" in strip_ansi("\n".join(traceback)), "the raw traceback shows the test"
    kept = strip_ansi("\n".join(hide_test_frames(traceback, test_count)))
    assert "secret_expected_value" not in kept
    assert "learner_function" in kept and "missing_attribute" in kept
    assert "AttributeError" in kept.splitlines()[-1]
    assert "(the test code is hidden)" in kept


def test_a_failing_visible_check_still_points_at_its_line():
    """When the failing line is one the learner was given, does the traceback keep showing it?"""
    traceback, test_count = real_traceback()
    visible = {"secret_expected_value = 41", "assert learner_function(1) == secret_expected_value"}
    kept = strip_ansi("\n".join(hide_test_frames(traceback, test_count, visible)))
    assert "assert learner_function(1) == secret_expected_value" in kept
    assert "(the test code is hidden)" not in kept


def test_hidden_regions_and_frames_leave_the_feedback_copy():
    """Does the feedback preprocessor strip hidden regions from every cell and test frames from errors?"""
    traceback, test_count = real_traceback()
    cell = grade_cell([new_output("error", ename="AttributeError", evalue="no", traceback=traceback)])
    cell.source = "visible_check()\n### BEGIN HIDDEN TESTS\nsecret_expected_value = 41\n### END HIDDEN TESTS"
    cell.execution_count = test_count
    answer = new_code_cell("def f():\n    pass\n### BEGIN HIDDEN TESTS\nalso_secret = 1\n### END HIDDEN TESTS")
    nb = new_notebook(cells=[answer, cell])
    HideHiddenTests().preprocess(nb, {})
    text = strip_ansi(nbformat.writes(nb))
    assert "secret_expected_value" not in text and "also_secret" not in text
    assert "visible_check()" in cell.source and "learner_function" in text


def graded(nb_cells, problems=()):
    nb = new_notebook(cells=nb_cells)
    nb.metadata[METADATA_KEY] = {"titles": {"test-a": "Task 1 · First", "test-b": "Task 2 · Second"}}
    for problem in problems:
        record_problem(nb, problem)
    return nb


def test_the_grading_report_says_per_task_what_scored_and_why():
    """Does the report give the total, a row per test with the reason it failed, and the problems found?"""
    passed = grade_cell([PASSED], grade_id="test-a")
    passed.metadata["nbgrader"]["score"] = 2.0
    failed = grade_cell(
        [
            new_output("error", ename="KeyboardInterrupt", evalue="", traceback=[]),
            new_output("error", ename="CellTimeoutError", evalue="stopped after 30 s", traceback=[]),
        ],
        points=3.0,
        grade_id="test-b",
    )
    failed.metadata["nbgrader"]["score"] = 0.0
    nb = graded([passed, failed], [Problem("moved", "test-b", "Task 2 · Second: the test cell `test-b` was moved.")])
    report = grading_report(nb)
    assert report.startswith("## Grading report: 2 / 5 points")
    assert "| Task 1 · First | `test-a` | 2 / 2 | passed |" in report
    assert "CellTimeoutError: stopped after 30 s" in report, "the grader's verdict beats the interrupt"
    assert "`test-b` was moved" in report
    AddGradingReport().preprocess(nb, {})
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == report


def test_failed_answer_cells_and_stopped_cells_get_their_own_line():
    """Do a syntax error in an answer and an endless loop in a test get a line, and a plain failing test not?"""
    answer = new_code_cell("def f(:")
    answer.metadata["nbgrader"] = {
        "grade": False,
        "solution": True,
        "locked": False,
        "grade_id": "answer-a",
        "schema_version": 3,
    }
    answer.outputs = [new_output("error", ename="SyntaxError", evalue="invalid syntax", traceback=[])]
    plain = grade_cell([FAILED], grade_id="test-a")
    stopped = grade_cell(
        [new_output("error", ename="CellTimeoutError", evalue="still running", traceback=[])], grade_id="test-b"
    )
    mine = new_code_cell("1/0")
    mine.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    problems = execution_problems(graded([answer, plain, stopped, mine]))
    assert [(p.grade_id, p.kind) for p in problems] == [("answer-a", "error"), ("test-b", "error"), (None, "error")]
    assert "SyntaxError: invalid syntax" in problems[0].message
    assert "Task 2 · Second" in problems[1].message and "Cell 4 (one of your own)" in problems[2].message


def test_harden_keeps_nbgraders_preprocessors_in_their_order():
    """Are nbgrader's own steps all still there, in nbgrader's order, with ours around them?"""
    c = Config()
    harden(c)
    sanitize = c.Autograde.sanitize_preprocessors
    assert [p for p in sanitize if p.__module__.startswith("nbgrader")] == [
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CheckCellMetadata,
    ]
    assert sanitize.index(InspectSubmission) < sanitize.index(OverwriteCells) < sanitize.index(ZeroAffectedTests)
    grading = c.Autograde.autograde_preprocessors
    assert grading[0] is ResilientExecute and issubclass(ResilientExecute, Execute)
    assert SaveAutoGradesIgnoringStderr in grading and SaveAutoGrades not in grading
    feedback = c.GenerateFeedback.preprocessors
    assert feedback.index(GetGrades) < feedback.index(HideHiddenTests) < feedback.index(AddGradingReport)
    assert feedback.index(HideHiddenTests) < feedback.index(NeutralPaths) < feedback.index(AddGradingReport)
    assert feedback.index(LabelGradedCells) < feedback.index(AddGradingReport) < feedback.index(AddFeedbackStyle)
    # Only the feedback page changes template: the formgrader's pages (HTMLExporter, 'formgrade') keep theirs.
    assert c.GenerateFeedback.exporter_class is FeedbackExporter and "HTMLExporter" not in c


@pytest.mark.parametrize("stock", [False, True], ids=["hardened", "stock"])
def test_the_course_config_hardens_nbgrader_unless_asked_for_stock(stock, tmp_path):
    """Does autograder/nbgrader_config.py install the preprocessors, and leave them out when stock is asked?"""
    probe = textwrap.dedent(f"""
        from traitlets.config.loader import PyFileConfigLoader
        config = PyFileConfigLoader("nbgrader_config.py", path={str(AUTOGRADER_DIR)!r}).load_config()
        names = [p.__name__ for p in config.Autograde.get("sanitize_preprocessors", [])]
        print("InspectSubmission" in names, config.CourseDirectory.submitted_directory)
    """)
    env = dict(os.environ, FREEZELAB_GRADING_DIR=str(tmp_path))
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    if stock:
        env["FREEZELAB_STOCK_NBGRADER"] = "1"
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    hardened, submitted = result.stdout.split()
    assert hardened == str(not stock)
    assert Path(submitted) == tmp_path / "submitted", "the state stays where FREEZELAB_GRADING_DIR says"


@pytest.mark.slow
def test_a_dying_kernel_and_an_unstoppable_loop_cost_only_their_cells():
    """After os._exit() and a loop that swallows Ctrl-C, does every other cell still run and keep its result?"""
    cells = [
        new_code_cell("x = 1"),
        new_code_cell("import os\nos._exit(1)"),
        new_code_cell("y = x + 1"),
        new_code_cell(
            "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass"
        ),
        new_code_cell("print(x + y)"),
        new_markdown_cell("the end"),
    ]
    nb = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    executor = ResilientExecute(timeout=4)
    result, _ = executor.preprocess(nb, {"metadata": {"path": "."}})
    outputs = [
        [(o.output_type, o.get("ename"), o.get("text")) for o in cell.get("outputs", [])] for cell in result.cells
    ]
    assert outputs[1][0][:2] == ("error", "NotRun") and outputs[3][0][:2] == ("error", "NotRun")
    assert outputs[4] == [("stream", None, "3\n")], "later cells ran in a fresh kernel with the earlier state"
    messages = [p["message"] for p in result.metadata[METADATA_KEY]["problems"]]
    assert any("made the Python kernel die" in m for m in messages)
    assert any("could not even be interrupted" in m for m in messages)


# ---------------------------------------------------------------------------------------- the page

SITE = "/srv/course/.venv/lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("path", "neutral"),
    [
        (f"{SITE}/torch/nn/modules/module.py:1783", "<packages>/torch/nn/modules/module.py:1783"),
        ("/usr/lib/python3/dist-packages/yaml/__init__.py", "<packages>/yaml/__init__.py"),
        ("/root/.pyenv/versions/3.11.7/lib/python3.11/contextlib.py", "<python>/contextlib.py"),
        ("'/tmp/freezelab-sandbox-k2_x9/work/data.csv'", "'<your folder>/data.csv'"),
        ("/tmp/freezelab-sandbox-k2_x9/tmp/ipykernel_2/3019834291.py:3: UserWarning", "<cell>:3: UserWarning"),
        ("/tmp/freezelab-sandbox-k2_x9/tmp/scratch.txt", "<tmp>/scratch.txt"),
        ("/tmp/freezelab-sandbox-k2_x9/run/kernel.json", "<sandbox>/run/kernel.json"),
        (f"{REPO_ROOT}/src/freezelab/grading/probe.py", "<course>/freezelab/grading/probe.py"),
        (f"{REPO_ROOT}/solutions/x.ipynb", "<course>/solutions/x.ipynb"),
        (f"File \x1b[32m{SITE}/torch/functional.py:12\x1b[0m", "File \x1b[32m<packages>/torch/functional.py:12\x1b[0m"),
        ("3/4 of https://pytorch.org/docs/stable/nn.html", "3/4 of https://pytorch.org/docs/stable/nn.html"),
    ],
)
def test_the_graders_paths_become_short_neutral_names(path, neutral):
    """Do the environment, the Python installation, the sandbox's scratch folder and the checkout become
    <packages>, <python>, <your folder>, <cell>, <course>, while URLs and fractions stay as they are?"""
    assert neutral_paths(path) == neutral


def test_neutral_paths_take_one_pass_whatever_a_learner_prints():
    """Does a megabyte of slashes (a learner's print) cost a fraction of a second, not minutes?"""
    import time

    started = time.perf_counter()
    for text in ("/ab" * 300_000, "/" * 1_000_000, f"{SITE}/x.py " * 20_000):
        neutral_paths(text)
    assert time.perf_counter() - started < 5


def test_outputs_and_notes_of_the_feedback_copy_lose_the_graders_paths():
    """After NeutralPaths, do no traceback, warning, result or note of the page name the grader's folders?"""
    traceback = [f"File \x1b[32m{SITE}/torch/nn/modules/module.py:1783\x1b[39m, in Module._call_impl()"]
    cell = grade_cell(
        [
            new_output("stream", name="stderr", text="/tmp/freezelab-sandbox-q1/tmp/ipykernel_3/12.py:2: UserWarning"),
            new_output("error", ename="OSError", evalue=f"{SITE}/torch/lib missing", traceback=traceback),
            new_output("execute_result", data={"text/plain": f"PosixPath('{REPO_ROOT}/x')"}, execution_count=1),
        ]
    )
    nb = new_notebook(cells=[cell])
    record_problem(nb, Problem("error", None, f"Cell 1 stopped with FileNotFoundError: {SITE}/a.py."))
    NeutralPaths().preprocess(nb, {})
    text = nbformat.writes(nb)
    assert "site-packages" not in text and "freezelab-sandbox" not in text and str(REPO_ROOT) not in text
    assert "<packages>/torch/nn/modules/module.py:1783" in text and "<cell>:2: UserWarning" in text
    assert "FileNotFoundError: <packages>/a.py." in text


def test_each_graded_cell_is_labelled_by_its_task_and_shared_titles_are_numbered():
    """Does every graded cell get its task's title, with '(test k of n)' where tests share one?"""
    answer = new_code_cell("def f(): ...")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "answer-a", "schema_version": 3}
    cells = [answer, *(grade_cell([], grade_id=grade_id) for grade_id in ("test-a", "test-b1", "test-b2"))]
    nb = new_notebook(cells=cells)
    titles = {"answer-a": "Task 1 · First", "test-a": "Task 1 · First", "test-b1": "Task 2 · Second"}
    nb.metadata[METADATA_KEY] = {"titles": dict(titles, **{"test-b2": "Task 2 · Second"})}
    LabelGradedCells().preprocess(nb, {})
    labels = [cell.metadata.get(METADATA_KEY, {}).get("label") for cell in nb.cells]
    second = "Task 2 · Second"
    assert labels == ["Task 1 · First", "Task 1 · First", f"{second} (test 1 of 2)", f"{second} (test 2 of 2)"]


@pytest.mark.slow
def test_a_real_feedback_page_names_each_task_spaces_its_table_and_hides_the_graders_paths(tmp_path):
    """Graded and given feedback through the course's pipeline (nbgrader autograde and generate_feedback),
    does a page whose answer raised inside torch and warned list its test cells by task, not 'Test cell'
    x8, style the report's table, and show <packages>/torch/... instead of the grader's environment?"""
    from freezelab.grading import samples
    from freezelab.grading.check import check_notebook
    from freezelab.grading.feedback import html_text

    notebook = nbformat.read(Path(__file__).parent / "files" / samples.freeze_it_yourself_samples()[0].filename, 4)
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "freeze-all")
    answer.source = (
        "def freeze_all(module: nn.Module) -> None:\n    import warnings\n    warnings.warn('freezing now')\n"
        "    module(torch.zeros(3))  # the wrong shape: torch raises inside its own modules\n"
    )
    path = tmp_path / "freeze-it-yourself.ipynb"
    nbformat.write(notebook, path)
    result = check_notebook(path, html=tmp_path / "page.html")
    assert result.outcome.score == 18
    page = (tmp_path / "page.html").read_text()
    head, body = page.split("</head>", 1)
    assert "div.text_cell_render th" in head, "the course's style sheet, with padding between the report's columns"
    toc = body.split('<div id="toc">', 1)[1].split("</div>", 1)[0]
    assert "Test cell" not in toc
    assert '<a href="#test-freeze-all">Task 1 · Freeze a whole module</a> (Score: 0.0 / 2.0)' in toc
    assert toc.count("<li>") == 8
    assert "Task 1 · Freeze a whole module: test cell <code>test-freeze-all</code>" in body
    text = html_text(page)
    for internal in ("site-packages", ".venv", "freezelab-sandbox", str(REPO_ROOT), "/root/", sys.prefix):
        assert internal not in text, internal
    assert "File <packages>/torch/nn/modules/module.py:" in text
    assert "<cell>:3: UserWarning: freezing now" in text

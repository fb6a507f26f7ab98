"""Running a quiz snippet: real output, a fresh namespace, errors reported and not raised."""

from __future__ import annotations

from freezelab.quiz.runner import run_snippet


def test_snippet_output_is_captured():
    """Does the result hold exactly what the snippet printed, to stdout and stderr?"""
    result = run_snippet("import sys\nprint('to out')\nprint('to err', file=sys.stderr)")
    assert result.ok
    assert result.stdout == "to out\n"
    assert result.stderr == "to err\n"
    assert result.seconds >= 0


def test_each_run_starts_from_an_empty_namespace():
    """Is a name defined by one run unknown to the next, and absent from the caller?"""
    assert run_snippet("leftover = 41").ok
    second = run_snippet("print(leftover)")
    assert second.error_type == "NameError"
    assert "leftover" not in globals()


def test_setup_runs_first_in_the_same_namespace():
    """Does the set-up define what the snippet uses?"""
    result = run_snippet("print(model_size * 2)", setup="model_size = 21")
    assert result.stdout == "42\n"


def test_an_exception_is_reported_with_the_snippet_lines_not_raised():
    """Does a snippet that raises give its error and a traceback quoting its own line?"""
    result = run_snippet("x = 1\nraise TypeError('assigned grad expected to be a Tensor')")
    assert not result.ok
    assert result.error == "TypeError: assigned grad expected to be a Tensor"
    assert "raise TypeError" in result.traceback
    assert "runner.py" not in result.traceback  # the frames shown are the snippet's


def test_output_before_an_error_is_kept():
    """Is what the snippet printed before failing still shown?"""
    result = run_snippet("print('halfway')\n1 / 0")
    assert result.stdout == "halfway\n" and result.error_type == "ZeroDivisionError"


def test_system_exit_in_a_snippet_does_not_end_the_kernel():
    """Is SystemExit from a snippet reported instead of stopping the notebook's kernel?"""
    result = run_snippet("raise SystemExit(3)")
    assert result.error_type == "SystemExit"


def test_warnings_are_shown_with_the_output():
    """Does a warning raised by the snippet appear in its output?"""
    result = run_snippet("import warnings\nwarnings.warn('careful: frozen BatchNorm')")
    assert result.ok
    assert "UserWarning: careful: frozen BatchNorm" in result.stderr


def test_a_syntax_error_is_reported():
    """Does a snippet that does not parse give a SyntaxError result?"""
    result = run_snippet("for layer in layers: for p in layer: pass")
    assert result.error_type == "SyntaxError"

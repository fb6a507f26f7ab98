"""Turning questions into HTML and plain text: highlighted code, feedback, solutions, and the
static fallbacks shown where widgets cannot render.

Everything here is a pure function of bank objects, so it is tested without widgets. The
static fallbacks (:func:`static_quiz_html`, :func:`static_quiz_text`) show stems and options
only: no answer, explanation, hint or solution ever reaches them.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections.abc import Sequence
from functools import lru_cache

from freezelab.quiz.bank import OPTION_IDS, Option, Question, Quiz
from freezelab.quiz.runner import RunResult
from freezelab.quiz.session import Feedback, Score

# Colours come from JupyterLab's theme variables where they exist (so dark themes work), with
# fallbacks for front ends without them.
STYLE = """
<style>
.freezelab-quiz { max-width: 60rem; }
.freezelab-quiz .widget-html-content { line-height: 1.5; }
.freezelab-quiz .fl-title { font-size: 1.3em; font-weight: 600; margin: 0.2em 0; }
.freezelab-quiz .fl-description { margin: 0.2em 0 0.5em; color: var(--jp-ui-font-color1, inherit); }
.freezelab-question { border: 1px solid var(--jp-border-color2, #d0d0d0); border-radius: 6px;
  padding: 0.3em 0.9em 0.7em; margin: 0.7em 0; }
.freezelab-quiz .fl-header { display: flex; gap: 0.6em; align-items: baseline; margin: 0.4em 0; }
.freezelab-quiz .fl-number { font-weight: 600; }
.freezelab-quiz .fl-topic { color: var(--jp-ui-font-color2, #666); }
.freezelab-quiz .fl-badge { display: inline-block; padding: 0 0.55em; border-radius: 1em;
  font-size: 0.85em; font-weight: 600; }
.freezelab-quiz .fl-easy { background: #e3f4e7; color: #1b5e2c; }
.freezelab-quiz .fl-medium { background: #fff1cc; color: #6d5000; }
.freezelab-quiz .fl-hard { background: #fde2e2; color: #8e1b1b; }
.freezelab-quiz .fl-stem { margin: 0.3em 0; }
.freezelab-quiz .fl-code { background: var(--jp-cell-editor-background, #f6f6f6);
  border: 1px solid var(--jp-cell-editor-border-color, #e0e0e0); border-radius: 4px;
  padding: 0.45em 0.75em; margin: 0.35em 0; overflow-x: auto; white-space: pre;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 13px);
  line-height: 1.45; color: var(--jp-content-font-color1, #111); }
.freezelab-quiz code { font-family: var(--jp-code-font-family, monospace);
  background: var(--jp-layout-color2, #eee); padding: 0 0.2em; border-radius: 3px; }
.freezelab-quiz .fl-code .k, .freezelab-quiz .fl-code .kn, .freezelab-quiz .fl-code .kc,
.freezelab-quiz .fl-code .kd, .freezelab-quiz .fl-code .ow {
  color: var(--jp-mirror-editor-keyword-color, #008000); font-weight: bold; }
.freezelab-quiz .fl-code .nb, .freezelab-quiz .fl-code .bp {
  color: var(--jp-mirror-editor-builtin-color, #008000); }
.freezelab-quiz .fl-code .s, .freezelab-quiz .fl-code .s1, .freezelab-quiz .fl-code .s2,
.freezelab-quiz .fl-code .sd { color: var(--jp-mirror-editor-string-color, #ba2121); }
.freezelab-quiz .fl-code .mi, .freezelab-quiz .fl-code .mf, .freezelab-quiz .fl-code .m {
  color: var(--jp-mirror-editor-number-color, #006b00); }
/* JupyterLab's light theme draws numbers in #080, 4.3:1 on the code background: below WCAG AA. */
[data-jp-theme-light="true"] .freezelab-quiz .fl-code .mi, [data-jp-theme-light="true"] .freezelab-quiz .fl-code .mf,
[data-jp-theme-light="true"] .freezelab-quiz .fl-code .m { color: #006b00; }
.freezelab-quiz input[type="radio"]:focus-visible { outline: 2px solid #1565c0; outline-offset: 2px; }
.freezelab-quiz .fl-code .c, .freezelab-quiz .fl-code .c1 {
  color: var(--jp-mirror-editor-comment-color, #408080); font-style: italic; }
.freezelab-quiz .fl-code .o { color: var(--jp-mirror-editor-operator-color, #aa22ff); }
.freezelab-quiz .fl-code .nf, .freezelab-quiz .fl-code .nc {
  color: var(--jp-mirror-editor-def-color, #0000ff); }
.freezelab-quiz .fl-option-code { display: grid; grid-template-columns: 1.6em 1fr; gap: 0 0.3em;
  align-items: start; }
.freezelab-quiz .fl-option-code > span { font-weight: 600; padding-top: 0.55em; }
.freezelab-quiz .freezelab-options .widget-radio-box label { height: auto; line-height: 1.4;
  white-space: normal; display: flex; flex-direction: row-reverse; justify-content: flex-end;
  align-items: flex-start; gap: 0.2em; padding: 0.2em 0; cursor: pointer; }
.freezelab-quiz .freezelab-options .widget-radio-box input { height: 1.4em; margin: 0 0.3em 0 1px;
  flex: none; }
.freezelab-quiz .freezelab-options { width: auto; max-width: 100%; }
.freezelab-quiz .fl-box { border-left: 4px solid; border-radius: 3px; padding: 0.4em 0.8em;
  margin: 0.35em 0; }
.freezelab-quiz .fl-correct { border-color: #2e7d32; background: rgba(46, 125, 50, 0.09); }
.freezelab-quiz .fl-incorrect { border-color: #c62828; background: rgba(198, 40, 40, 0.08); }
.freezelab-quiz .fl-neutral { border-color: #1565c0; background: rgba(21, 101, 192, 0.07); }
.freezelab-quiz .fl-warning { border-color: #ef6c00; background: rgba(239, 108, 0, 0.11); }
.freezelab-quiz .fl-output { white-space: pre-wrap; font-family: var(--jp-code-font-family, monospace);
  margin: 0.3em 0; }
.freezelab-quiz .fl-error { color: #b71c1c; }
.freezelab-quiz .fl-score { font-weight: 600; margin: 0 0.8em; }
.freezelab-quiz ol.fl-steps { margin: 0.3em 0 0.3em 1.2em; padding: 0; }
</style>
"""

INLINE_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> str:
    """Escape ``text`` for HTML and turn `backticks` into <code>."""
    return INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", html.escape(text, quote=False))


@lru_cache(maxsize=256)
def code_html(code: str) -> str:
    """Python source highlighted with Pygments' short class names (styled by :data:`STYLE`)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    body = highlight(code.rstrip("\n"), PythonLexer(), HtmlFormatter(nowrap=True))
    return f'<div class="fl-code">{body.rstrip()}</div>'


def difficulty_badge(difficulty: str) -> str:
    return f'<span class="fl-badge fl-{difficulty}">{difficulty}</span>'


def question_html(question: Question, number: int, total: int, options: Sequence[Option] | None = None) -> str:
    """The header, stem, code and question of a question, plus any option that is code spread
    over several lines (its one-line label alone would be hard to read)."""
    parts = [
        '<div class="fl-header">'
        f'<span class="fl-number">Question {number} of {total}</span>'
        f"{difficulty_badge(question.difficulty)}"
        + (f'<span class="fl-topic">{html.escape(question.topic)}</span>' if question.topic else "")
        + "</div>",
        f'<div class="fl-stem">{inline(question.stem)}</div>',
    ]
    if question.code:
        parts.append(code_html(question.code))
    if question.ask:
        parts.append(f'<div class="fl-stem">{inline(question.ask)}</div>')
    options = options if options is not None else question.options
    if any(option.code_differs_from_text for option in options):
        parts.append('<div class="fl-stem">The options as code:</div>')
        for letter, option in zip(OPTION_IDS, options, strict=False):
            parts.append(
                f'<div class="fl-option-code"><span>{letter}.</span>{code_html(option.code or option.text)}</div>'
            )
    return "\n".join(parts)


def option_label(letter: str, option: Option) -> str:
    """The text beside a radio button (plain text: radio labels do not render HTML)."""
    return f"{letter}. {option.text}"


def locked_html(assignment: str) -> str:
    """The note over a practice quiz whose questions are the key of a graded assignment."""
    return (
        '<div class="fl-box fl-neutral" role="note"><strong>These questions are graded.</strong> '
        f"They are the questions of the graded assignment <code>{html.escape(assignment)}</code>. "
        "You can choose answers here, but verdicts, hints and solutions stay hidden until you have "
        "handed that assignment in: answer it first, in its own notebook. Then press the button "
        "below (twice) to practise here with feedback.</div>"
    )


def feedback_html(feedback: Feedback) -> str:
    if feedback.status == "locked":
        return (
            '<div class="fl-box fl-neutral" role="status">Verdicts stay hidden until you have '
            "handed in the graded quiz.</div>"
        )
    if feedback.status == "no-selection":
        return '<div class="fl-box fl-neutral" role="status">Choose an option first, then press Check.</div>'
    assert feedback.option is not None
    explanation = inline(feedback.option.explanation or "")
    if feedback.correct:
        return (
            f'<div class="fl-box fl-correct fl-verdict" role="status"><strong>Correct: '
            f"{feedback.label}.</strong> {explanation}</div>"
        )
    return (
        f'<div class="fl-box fl-incorrect fl-verdict" role="status"><strong>Not quite: '
        f"{feedback.label} is not the answer.</strong> {explanation} "
        "<em>Choose another option and check again.</em></div>"
    )


def hint_html(hint: str) -> str:
    return f'<div class="fl-box fl-neutral"><strong>Hint:</strong> {inline(hint)}</div>'


def solution_html(question: Question, label: str) -> str:
    steps = "".join(f"<li><strong>{inline(s.step)}.</strong> {inline(s.text)}</li>" for s in question.solution)
    answer = question.correct_option
    parts = [
        '<div class="fl-box fl-neutral fl-solution"><strong>Solution</strong>',
        f'<ol class="fl-steps">{steps}</ol>',
        f"<div><strong>Answer: {label}.</strong> {inline(answer.text)}</div>",
    ]
    if question.quick_check:
        parts.append(f"<div><strong>Quick check:</strong> {inline(question.quick_check)}</div>")
    if question.more_precisely:
        parts.append(f"<div><strong>More precisely:</strong> {inline(question.more_precisely)}</div>")
    parts.append("</div>")
    return "\n".join(parts)


def run_html(result: RunResult, setup: str | None) -> str:
    parts = [
        f'<div class="fl-box fl-neutral fl-run"><strong>Output</strong> (run in a fresh '
        f"namespace, {result.seconds:.2f} s):"
    ]
    printed = result.stdout + result.stderr
    if printed:
        parts.append(f'<div class="fl-output">{html.escape(printed.rstrip())}</div>')
    if result.error:
        parts.append(f'<div class="fl-output fl-error">{html.escape(result.traceback or result.error)}</div>')
    if not printed and not result.error:
        parts.append('<div class="fl-output">(nothing printed)</div>')
    if setup:
        parts.append(f"<details><summary>Set-up run before the snippet</summary>{code_html(setup)}</details>")
    parts.append("</div>")
    return "\n".join(parts)


def score_html(score: Score) -> str:
    return (
        f'<div class="fl-score">Score: {score.correct} of {score.total} correct '
        f"({score.first_try} on the first try) &middot; answered {score.answered} of "
        f"{score.total}</div>"
    )


def warning_html(messages: Sequence[str]) -> str:
    if not messages:
        return ""
    return "".join(
        f'<div class="fl-box fl-warning" role="alert"><strong>Note:</strong> {html.escape(message)}</div>'
        for message in messages
    )


# ---------------------------------------------------------------------------- static fallbacks

STATIC_NOTE = (
    "This quiz is interactive: run this cell (in JupyterLab or Jupyter Notebook) to choose answers and get "
    "feedback; answers you saved before come back."
)


def static_quiz_html(quiz: Quiz, orders: dict[str, Sequence[Option]] | None = None) -> str:
    """The quiz as plain HTML for a static page: questions and options, never the answers."""
    orders = orders or {}
    blocks = []
    for number, question in enumerate(quiz.questions, start=1):
        options = list(orders.get(question.id, question.options))
        items = "".join(
            f"<li>{html.escape(option_label(letter, option))}</li>"
            for letter, option in zip(OPTION_IDS, options, strict=False)
        )
        blocks.append(
            f'<div class="freezelab-question">{question_html(question, number, len(quiz), options)}'
            f'<ul style="list-style: none; padding-left: 0.5em">{items}</ul></div>'
        )
    return (
        f'{STYLE}<div class="freezelab-quiz freezelab-static">'
        f'<div class="fl-title">{html.escape(quiz.title)}</div>'
        f'<div class="fl-description"><em>{html.escape(STATIC_NOTE)}</em></div>' + "".join(blocks) + "</div>"
    )


def static_quiz_text(quiz: Quiz, orders: dict[str, Sequence[Option]] | None = None) -> str:
    """The quiz as plain text for a terminal front end: questions and options, no answers."""
    orders = orders or {}
    lines = [quiz.title, "=" * len(quiz.title), STATIC_NOTE, ""]
    for number, question in enumerate(quiz.questions, start=1):
        topic = f" - {question.topic}" if question.topic else ""
        lines.append(f"Question {number} of {len(quiz)} ({question.difficulty}){topic}")
        lines.extend(textwrap.wrap(question.stem, 96))
        if question.code:
            lines.extend("    " + line for line in question.code.rstrip("\n").splitlines())
        if question.ask:
            lines.append(question.ask)
        for letter, option in zip(OPTION_IDS, orders.get(question.id, question.options), strict=False):
            lines.append(f"  {option_label(letter, option)}")
            if option.code_differs_from_text:
                lines.extend("      " + line for line in (option.code or "").rstrip("\n").splitlines())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

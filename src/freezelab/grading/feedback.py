"""``feedback``: nbgrader's feedback pages, a page of its own for what could not be graded, and a
check that no hidden test reached any page (a page that shows one is withheld for that learner alone).
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import nbformat

from freezelab.grading.course import (
    Course,
    Submission,
    notebook_names,
)
from freezelab.grading.integrity import (
    Problem,
    cell_source,
    hidden_test_lines,
    is_test_cell,
    strip_hidden_tests,
)
from freezelab.grading.preprocessors import load_layout, neutral_paths


def feedback(course: Course, assignment: str | None = None) -> list[Path]:
    """Write the feedback HTML of every graded submission; returns the files learners will receive."""
    submissions = course.submissions(assignment)
    for name in sorted({s.assignment for s in submissions}):
        # nbgrader carries on past a notebook it cannot render and exits non-zero at the end;
        # those notebooks get the page below.
        course.nbgrader("generate_feedback", name, "--force", check=False)
    written = []
    for submission in submissions:
        statuses = course.read_note(submission).get("notebooks", {})
        for name, status in statuses.items():
            page = course.feedback_path(submission) / f"{name}.html"
            if not page.exists() or status != "graded":
                page.parent.mkdir(parents=True, exist_ok=True)
                page.write_text(_fallback_page(course, submission, name, status))
            written.append(page)
    for page in find_hidden_test_leaks(course, assignment):
        _withhold(course, page)
    return written


WITHHELD = "withheld"


def _withhold(course: Course, page: Path) -> None:
    """Replace one learner's feedback page that shows hidden-test text; note it. Nobody else is affected."""
    student, assignment = page.parent.parent.name, page.parent.name
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Feedback withheld</title></head><body>"
        f"<h1>Feedback: {html.escape(assignment)} / {html.escape(page.stem)}</h1><p>Your grade stands, but this "
        "page is withheld: the notebook printed text of the grader's hidden tests, so the page cannot be "
        "released as it was. Your instructor has a note of it and can tell you what each task scored.</p>"
        "</body></html>\n"
    )
    submission = Submission(assignment, student)
    note = course.read_note(submission)
    message = f"{page.stem}.html: feedback withheld (it showed text of a hidden test); the grade stands."
    note.setdefault("problems", []).append(Problem(WITHHELD, None, message).as_dict())
    note.setdefault("withheld_feedback", []).append(page.stem)
    course.write_note(submission, note)


def _fallback_page(course: Course, submission: Submission, notebook: str, status: str) -> str:
    note = course.read_note(submission)
    lines = "".join(f"<li>{html.escape(neutral_paths(p['message']))}</li>" for p in note.get("problems", []))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(notebook)}: feedback</title>"
        "</head><body><h1>Feedback: " + html.escape(f"{submission.assignment} / {notebook}") + "</h1>"
        f"<p>Score for this notebook: 0. It was <strong>{html.escape(status)}</strong>, so the grader "
        "could not run it.</p><h2>What the grader found</h2><ul>" + lines + "</ul></body></html>\n"
    )


def html_text(page: str) -> str:
    """The visible text of an HTML page: tags dropped, entities decoded."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def hidden_lines_of(course: Course, assignment: str) -> set[str]:
    """Hidden test lines worth looking for: long enough to be distinctive, absent from the release."""
    found = set()
    for notebook in notebook_names(assignment, course.solutions_dir):
        layout = load_layout(course.db_url, assignment, notebook, course.solutions_dir)
        released = [strip_hidden_tests(cell.source) for cell in layout.cells]
        release = course.release_dir / assignment / f"{notebook}.ipynb"
        if release.exists():  # the instructions a learner received may quote a line too
            released += [cell_source(cell) for cell in nbformat.read(release, as_version=4).cells]
        released = "\n".join(released)
        for cell in layout.cells:
            found |= {line for line in hidden_test_lines(cell.source) if len(line) >= 20 and line not in released}
    return found


def _learner_text(autograded: Path) -> str:
    """Everything the learner wrote or received: the notebook's cells other than the test cells."""
    try:
        nb = nbformat.read(autograded, as_version=4)
    except Exception:  # no readable notebook: nothing of the learner's to exclude
        return ""
    kept = [cell_source(cell) for cell in nb.cells if not is_test_cell(cell)]
    return "\n".join(kept)


def find_hidden_test_leaks(course: Course, assignment: str | None = None) -> list[Path]:
    """Feedback files in which a line of a hidden test appears.

    A line the learner happened to write in their own cells is not a leak, so it is not counted.
    """
    leaks = []
    for name in sorted({s.assignment for s in course.submissions(assignment)}):
        lines = hidden_lines_of(course, name)
        for page in sorted(course.feedback_dir.glob(f"*/{name}/*.html")):
            submission = Submission(name, student=page.parent.parent.name)
            own = _learner_text(course.autograded_path(submission) / f"{page.stem}.ipynb")
            text = "".join(html_text(page.read_text(errors="replace")).split())
            if any(leaked(line, text) for line in lines if line not in own):
                leaks.append(page)
    return leaks


def _base64_forms(data: bytes) -> set[str]:
    """The stretches of base64 that encode ``data`` wherever it starts within a longer text."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        start = 4 if offset else 0
        stable = encoded[start : len(encoded) - 4]
        if len(stable) >= 16:
            forms.add(stable)
    return forms


def leaked(line: str, text_without_whitespace: str) -> bool:
    """Whether ``line`` shows in the page text: as it is, split over lines or spaced out, reversed, or in base64."""
    bare = "".join(line.split())
    if bare in text_without_whitespace or bare[::-1] in text_without_whitespace:
        return True
    forms = _base64_forms(line.encode()) | _base64_forms(line.strip().encode())
    return any(form in text_without_whitespace for form in forms)

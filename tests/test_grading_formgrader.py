"""Grading from the formgrader: its Autograde button runs nbgrader inside the Jupyter server, not our CLI.

The instructor's door (``python -m freezelab.lab --instructor``, what ``make instructor`` runs) is started
for real on a scratch state folder, and its formgrader's REST endpoint, the one the Autograde button
calls (``POST /formgrader/api/submission/<assignment>/<student>/autograde``), grades a submission. The
notebook reports from inside its kernel where it ran; the marks come from the gradebook. A second server,
whose bubblewrap cannot start a sandbox, must refuse to grade and say how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from freezelab.grading.autograde import sync_assignments
from freezelab.grading.course import Course
from freezelab.grading.integrity import problems_of
from freezelab.grading.preprocessors import ResilientExecute, ensure_sandbox
from freezelab.grading.sandbox import SandboxUnavailable
from freezelab.lab import DOORS, lab_command
from freezelab.quiz import build_exam, load_quiz
from tests.conftest import requires_sandbox

pytestmark = requires_sandbox()

QUIZ = "mastery-quiz"
KEY = {question.id: question.answer for question in load_quiz("mastery").questions}
WRONG = {qid: next(option for option in "ABCD" if option != answer) for qid, answer in KEY.items()}
TWO_RIGHT = {qid: (KEY[qid] if index < 2 else WRONG[qid]) for index, qid in enumerate(KEY)}
TOKEN = "freezelab-formgrader-test"

# A cell of the learner's own: where does it run?
WHERE = """
import json, os, socket
print("WHERE " + json.dumps({
    "sandboxed": os.environ.get("FREEZELAB_SANDBOXED"),
    "cwd": os.getcwd(),
    "hostname": socket.gethostname(),
    "gradebook_visible": os.path.exists(GRADEBOOK),
    "uid": os.getuid(),
}))
"""


@pytest.fixture
def failing_bwrap() -> Iterator[Path]:
    """A folder whose `bwrap` is installed but cannot start a sandbox (as on a kernel without user
    namespaces). Outside the test's own temporary folder, which only root may enter: the sandbox's
    launcher looks bwrap up after it has become `nobody`."""
    folder = Path(tempfile.mkdtemp(prefix="freezelab-fake-bwrap-", dir="/var/tmp"))
    folder.chmod(0o755)
    fake = folder / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------- in the process


def test_without_bubblewrap_no_kernel_starts_and_the_message_says_how_to_install_it(tmp_path, monkeypatch):
    """With no bwrap on PATH, does ResilientExecute (what the formgrader's nbgrader runs) refuse before
    starting any kernel, naming the package, the install command and the switch for other routes?"""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    monkeypatch.delenv("FREEZELAB_NO_SANDBOX", raising=False)
    marker = tmp_path / "ran-unsandboxed"
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('learner code ran')")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    with pytest.raises(SandboxUnavailable) as refused:
        ResilientExecute(timeout=20).preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    message = str(refused.value)
    assert message.startswith("Nothing was graded")
    assert "bubblewrap is not installed" in message and "apt-get install bubblewrap" in message
    assert "FREEZELAB_NO_SANDBOX=1" in message
    assert not marker.exists(), "learner code ran outside the sandbox"


def test_a_bubblewrap_that_cannot_start_is_refused_too_and_the_switch_turns_the_check_off(failing_bwrap, monkeypatch):
    """Is an installed bwrap that cannot start a sandbox refused with its own words, and does
    FREEZELAB_NO_SANDBOX=1 (the --no-sandbox of the formgrader's route) skip the check?"""
    monkeypatch.setenv("PATH", f"{failing_bwrap}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FREEZELAB_NO_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailable) as refused:
        ensure_sandbox()
    assert "could not start a sandbox" in str(refused.value) and "No permissions" in str(refused.value)
    monkeypatch.setenv("FREEZELAB_NO_SANDBOX", "1")
    ensure_sandbox()


# ------------------------------------------------------------------------------------ the real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def instructor_door(state: Path, log: Path, path_prefix: Path | None = None) -> Iterator[str]:
    """The instructor's JupyterLab (formgrader on) on ``state``, as `make instructor` starts it; its URL."""
    port = free_port()
    command, env = lab_command(
        DOORS["instructor"],
        [f"--port={port}", "--no-browser", f"--IdentityProvider.token={TOKEN}", "--ServerApp.ip=127.0.0.1"],
    )
    env = dict(env, FREEZELAB_GRADING_DIR=str(state), FREEZELAB_CELL_TIMEOUT="60")
    env.pop("FREEZELAB_NO_SANDBOX", None)
    env.pop("FREEZELAB_STOCK_NBGRADER", None)
    # nbgrader runs alembic from PATH when it opens the gradebook: the environment's bin first.
    env["PATH"] = os.pathsep.join(
        [*([str(path_prefix)] if path_prefix else []), str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    assert process.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "the instructor's server did not start:\n" + log.read_text()
                    time.sleep(0.5)
            yield url
        finally:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)


def press(url: str, endpoint: str) -> dict:
    """What a formgrader button does: a POST to its REST endpoint."""
    request = urllib.request.Request(
        f"{url}/formgrader/api/{endpoint}", data=b"", method="POST", headers={"Authorization": f"token {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def press_autograde(url: str, student: str) -> dict:
    """What the formgrader's Autograde button does for one submission."""
    return press(url, f"submission/{QUIZ}/{student}/autograde")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    """A state folder with the quiz in the gradebook and one learner's submission: two right answers
    and a cell of their own that reports where it runs."""
    course = Course(tmp_path_factory.mktemp("formgrader") / "state")
    sync_assignments(course, [QUIZ])
    for student in ("ada", "bo"):
        folder = course.submitted_dir / student / QUIZ
        shutil.copytree(course.release_dir / QUIZ, folder)
        exam = build_exam(folder / "mastery-questions.json", folder / "mastery-answers.json", learner=student)
        for question_id, option_id in TWO_RIGHT.items():
            exam.answer(question_id, option_id)
        notebook = nbformat.read(folder / f"{QUIZ}.ipynb", as_version=4)
        where = WHERE.replace("GRADEBOOK", repr(str(course.db_path)))
        notebook.cells.insert(2, nbformat.v4.new_code_cell(where))
        nbformat.write(notebook, folder / f"{QUIZ}.ipynb")
    return course


@pytest.mark.slow
def test_the_formgraders_autograde_button_grades_inside_the_sandbox(course, tmp_path):
    """Pressed in the instructor's formgrader, does Autograde run the learner's code in the sandbox (its
    scratch folder, no gradebook in sight, an unprivileged user) and score what the answers file says?"""
    with instructor_door(course.state_dir, tmp_path / "server.log") as url:
        result = press_autograde(url, "ada")
        feedback = press(url, f"assignment/{QUIZ}/ada/generate_feedback")
    assert result["success"], result
    graded = nbformat.read(course.autograded_dir / "ada" / QUIZ / f"{QUIZ}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for cell in graded.cells for o in cell.get("outputs", []))
    where = json.loads(printed.split("WHERE ", 1)[1].splitlines()[0])
    assert where["sandboxed"] == "1" and where["hostname"] == "grader"
    assert "/freezelab-sandbox-" in where["cwd"] and not where["gradebook_visible"]
    if os.geteuid() == 0:
        assert where["uid"] == 65534, "the kernel runs as nobody, not as the server's root"
    assert [p.kind for p in problems_of(graded)] == [], "no 'graded without the sandbox' note"
    with course.gradebook() as gradebook:
        assert gradebook.find_submission(QUIZ, "ada").score == 2.0
    # Its Generate Feedback button writes the course's page too: questions by name, no grader's paths.
    assert feedback["success"], feedback
    page = (course.feedback_dir / "ada" / QUIZ / f"{QUIZ}.html").read_text()
    assert '<a href="#exam-q09">Question 9 of 10 (hard): BatchNorm statistics of a frozen layer</a>' in page
    assert "Test cell" not in page and "freezelab-sandbox" not in page and "Grading report: 2 / 10 points" in page


@pytest.mark.slow
def test_the_formgrader_refuses_to_grade_when_no_sandbox_can_start(course, tmp_path, failing_bwrap):
    """With a bubblewrap that cannot start, does the same button grade nothing, leave no graded copy and
    answer with the reason and the install hint?"""
    with instructor_door(course.state_dir, tmp_path / "server.log", path_prefix=failing_bwrap) as url:
        result = press_autograde(url, "bo")
    assert not result["success"]
    said = result.get("log", "") + result.get("error", "")
    assert "Nothing was graded: learner code runs only inside the sandbox" in said
    assert "apt-get install bubblewrap" in said and "FREEZELAB_NO_SANDBOX=1" in said
    assert not (course.autograded_dir / "bo" / QUIZ / f"{QUIZ}.ipynb").exists()
    assert "WHERE" not in (tmp_path / "server.log").read_text(), "no kernel ran the learner's code"

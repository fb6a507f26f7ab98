"""A whole class on a real JupyterHub: release, fetch, answer, submit, collect, autograde, feedback.

The hub (``hub/jupyterhub_config.py``, its npm proxy, PAM logins, each user's server running as that
Linux user) runs on free loopback ports with one instructor and two learners created for the test and
removed after it. Learners act only through their own servers, over the hub's proxy, exactly as the
Assignments panel and JupyterLab do (nbgrader's ``assignments/fetch|submit|fetch_feedback`` handlers,
the contents API, a kernel that answers the quiz's widgets); the instructor runs nbgrader's commands and
this course's grading pipeline as their own account. The gradebook, the feedback each learner fetched,
the deadlines and the privacy of the exchange are then checked; a learner tries to read, change, delete
or forge another learner's work and must fail each time.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from conftest import running_in_ci
from hub_class import HubClass, free_port, processes_of, why_no_class

from freezelab.paths import REPO_ROOT
from freezelab.quiz import load_quiz

# The first test sets the class up and runs the whole cycle (minutes on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

FREEZE, QUIZ = "freeze-it-yourself", "mastery-quiz"
# Bo answers the first four tasks of freeze-it-yourself only: 2 + 2 + 2 + 2 points of 20.
BO_ANSWERS = {"freeze-all", "freeze-submodules", "freeze-all-but-head", "count-trainable-and-frozen"}
KEY = {question.id: question.answer for question in load_quiz("mastery").questions}
SEVEN_RIGHT = {qid: (KEY[qid] if i < 7 else next(o for o in "ABCD" if o != KEY[qid])) for i, qid in enumerate(KEY)}


def answer_quiz_code(learner: str, answers: dict[str, str]) -> str:
    """What a learner's clicks in the quiz's widgets do, run in the learner's own kernel."""
    return (
        "import os\n"
        "os.chdir(os.path.expanduser('~/mastery-quiz'))\n"
        "from freezelab.quiz import build_exam\n"
        f"exam = build_exam('mastery-questions.json', 'mastery-answers.json', learner={learner!r})\n"
        f"for question, option in {answers!r}.items():\n"
        "    exam.answer(question, option)\n"
        "print('answered', len(os.listdir('.')))\n"
    )


@pytest.fixture(scope="module")
def hub_class():
    reason = why_no_class()
    if reason:
        if running_in_ci():
            pytest.fail(f"the class test is required in CI: {reason}")
        pytest.skip(reason)
    # freeze-it-yourself is due in a week; mastery-quiz was due an hour ago, so it is handed in late.
    test_class = HubClass.create(deadlines={FREEZE: timedelta(days=7), QUIZ: timedelta(hours=-1)})
    try:
        yield test_class
    finally:
        test_class.close()


@pytest.fixture(scope="module")
def cycle(hub_class):
    """The whole cycle, once; returns what the later tests look at."""
    hub, teacher = hub_class, hub_class.instructor
    ada, bo = hub.learners
    started = time.monotonic()
    timings = {}

    for assignment in (FREEZE, QUIZ):  # the instructor's terminal: generate into the gradebook, release
        hub.as_user(teacher, ["nbgrader", "generate_assignment", assignment, "--force"])
        hub.as_user(teacher, ["nbgrader", "release_assignment", assignment])
    hub.start_servers([teacher, ada, bo])
    timings["release and start three servers"] = time.monotonic() - started

    listed = hub.server(ada, "GET", "assignments", params={"course_id": hub.settings.course_id}).json()
    for learner in (ada, bo):
        for assignment in (FREEZE, QUIZ):
            assert hub.panel(learner, "fetch", assignment)["success"]
    hub.answer_assignment(ada, FREEZE, None)
    hub.answer_assignment(bo, FREEZE, BO_ANSWERS)
    printed = [
        hub.run_in_kernel(ada, answer_quiz_code(ada, KEY)),
        hub.run_in_kernel(bo, answer_quiz_code(bo, SEVEN_RIGHT)),
    ]
    for learner in (ada, bo):
        for assignment in (FREEZE, QUIZ):
            assert hub.panel(learner, "submit", assignment)["success"]
    timings["fetch, answer, submit (two learners)"] = time.monotonic() - started - sum(timings.values())

    collected = {a: hub.as_user(teacher, ["nbgrader", "collect", a]) for a in (FREEZE, QUIZ)}
    graded = hub.as_user(teacher, [str(hub.settings.users_bin / "python"), "-m", "freezelab.grading", "all"], 1200)
    print(graded.stdout, graded.stderr)
    for assignment in (FREEZE, QUIZ):
        hub.as_user(teacher, ["nbgrader", "release_feedback", assignment])
    timings["collect, autograde, feedback (four submissions)"] = time.monotonic() - started - sum(timings.values())

    fetched = {}
    for learner in (ada, bo):
        for assignment in (FREEZE, QUIZ):
            assert hub.panel(learner, "fetch_feedback", assignment)["success"]
            folder = hub.server(learner, "GET", f"api/contents/{assignment}/feedback").json()
            (stamp,) = [entry["name"] for entry in folder["content"]]
            page = f"{assignment}/feedback/{stamp}/{assignment}.html"
            response = hub.server(learner, "GET", f"api/contents/{page}", params={"content": "1", "format": "text"})
            assert response.status_code == 200, response.text
            fetched[learner, assignment] = {"stamp": stamp, "html": response.json()["content"]}
    timings["fetch feedback"] = time.monotonic() - started - sum(timings.values())
    timings["whole cycle"] = time.monotonic() - started
    print("\n".join(f"{step}: {seconds:.0f} s" for step, seconds in timings.items()))
    return {
        "listed": listed,
        "printed": printed,
        "collected": collected,
        "graded": graded,
        "fetched": fetched,
        "timings": timings,
    }


def gradebook(hub):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{hub.settings.grading_dir / 'gradebook.db'}")


def test_learners_see_the_released_assignments_in_their_panel(hub_class, cycle):
    """Does a learner's Assignments panel list both released assignments of the course, with their due dates?"""
    assert cycle["listed"]["success"], cycle["listed"]
    released = {a["assignment_id"]: a for a in cycle["listed"]["value"] if a["status"] == "released"}
    assert set(released) == {FREEZE, QUIZ}
    assert all(a["course_id"] == hub_class.settings.course_id for a in released.values())


def test_grades_in_the_gradebook_are_what_each_learner_earned(hub_class, cycle):
    """Does the gradebook hold every learner's real score: all right 20/20 and 10/10, Bo's four tasks 8/20
    and seven quiz answers 7/10?"""
    ada, bo = hub_class.learners
    with gradebook(hub_class) as gb:
        scores = {(s, a): gb.find_submission(a, s) for s in (ada, bo) for a in (FREEZE, QUIZ)}
        assert (scores[ada, FREEZE].score, scores[ada, FREEZE].max_score) == (20, 20)
        assert (scores[bo, FREEZE].score, scores[bo, FREEZE].max_score) == (8, 20)
        assert (scores[ada, QUIZ].score, scores[ada, QUIZ].max_score) == (10, 10)
        assert (scores[bo, QUIZ].score, scores[bo, QUIZ].max_score) == (7, 10)


def test_each_learner_fetched_their_own_feedback(hub_class, cycle):
    """Did each learner fetch, through the panel, a feedback page for each assignment with their own score,
    stamped with their own submission's time?"""
    ada, bo = hub_class.learners
    expected = {(ada, FREEZE): "20", (bo, FREEZE): "8", (ada, QUIZ): "10", (bo, QUIZ): "7"}
    for (learner, assignment), score in expected.items():
        page = cycle["fetched"][learner, assignment]
        text = re.sub(r"<[^>]+>", " ", page["html"])
        assert re.search(rf"Score:\s*{score}(\.0)?\s*/\s*(20|10)", text), (learner, assignment, text[:2000])
        submitted = hub_class.settings.grading_dir / "submitted" / learner / assignment / "timestamp.txt"
        assert page["stamp"] == submitted.read_text().strip()


def test_deadlines_are_kept_in_the_class_time_zone(hub_class, cycle):
    """Is the quiz handed in after its deadline recorded late, the assignment due next week on time, every
    submission stamped in the class's time zone (not UTC by surprise), and the score left as nbgrader's
    'none' late penalty says?"""
    from nbgrader.utils import parse_utc

    settings = hub_class.settings
    with gradebook(hub_class) as gb:
        assert gb.find_assignment(QUIZ).duedate == settings.deadline_utc(QUIZ)
        assert gb.find_assignment(FREEZE).duedate == settings.deadline_utc(FREEZE)
        for learner in hub_class.learners:
            assert gb.find_submission(QUIZ, learner).total_seconds_late > 3000
            assert gb.find_submission(FREEZE, learner).total_seconds_late == 0
            stamp = (settings.grading_dir / "submitted" / learner / QUIZ / "timestamp.txt").read_text().strip()
            assert stamp.endswith((" CET", " CEST")), stamp  # Europe/Berlin, hub/class.toml
            assert abs((parse_utc(stamp) - gb.find_submission(QUIZ, learner).timestamp).total_seconds()) < 1
        assert gb.find_submission(QUIZ, hub_class.learners[0]).score == 10  # late, not penalised


def test_only_the_instructor_has_formgrader_and_sees_the_submissions(hub_class, cycle):
    """Does the instructor's formgrader list both learners' graded submissions, while a learner's server has no
    formgrader at all?"""
    teacher, (ada, bo) = hub_class.instructor, hub_class.learners
    response = hub_class.server(teacher, "GET", f"formgrader/api/submissions/{FREEZE}")
    assert response.status_code == 200, response.text
    seen = {s["student"]: s for s in response.json()}
    assert set(seen) == {ada, bo} and seen[ada]["score"] == 20 and seen[bo]["score"] == 8
    assert hub_class.server(ada, "GET", "formgrader").status_code == 404
    assert hub_class.server(ada, "GET", f"formgrader/api/submissions/{FREEZE}").status_code == 404


def test_the_hub_logs_users_in_with_their_linux_password(hub_class):
    """Does the hub accept a class member's own password and refuse a wrong one, or an account outside the class?"""
    ada = hub_class.learners[0]
    tries = [(ada, hub_class.passwords[ada], True), (ada, "wrong", False), ("root", "x", False)]
    for name, password, accepted in tries:
        session = requests.Session()
        session.get(f"{hub_class.settings.url}/hub/login", timeout=30)
        form = {"username": name, "password": password, "_xsrf": session.cookies.get("_xsrf", "")}
        response = session.post(f"{hub_class.settings.url}/hub/login", data=form, allow_redirects=False, timeout=60)
        assert (response.status_code == 302) == accepted, (name, response.status_code)


def test_the_cycle_takes_minutes_not_an_hour(cycle):
    """Does the whole cycle for two learners, servers included, take less than ten minutes (about four on
    two busy cores)?"""
    assert cycle["timings"]["whole cycle"] < 600, cycle["timings"]


# -- privacy: Bo tries to get at Ada's work ---------------------------------------------------------------


def ada_submission(hub_class) -> Path:
    """Ada's own submission of freeze-it-yourself in the inbound folder (the test, as root, knows its name)."""
    ada = hub_class.learners[0]
    inbound = hub_class.settings.course_exchange_dir / "inbound"
    (folder,) = [p for p in inbound.glob(f"{ada}+{FREEZE}+*") if p.stat().st_uid == ada_uid(ada)]
    return folder


@pytest.mark.parametrize(
    "attempt",
    [
        "ls {inbound}",
        "cat {submission}/{freeze}.ipynb",
        "cat {submission}/submission_secret.txt",
        "echo cheat > {submission}/{freeze}.ipynb",
        "rm -rf {submission}",
        "mv {submission} {inbound}/{bo}+{freeze}+2020-01-01",
        "ls {feedback}",
        "ls /home/{ada}",
        "cat /home/{ada}/{freeze}/{freeze}.ipynb",
        "ls /home/{ada}/.local/share/jupyter/nbgrader_cache",
        "ls {grading}",
        "cat {grading}/gradebook.db",
        "cat {grading}/submitted/{ada}/{freeze}/{freeze}.ipynb",
        "mv {course} {exchange}/taken",
        "mkdir {exchange}/another-course",
        "touch {outbound}/{freeze}/extra.ipynb",
        "rm -rf {outbound}/{freeze}",
    ],
)
def test_a_learner_cannot_read_change_or_delete_another_learners_work(hub_class, cycle, attempt):
    """Does every attempt by Bo, in his own shell, on Ada's submission, feedback, home, the gradebook or the
    exchange, fail for want of permission, leaving Ada's work as it was?"""
    settings, (ada, bo) = hub_class.settings, hub_class.learners
    submission = ada_submission(hub_class)
    before = (submission / f"{FREEZE}.ipynb").read_bytes()
    places = dict(
        inbound=settings.course_exchange_dir / "inbound",
        outbound=settings.course_exchange_dir / "outbound",
        feedback=settings.course_exchange_dir / "feedback",
        course=settings.course_exchange_dir,
        exchange=settings.exchange_dir,
        grading=settings.grading_dir,
        submission=submission,
        freeze=FREEZE,
        ada=ada,
        bo=bo,
    )
    quoted = {key: shlex.quote(str(value)) for key, value in places.items()}
    result = hub_class.shell(bo, attempt.format(**quoted))
    assert result.returncode != 0, f"{attempt!r} worked for another learner:\n{result.stdout}"
    assert "Permission denied" in result.stderr or "Operation not permitted" in result.stderr, result.stderr
    assert (submission / f"{FREEZE}.ipynb").read_bytes() == before
    assert settings.course_exchange_dir.is_dir() and (settings.course_exchange_dir / "outbound" / FREEZE).is_dir()


def test_a_learner_cannot_hand_in_work_under_another_learners_name(hub_class, cycle):
    """When Bo hands his notebook in as Ada, through nbgrader in his own JupyterLab or by writing a folder
    named for her into the inbound folder himself, is the first refused, does collecting again keep Ada's own
    submission and say why, and would stock nbgrader's collect have taken Bo's (the hole was real)?"""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.collect import ExchangeCollect
    from traitlets.config import Config

    settings, teacher, (ada, bo) = hub_class.settings, hub_class.instructor, hub_class.learners
    own_stamp = (settings.grading_dir / "submitted" / ada / FREEZE / "timestamp.txt").read_text()

    # Through nbgrader, in Bo's own server (a terminal there has the same environment as this kernel).
    printed = hub_class.run_in_kernel(
        bo,
        "import os, subprocess\n"
        f"done = subprocess.run(['nbgrader', 'submit', {FREEZE!r}, '--student', {ada!r}], "
        "cwd=os.path.expanduser('~'), capture_output=True, text=True)\n"
        "print('exit', done.returncode)\n",
    )
    assert "exit 0" not in printed, printed
    # Around nbgrader: a folder of his own, named for Ada, later than hers.
    inbound = settings.course_exchange_dir / "inbound"
    forged = inbound / f"{ada}+{FREEZE}+2099-01-01 12:00:00.000000 CET+forged"
    made = hub_class.shell(
        bo,
        f"mkdir {shlex.quote(str(forged))} && cp ~/{FREEZE}/{FREEZE}.ipynb {shlex.quote(str(forged))}/ && "
        f"echo '2099-01-01 12:00:00.000000 CET' > {shlex.quote(str(forged / 'timestamp.txt'))}",
    )
    assert made.returncode == 0, made.stderr  # the inbound folder takes submissions from everyone

    config = Config()
    config.CourseDirectory.course_id = settings.course_id
    config.CourseDirectory.assignment_id = FREEZE
    config.CourseDirectory.db_url = f"sqlite:///{settings.grading_dir / 'gradebook.db'}"
    config.Exchange.root = str(settings.exchange_dir)
    coursedir, authenticator = CourseDirectory(config=config), Authenticator(config=config)
    stock = ExchangeCollect(coursedir=coursedir, authenticator=authenticator, config=config)
    stock.init_src()
    (taken,) = [r for r in stock.src_records if r["username"] == ada]
    assert taken["filename"] == forged.name  # stock nbgrader collects Bo's folder as Ada's work

    again = hub_class.as_user(teacher, ["nbgrader", "collect", FREEZE, "--update"])
    assert f"names learner '{ada}' but belongs to '{bo}'" in again.stdout + again.stderr
    assert (settings.grading_dir / "submitted" / ada / FREEZE / "timestamp.txt").read_text() == own_stamp


def ada_uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def test_make_class_starts_the_hub_and_ctrl_c_stops_everything(tmp_path_factory):
    """Does the README's `make class` set the class up, say where everything is and when it is due, serve the
    hub, and does Ctrl-C stop the hub, its proxy and every server, leaving no process behind?"""
    reason = why_no_class()
    if reason:
        if running_in_ci():
            pytest.fail(f"the class test is required in CI: {reason}")
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    teacher, learner, group = f"flt{tag}-teach", f"flt{tag}-ada", f"flt{tag}-instructors"
    class_dir = Path(tempfile.mkdtemp(prefix="freezelab-class-", dir="/var/tmp"))
    class_dir.chmod(0o755)
    port = free_port()
    arguments = (
        f"--port {port} --hub-port {free_port()} --proxy-api-port {free_port()} "
        f"--instructor {teacher} --learner {learner} --instructors-group {group}"
    )
    make = subprocess.Popen(
        ["make", "class", f"CLASS_DIR={class_dir}", f"CLASS_ARGS={arguments}"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        for line in make.stdout:
            lines.append(line)
            if "JupyterHub on" in line:
                break
        deadline = time.monotonic() + 90
        answer = None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/hub/api", timeout=5).json()
            except (requests.ConnectionError, ValueError):
                time.sleep(0.5)
        printed = "".join(lines)
        assert answer and "version" in answer, printed
        assert f"instructors:  {teacher}" in printed and f"learners:     {learner}" in printed
        assert "due:          freeze-it-yourself 2027-01-15 23:59:00 Europe/Berlin (2027-01-15 22:59:00 UTC)" in printed
        assert (class_dir / "passwords.txt").stat().st_mode & 0o077 == 0
        login = requests.post(
            f"http://127.0.0.1:{port}/hub/login",
            data={"username": learner, "password": "not the password"},
            timeout=30,
        )
        assert login.status_code == 403
    finally:
        with suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGINT)
        try:
            make.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=30)
        make.stdout.close()
        leftovers = [pid for name in (teacher, learner) for pid in uid_processes(name)]
        for name in (teacher, learner):
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", group], capture_output=True)
        hub_left = hub_processes(class_dir)
        shutil.rmtree(class_dir, ignore_errors=True)
    assert not leftovers and not hub_left, (leftovers, hub_left)


def uid_processes(name: str) -> list[int]:
    try:
        return processes_of(pwd.getpwnam(name).pw_uid)
    except KeyError:
        return []


def hub_processes(class_dir: Path) -> list[int]:
    """Processes still running from this class's hub: its proxy and hub name the class folder's files."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(class_dir) in command or str(class_dir) in environ:
                found.append(int(entry.name))
    return found

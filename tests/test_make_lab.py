"""The course's two front doors, started exactly as the README says: `make lab` and `make instructor`.

Each door's JupyterLab is started once per module through `make` (with the README's `LAB_ARGS`),
asked through its REST API what it serves, and the learner's door is also looked at in Chromium:
the file browser, the nbgrader menus and sidebars, the news pop-up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from freezelab.quiz import browser

REPO = Path(__file__).resolve().parent.parent
START_PAGE = "lessons/00-start-here.ipynb"
LEARNER_TOP_LEVEL = {"lessons", "freeze-it-yourself", "mastery-quiz"}
INSTRUCTOR_TOOLS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                    "@jupyter/nbgrader:course-list")
NEWS = "@jupyterlab/apputils-extension:announcements"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Door:
    port: int
    token: str
    opened_url: str
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        separator = "&" if "?" in path else "?"
        try:
            with urllib.request.urlopen(f"{self.url}{path}{separator}token={self.token}", timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""

    def contents(self, path: str = "") -> set[str]:
        status, body = self.get(f"/api/contents/{path}")
        assert status == 200, (path, status)
        return {item["name"] for item in json.loads(body)["content"]}

    def page_config(self) -> dict:
        status, body = self.get("/lab")
        assert status == 200
        match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', body, re.S)
        assert match, "no page config in /lab"
        return json.loads(match.group(1))


def start_door(target: str, tmp_path: Path) -> Iterator[Door]:
    """Run `make <target>` with LAB_ARGS that record the URL it opens instead of opening a browser."""
    port, token = free_port(), "freezelab-test"
    opened = tmp_path / f"{target}-opened-url.txt"
    script = tmp_path / "record_url.py"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[2]).write_text(sys.argv[1])\n")
    recorder = f"{sys.executable} {script} %s {opened}"
    lab_args = (f"--port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} "
                f"--ServerApp.use_redirect_file=False '--ServerApp.browser={recorder}'")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / f"{target}-runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / f"{target}-user-config"))
    server = subprocess.Popen(["make", target, f"LAB_ARGS={lab_args}"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not opened.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
        assert opened.exists(), f"JupyterLab opened no page; it printed:\n{_output(server)}"
        yield Door(port, token, opened.read_text(), server)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        server.stdout.close()


@pytest.fixture(scope="module")
def learner_door(tmp_path_factory) -> Iterator[Door]:
    yield from start_door("lab", tmp_path_factory.mktemp("learner-door"))


@pytest.fixture(scope="module")
def instructor_door(tmp_path_factory) -> Iterator[Door]:
    yield from start_door("instructor", tmp_path_factory.mktemp("instructor-door"))


def test_make_lab_opens_the_start_page(learner_door):
    """Does `make lab` send the browser to the start page notebook, and serve it?"""
    assert re.match(rf"http://(127\.0\.0\.1|localhost):{learner_door.port}/lab/tree/{START_PAGE}\?token=",
                    learner_door.opened_url), learner_door.opened_url
    status, body = learner_door.get(f"/api/contents/{START_PAGE}")
    assert status == 200 and json.loads(body)["content"]["cells"], "the start page is empty"


def test_the_learner_door_serves_learner_notebooks_and_no_key(learner_door):
    """Does the learner's door serve only the learner notebooks: no masters, no question bank,
    no formgrader, with the instructor's lab extensions and the news pop-up off?"""
    assert learner_door.contents() == LEARNER_TOP_LEVEL
    for hidden in ("solutions", "quizzes", "../solutions", "autograder"):
        status, _ = learner_door.get(f"/api/contents/{hidden}")
        assert status in (404, 400, 403), (hidden, status)
    status, _ = learner_door.get("/formgrader")
    assert status == 404
    disabled = learner_door.page_config()["disabledExtensions"]
    for extension in (*INSTRUCTOR_TOOLS, NEWS):
        assert extension in disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled  # learners keep Validate
    status, body = learner_door.get("/lab/api/settings/@jupyterlab/notebook-extension:tracker")
    # The door's overrides become the defaults: a closed tab frees its kernel.
    assert status == 200 and json.loads(body)["schema"]["properties"]["kernelShutdown"]["default"] is True


def test_the_instructor_door_serves_everything(instructor_door):
    """Does `make instructor` serve the masters, the bank and the grading folder, with formgrader
    and Create Assignment on and the news pop-up off?"""
    assert {"solutions", "quizzes", "notebooks", "autograder"} <= instructor_door.contents()
    assert "questions.yaml" in instructor_door.contents("quizzes")
    assert re.search(rf"/lab/tree/notebooks/{START_PAGE}\?token=", instructor_door.opened_url)
    status, _ = instructor_door.get("/formgrader")
    assert status == 200
    disabled = instructor_door.page_config()["disabledExtensions"]
    assert NEWS in disabled and not set(INSTRUCTOR_TOOLS) & set(disabled)


@pytest.mark.browser
def test_the_learner_door_in_chromium_shows_no_instructor_tool(learner_door):
    """In Chromium, does the learner's JupyterLab open on the start page with the learner folders
    in the file browser, no solutions/, no Formgrader or Create Assignment, and no news pop-up?"""
    chromium = browser.find_chromium()
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Chromium not found; in CI the browser tests must run")
        pytest.skip("Chromium not found (apt-get install chromium)")
    artifacts = Path(__file__).parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    with browser.chromium_page(chromium) as page:
        page.goto(learner_door.opened_url, timeout=120_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
        page.wait_for_timeout(2_000)  # late plugins (nbgrader's, the news toast) have loaded
        items = ".jp-DirListing-item .jp-DirListing-itemText"
        lessons = {p.name for p in (REPO / "notebooks" / "lessons").glob("*.ipynb")}
        assert set(page.locator(items).all_inner_texts()) == lessons  # the start page's folder
        page.locator(".jp-BreadCrumbs-home").first.click()  # the top of what a learner can browse
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n", arg=[items, len(LEARNER_TOP_LEVEL)],
            timeout=30_000,
        )
        assert set(page.locator(items).all_inner_texts()) == LEARNER_TOP_LEVEL
        assert "Freezing layers in PyTorch: start here" in page.locator(".jp-Notebook").inner_text()
        page.screenshot(path=str(artifacts / "learner-door.png"))
        assert page.locator(".jp-toast-message, .Toastify__toast").count() == 0  # no news pop-up
        sidebars = " ".join(page.locator(".jp-SideBar .lm-TabBar-tab").evaluate_all(
            "tabs => tabs.map(t => (t.title || '') + ' ' + (t.getAttribute('data-id') || ''))"))
        assert "create_assignment" not in sidebars.lower() and "create assignment" not in sidebars.lower()
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        if "Nbgrader" in menus:
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
            items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
            assert not any("Formgrader" in item or "Course" in item for item in items), items
            page.keyboard.press("Escape")


def _output(process: subprocess.Popen) -> str:
    if process.poll() is None:
        return "(still running)"
    return process.stdout.read() if process.stdout else ""

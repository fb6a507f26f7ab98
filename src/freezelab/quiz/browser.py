"""Driving the quizzes in a real JupyterLab through headless Chromium (Playwright).

Used by the browser test (``tests/test_quiz_browser.py``) and the feedback-latency benchmark
(``benchmarks/bench_quiz_feedback.py``), so both exercise exactly the same steps. Nothing here
runs in a learner's notebook; Playwright is imported only when a browser is launched.

JupyterLab is started on a free port with a random token, serving a scratch folder the caller
fills (a copy of the notebook: nothing in the repository is written), with its own runtime,
config and workspace folders so it neither reads nor writes the user's Jupyter settings.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM_VARIABLE = "FREEZELAB_CHROMIUM"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def find_chromium() -> Path | None:
    """The Chromium to drive: ``$FREEZELAB_CHROMIUM``, ``/usr/bin/chromium``, or one on PATH."""
    candidates = [
        os.environ.get(CHROMIUM_VARIABLE),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen

    def notebook_url(self, relative: str) -> str:
        return f"{self.url}/lab/tree/{relative}?token={self.token}"

    def log_tail(self, characters: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else ""


@contextmanager
def running_lab(
    root: Path,
    scratch: Path,
    environment: dict[str, str] | None = None,
    startup_timeout: float = 120,
    door: str | None = None,
) -> Iterator[LabServer]:
    """Start JupyterLab serving ``root``; stop it and every kernel it started on exit.

    With ``door`` ("learner" or "instructor"), the course's settings for that door
    (:mod:`freezelab.lab`) apply as well: its pre-save hook, extensions and lab settings.
    """
    port, token = free_port(), secrets.token_hex(16)
    for name in ("runtime", "config/labconfig", "data", "workspaces"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    # No "would you like news?" pop-up over the page (and no news fetched from the internet).
    (scratch / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    env = dict(os.environ)
    env.update(environment or {})
    env.update(
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTER_CONFIG_DIR=str(scratch / "config"),
        JUPYTER_DATA_DIR=str(scratch / "data"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    door_options: list[str] = []
    if door is not None:
        from freezelab.lab import DOORS, lab_command

        door_command, door_env = lab_command(DOORS[door])
        env["JUPYTER_CONFIG_PATH"] = door_env["JUPYTER_CONFIG_PATH"]
        door_options = [option for option in door_command if option.startswith("--LabApp.app_settings_dir=")]
    log = scratch / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *door_options,
    ]
    with open(log, "w") as log_stream:
        process = subprocess.Popen(
            command, cwd=root, env=env, stdout=log_stream, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, root, log, process)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterLab did not start in {startup_timeout} s:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.3)
        yield server
    finally:
        # The server runs in its own session: this stops it and the kernels it started, and
        # nothing else.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def chromium_page(chromium: Path, width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A Playwright page in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            browser.close()


# ---------------------------------------------------------------------------- steps on the page

# The notebook in view: JupyterLab keeps other open notebooks in hidden tabs.
CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"
QUIZ = f"{CURRENT} .widget-vbox.freezelab-quiz"


def question_box(question_id: str) -> str:
    return f"{QUIZ} .freezelab-q-{question_id}"


def open_and_run_notebook(page: Any, server: LabServer, relative: str, timeout_ms: int = 240_000) -> None:
    """Open the notebook alone (``?reset``: no tabs restored from an earlier page), wait until its
    kernel is idle, run all cells, wait for a quiz widget. The timeout allows for a loaded machine."""
    page.goto(server.notebook_url(relative) + "&reset", timeout=timeout_ms)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    wait_for_idle_kernel(page, timeout_ms)
    run_all_cells(page)
    # Cells sent while the kernel connection was still settling can be dropped: if nothing has
    # started after a while, ask again (running the notebook twice is harmless).
    try:
        page.wait_for_selector(
            ".jp-InputPrompt:has-text('[*]'), .jp-InputPrompt:has-text('[1]')", state="attached", timeout=15_000
        )
    except Exception:  # Playwright's TimeoutError
        wait_for_idle_kernel(page, timeout_ms)
        run_all_cells(page)
    # "attached", not "visible": JupyterLab skips rendering cells scrolled out of view
    # (content-visibility), and Playwright scrolls each element into view before clicking it.
    page.wait_for_selector(QUIZ, state="attached", timeout=timeout_ms)


def unlock_graded_key(page: Any, timeout_ms: int = 10_000) -> None:
    """In a quiz that holds a graded key (lesson 07), confirm twice that the graded quiz is handed
    in, so verdicts and solutions show."""
    button = page.locator(f"{QUIZ} button.freezelab-unlock")
    button.click()
    page.wait_for_function(
        "sel => document.querySelector(sel).innerText.includes('Click again')",
        arg=f"{QUIZ} button.freezelab-unlock",
        timeout=timeout_ms,
    )
    button.click()
    page.wait_for_selector(f"{QUIZ} .freezelab-lock", state="hidden", timeout=timeout_ms)


def wait_for_idle_kernel(page: Any, timeout_ms: int = 120_000) -> None:
    """Wait until the status bar reports the notebook's kernel as connected and idle."""
    page.wait_for_function(
        r"""() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                  .some(item => /\|\s*Idle/.test(item.textContent))""",
        timeout=timeout_ms,
    )


def run_all_cells(page: Any) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def choose(page: Any, question_id: str, option_text: str) -> None:
    """Click the radio button whose label ends with ``option_text`` (letters may be shuffled)."""
    labels = page.locator(f"{question_box(question_id)} .freezelab-options label")
    target = labels.filter(has_text=option_text)
    for index in range(labels.count()):
        label = labels.nth(index)
        if label.inner_text().split(". ", 1)[-1].strip() == option_text:
            target = label
            break
    target.locator("input").click()


def wait_for_empty_feedback(page: Any, question_id: str, timeout_ms: int = 10_000) -> None:
    page.wait_for_function(
        "sel => { const f = document.querySelector(sel); return f && !f.querySelector('.fl-verdict'); }",
        arg=f"{question_box(question_id)} .freezelab-feedback",
        timeout=timeout_ms,
    )


def check_and_time(page: Any, question_id: str, timeout_ms: int = 10_000) -> tuple[str, float]:
    """Click Check with the mouse; return the feedback text and the milliseconds from the click
    event to the verdict appearing in the page (measured in the page with a MutationObserver)."""
    box = question_box(question_id)
    page.evaluate(
        """sel => {
            const box = document.querySelector(sel);
            const feedback = box.querySelector('.freezelab-feedback');
            const button = box.querySelector('button.freezelab-check');
            window.__flLatency = null;
            let clicked = null;
            button.addEventListener('click', () => { clicked = performance.now(); },
                                    {capture: true, once: true});
            const observer = new MutationObserver(() => {
                if (clicked !== null && feedback.querySelector('.fl-verdict')) {
                    window.__flLatency = performance.now() - clicked;
                    observer.disconnect();
                }
            });
            observer.observe(feedback, {childList: true, subtree: true, characterData: true});
        }""",
        box,
    )
    page.click(f"{box} button.freezelab-check")
    page.wait_for_function("window.__flLatency !== null", timeout=timeout_ms)
    latency = float(page.evaluate("window.__flLatency"))
    text = page.locator(f"{box} .freezelab-feedback .fl-verdict").inner_text()
    return text, latency


def score_text(page: Any) -> str:
    return page.locator(f"{QUIZ} .freezelab-score .fl-score").first.inner_text()

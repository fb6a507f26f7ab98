"""`make lab`, the README's first command, really starts JupyterLab on the course's start page."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
START_PAGE = "notebooks/lessons/00-start-here.ipynb"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_lab_opens_the_start_page(tmp_path):
    """Does `make lab` serve the repository and send the browser to the start page notebook?"""
    port, token = free_port(), "freezelab-test"
    opened = tmp_path / "opened-url.txt"
    # The "browser" records the URL JupyterLab asks it to open, instead of opening a window.
    script = tmp_path / "record_url.py"
    script.write_text(f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n")
    recorder = f"{sys.executable} {script} %s"
    lab_args = (f"--port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token} "
                f"--ServerApp.use_redirect_file=False '--ServerApp.browser={recorder}'")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(["make", "lab", f"LAB_ARGS={lab_args}"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not opened.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
        assert opened.exists(), f"JupyterLab opened no page; it printed:\n{_output(server)}"
        url = opened.read_text()
        assert re.match(rf"http://(127\.0\.0\.1|localhost):{port}/lab/tree/{START_PAGE}\?token=", url), url

        api = f"http://127.0.0.1:{port}/api/contents/{START_PAGE}?token={token}"
        with urllib.request.urlopen(api, timeout=30) as response:
            model = json.load(response)
        assert model["type"] == "notebook"
        assert model["content"]["cells"], "the start page is empty"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _output(process: subprocess.Popen) -> str:
    if process.poll() is None:
        return "(still running)"
    return process.stdout.read() if process.stdout else ""

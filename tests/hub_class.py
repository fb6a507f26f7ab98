"""A real class on a real JupyterHub, for the tests: accounts made for the test, the hub on free loopback
ports, and the REST calls a learner's JupyterLab makes (nbgrader's Assignments panel, the contents API,
a kernel). Everything it starts or creates is stopped and removed by :meth:`HubClass.close`.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import nbformat
import requests
from dateutil import tz
from nbgrader.utils import is_grade, is_solution

from freezelab.hub.classroom import (
    CLASS_FILE,
    HUB_DIR,
    PROXY,
    SETTINGS_VARIABLE,
    VENV_BIN,
    ClassError,
    ClassSettings,
    account_exists,
    as_user,
    check_reachable,
    group_exists,
    set_up,
)
from freezelab.paths import REPO_ROOT, SOLUTIONS_DIR

WALL_CLOCK = "%Y-%m-%d %H:%M:%S"


def why_no_class() -> str | None:
    """Why a class cannot be run on this machine, or None when it can."""
    if os.geteuid() != 0:
        return "a class creates Linux accounts and runs servers as them: needs root"
    for tool in ("useradd", "userdel", "runuser", "chpasswd", "groupadd"):
        if not shutil.which(tool) and not Path("/usr/sbin", tool).exists():
            return f"{tool} is missing"
    if not PROXY.exists():
        return f"{PROXY} is missing (make setup-hub installs the proxy from npm)"
    try:
        check_reachable(REPO_ROOT)
    except ClassError as error:
        return str(error)
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answered(master: Path, learner_copy: dict, grade_ids: set[str] | None) -> dict:
    """The learner's notebook with the master's solution in each answer cell named in ``grade_ids``
    (every answer cell when None), the solution markers taken out as a learner would never type them."""
    solutions = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if is_solution(cell) and not is_grade(cell):
            lines = [line for line in cell.source.splitlines() if "### BEGIN SOLUTION" not in line]
            lines = [line for line in lines if "### END SOLUTION" not in line]
            solutions[cell.metadata["nbgrader"]["grade_id"]] = "\n".join(lines)
    for cell in learner_copy["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions and (grade_ids is None or grade_id in grade_ids):
            cell["source"] = solutions[grade_id]
    return learner_copy


@dataclass
class HubClass:
    """One instructor and two learners on a hub of their own."""

    settings: ClassSettings
    token: str
    passwords: dict[str, str]
    log: Path
    hub: subprocess.Popen | None = None
    created_accounts: list[str] = field(default_factory=list)
    created_group: bool = False

    @property
    def instructor(self) -> str:
        return self.settings.instructors[0]

    @property
    def learners(self) -> list[str]:
        return self.settings.learners

    # -- lifecycle -------------------------------------------------------------------------------
    @classmethod
    def create(cls, deadlines: dict[str, timedelta]) -> HubClass:
        tag = secrets.token_hex(3)
        names = [f"flt{tag}-teach", f"flt{tag}-ada", f"flt{tag}-bo"]
        for name in names:
            assert not account_exists(name), f"account {name} exists already"
        class_dir = Path(tempfile.mkdtemp(prefix="freezelab-class-", dir="/var/tmp"))
        class_dir.chmod(0o755)
        zone = tz.gettz(ClassSettings.from_file(CLASS_FILE, class_dir=str(class_dir)).timezone)
        now = datetime.now(zone)
        settings = ClassSettings.from_file(
            CLASS_FILE,
            class_dir=str(class_dir),
            port=free_port(),
            hub_port=free_port(),
            proxy_api_port=free_port(),
            instructors=names[:1],
            learners=names[1:],
            instructors_group=f"flt{tag}-instructors",
            deadlines={name: (now + offset).strftime(WALL_CLOCK) for name, offset in deadlines.items()},
        )
        test_class = cls(
            settings=settings,
            token=secrets.token_hex(32),
            passwords={name: secrets.token_urlsafe(12) for name in names},
            log=class_dir / "hub-test.log",
        )
        try:
            test_class.created_group = True
            test_class.created_accounts = names
            set_up(settings, test_class.passwords)
            test_class.start_hub()
        except BaseException:
            test_class.close()
            raise
        return test_class

    def start_hub(self) -> None:
        env = dict(os.environ, **{SETTINGS_VARIABLE: str(self.settings.settings_file)})
        env["FREEZELAB_HUB_TEST_TOKEN"] = self.token
        with open(self.log, "w") as log:
            self.hub = subprocess.Popen(
                [str(VENV_BIN / "jupyterhub"), "-f", str(HUB_DIR / "jupyterhub_config.py")],
                cwd=self.settings.hub_state_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.hub.poll() is None, f"the hub exited at start:\n{self.log_tail()}"
            with suppress(requests.ConnectionError):
                if self.api("GET", "/users").status_code == 200:
                    return
            time.sleep(0.5)
        raise AssertionError(f"the hub did not answer within 90 s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def close(self) -> None:
        """Stop every server and the hub, then remove the accounts, the group and the folders; never raises."""
        if self.hub and self.hub.poll() is None:
            for user in self.settings.instructors + self.settings.learners:
                with suppress(Exception):
                    self.api("DELETE", f"/users/{user}/server", timeout=30)
            self.hub.send_signal(signal.SIGTERM)  # the hub stops the proxy and every server it started
            try:
                self.hub.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.hub.pid, signal.SIGKILL)
                self.hub.wait(timeout=30)
        for name in self.created_accounts:
            with suppress(KeyError):
                uid = pwd.getpwnam(name).pw_uid
                for pid in processes_of(uid):
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if account_exists(name):
                subprocess.run(["userdel", "--remove", name], capture_output=True)
        if self.created_group and group_exists(self.settings.instructors_group):
            subprocess.run(["groupdel", self.settings.instructors_group], capture_output=True)
        if os.environ.get("FREEZELAB_KEEP_TEST_CLASS") != "1":  # kept for a post-mortem only when asked
            shutil.rmtree(self.settings.class_dir, ignore_errors=True)

    # -- the hub's REST API ----------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.settings.url}/hub/api{path}", headers=headers, **kwargs)

    def start_servers(self, users: list[str]) -> None:
        """Start each user's server (all at once, as a class arriving does) and wait until all are ready."""
        for user in users:
            response = self.api("POST", f"/users/{user}/server")
            assert response.status_code in (201, 202), response.text
        waiting = set(users)
        deadline = time.monotonic() + 180
        while waiting and time.monotonic() < deadline:
            for user in sorted(waiting):
                server = self.api("GET", f"/users/{user}").json().get("servers", {}).get("")
                if server and server.get("ready"):
                    waiting.discard(user)
            time.sleep(0.5)
        assert not waiting, f"{', '.join(sorted(waiting))}: no server within 180 s:\n{self.log_tail()}"

    def server(self, user: str, method: str, path: str, **kwargs) -> requests.Response:
        """A request to ``user``'s own server, through the proxy, as JupyterLab makes it."""
        kwargs.setdefault("timeout", 300)
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, f"{self.settings.url}/user/{user}/{path}", headers=headers, **kwargs)

    def panel(self, user: str, action: str, assignment: str) -> dict:
        """What the Assignments panel's Fetch / Submit / Fetch Feedback buttons do."""
        data = {"course_id": self.settings.course_id, "assignment_id": assignment}
        response = self.server(user, "POST", f"assignments/{action}", data=data)
        assert response.status_code == 200, response.text
        return response.json()

    def read_notebook(self, user: str, path: str) -> dict:
        response = self.server(user, "GET", f"api/contents/{path}", params={"content": "1"})
        assert response.status_code == 200, f"{user}: {path}: {response.status_code} {response.text[:300]}"
        return response.json()["content"]

    def write_notebook(self, user: str, path: str, notebook: dict) -> None:
        model = {"type": "notebook", "format": "json", "content": notebook}
        response = self.server(user, "PUT", f"api/contents/{path}", json=model)
        assert response.status_code in (200, 201), response.text

    def answer_assignment(self, user: str, assignment: str, grade_ids: set[str] | None) -> None:
        path = f"{assignment}/{assignment}.ipynb"
        notebook = self.read_notebook(user, path)
        master = SOLUTIONS_DIR / assignment / f"{assignment}.ipynb"
        self.write_notebook(user, path, answered(master, notebook, grade_ids))

    def run_in_kernel(self, user: str, code: str) -> str:
        """Run ``code`` in a new kernel of ``user``'s server (as that user); its printed output."""
        import websocket

        response = self.server(user, "POST", "api/kernels", json={"name": "python3"})
        assert response.status_code == 201, response.text
        kernel = response.json()["id"]
        url = f"ws://{self.settings.ip}:{self.settings.port}/user/{user}/api/kernels/{kernel}/channels"
        channel = websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=120)
        try:
            msg_id = uuid.uuid4().hex
            channel.send(
                json.dumps(
                    {
                        "header": {
                            "msg_id": msg_id,
                            "msg_type": "execute_request",
                            "session": uuid.uuid4().hex,
                            "username": user,
                            "version": "5.3",
                            "date": datetime.now().isoformat(),
                        },
                        "parent_header": {},
                        "metadata": {},
                        "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                        "channel": "shell",
                        "buffers": [],
                    }
                )
            )
            printed, error = [], None
            while True:
                message = json.loads(channel.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = message["msg_type"]
                if kind == "stream":
                    printed.append(message["content"]["text"])
                elif kind == "error":
                    error = "\n".join(message["content"]["traceback"])
                elif kind == "execute_reply":
                    break
        finally:
            channel.close()
            self.server(user, "DELETE", f"api/kernels/{kernel}")
        assert error is None, f"{user}'s kernel: {error}"
        return "".join(printed)

    # -- commands, as each user --------------------------------------------------------------------
    def as_user(self, user: str, argv: list[str], timeout: float = 600, check: bool = True):
        result = as_user(self.settings, user, argv, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{user}: {' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def shell(self, user: str, script: str) -> subprocess.CompletedProcess[str]:
        return as_user(self.settings, user, ["bash", "-c", script], timeout=60)


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if entry.stat().st_uid == uid:
                    found.append(int(entry.name))
    return found

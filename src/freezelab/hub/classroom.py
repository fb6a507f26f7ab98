"""A class on one machine: its settings, its Linux accounts and folders, and the hub's configuration.

Everything that needs root happens here, once, before the hub starts (``python -m freezelab.hub setup``
or ``make class``): accounts and the instructors' group, private home folders, the exchange laid out so
that no learner can see or touch another's work (see :mod:`freezelab.hub.exchange`), the instructors'
grading folder, and the deadlines in the gradebook. :func:`configure_hub` is what
``hub/jupyterhub_config.py`` calls.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import sys
import sysconfig
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dateutil import tz

from freezelab.paths import REPO_ROOT, SOLUTIONS_DIR

HUB_DIR = REPO_ROOT / "hub"
CLASS_FILE = HUB_DIR / "class.toml"
PROXY = HUB_DIR / "node_modules" / ".bin" / "configurable-http-proxy"
VENV_BIN = Path(sys.executable).parent
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
SETTINGS_VARIABLE = "FREEZELAB_CLASS"  # the hub's config finds the class's settings file here
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PENALTIES = ("none", "zero")


class ClassError(RuntimeError):
    """Something about the class cannot work as asked; the message says what and how to fix it."""


@dataclass
class ClassSettings:
    """One class: who is in it, where its folders are, its time zone and deadlines, its ports."""

    class_dir: Path
    course_id: str = "freezing-layers"
    timezone: str = "UTC"
    instructors: list[str] = field(default_factory=list)
    learners: list[str] = field(default_factory=list)
    deadlines: dict[str, str] = field(default_factory=dict)
    late_penalty: str = "none"
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    # The Linux group of the instructors (owns inbound, reads submissions); default <course_id>-instructors.
    instructors_group: str = ""

    def __post_init__(self) -> None:
        self.instructors_group = self.instructors_group or f"{self.course_id}-instructors"

    @classmethod
    def from_file(cls, path: Path = CLASS_FILE, **overrides: Any) -> ClassSettings:
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ClassError(f"{path}: cannot read the class description: {error}") from error
        data.update({key: value for key, value in overrides.items() if value is not None})
        data.setdefault("class_dir", "/srv/freezelab-class")
        data["class_dir"] = Path(data["class_dir"]).resolve()
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ClassError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        settings = cls(**data)
        settings.validate()
        return settings

    def validate(self) -> None:
        if Path(self.class_dir).resolve().is_relative_to("/tmp"):
            raise ClassError(
                f"{self.class_dir}: a class folder under /tmp cannot work: the grading sandbox gives each "
                "kernel a private /tmp, which hides the users' Python there. Choose another "
                "(default /srv/freezelab-class)."
            )
        if tz.gettz(self.timezone) is None:
            raise ClassError(f"time zone {self.timezone!r} is not an IANA name such as 'Europe/Berlin'")
        if not self.instructors:
            raise ClassError("the class needs at least one instructor")
        for name in self.instructors + self.learners:
            if not USER_NAME.match(name):
                raise ClassError(f"{name!r} is not a usable Linux account name (lower case, digits, - and _)")
        both = set(self.instructors) & set(self.learners)
        if both:
            raise ClassError(f"{', '.join(sorted(both))}: both instructor and learner; choose one")
        if self.late_penalty not in PENALTIES:
            raise ClassError(f"late_penalty must be one of {PENALTIES}, not {self.late_penalty!r}")
        for assignment in self.deadlines:
            self.deadline_utc(assignment)  # raises with a clear message
            if assignment not in assignment_names():
                raise ClassError(f"deadline for {assignment!r}, which is not an assignment of solutions/")

    def deadline_text(self, assignment: str) -> str:
        """The deadline as nbgrader reads it: the wall-clock time and the zone's name."""
        return f"{self.deadlines[assignment]} {self.timezone}"

    def deadline_utc(self, assignment: str) -> datetime:
        from nbgrader.utils import parse_utc

        try:
            return parse_utc(self.deadline_text(assignment))
        except (ValueError, OverflowError) as error:
            raise ClassError(
                f"deadline of {assignment}: {self.deadlines[assignment]!r} is not a date like '2027-01-15 23:59:00'"
            ) from error

    # -- folders ---------------------------------------------------------------------------------
    @property
    def exchange_dir(self) -> Path:
        return self.class_dir / "exchange"

    @property
    def course_exchange_dir(self) -> Path:
        return self.exchange_dir / self.course_id

    @property
    def grading_dir(self) -> Path:
        """The instructors' grading state (gradebook, submissions, feedback): FREEZELAB_GRADING_DIR."""
        return self.class_dir / "grading"

    @property
    def hub_state_dir(self) -> Path:
        """The hub's own database, cookie secret and log: root's only."""
        return self.class_dir / "hub"

    @property
    def passwords_file(self) -> Path:
        """The passwords of the accounts the set-up created: root's only."""
        return self.class_dir / "passwords.txt"

    @property
    def settings_file(self) -> Path:
        return self.hub_state_dir / "class.json"

    @property
    def users_env_dir(self) -> Path:
        """The users' Python, when the course's own interpreter is out of their reach (see users_python)."""
        return self.class_dir / "python"

    @property
    def users_base_dir(self) -> Path:
        """A copy of the course's interpreter, for users_env_dir, when theirs is out of reach."""
        return self.class_dir / "python-base"

    @property
    def bridged(self) -> bool:
        """Do the users run a copy of the course's interpreter (see users_python)?"""
        return not reachable(Path(sys.executable).resolve())

    @property
    def users_bin(self) -> Path:
        return self.users_env_dir / "bin" if self.bridged else VENV_BIN

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def save(self) -> Path:
        self.hub_state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self) | {"class_dir": str(self.class_dir)}
        self.settings_file.write_text(json.dumps(data, indent=1) + "\n")
        return self.settings_file

    @classmethod
    def load(cls, path: Path) -> ClassSettings:
        data = json.loads(Path(path).read_text())
        data["class_dir"] = Path(data["class_dir"])
        return cls(**data)

    # -- what each user's server is given -----------------------------------------------------------
    def role_of(self, user: str) -> str:
        if user in self.instructors:
            return "instructor"
        if user in self.learners:
            return "learner"
        raise ClassError(f"{user} is not in the class")

    def course_root(self, instructor: str) -> Path:
        """nbgrader's course folder for an instructor: in their home, as formgrader needs it under the
        server's root; it holds a link to the masters (solutions/), everything else is absolute."""
        return Path(pwd.getpwnam(instructor).pw_dir) / self.course_id

    def environment(self, user: str) -> dict[str, str]:
        """The variables a user's server (and so their terminal and nbgrader) runs with."""
        role = self.role_of(user)
        env = {
            "PATH": f"{self.users_bin}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            # nbgrader_config.py, jupyter_server_config.json and labconfig/ of the role come first.
            "JUPYTER_CONFIG_PATH": str(HUB_DIR / role),
            "FREEZELAB_EXCHANGE_DIR": str(self.exchange_dir),
            "FREEZELAB_COURSE_ID": self.course_id,
            "FREEZELAB_TIMEZONE": self.timezone,
            "FREEZELAB_LATE_PENALTY": self.late_penalty,
        }
        if self.bridged:  # the copied interpreter's libpython (its own RUNPATH points at the original)
            env["LD_LIBRARY_PATH"] = str(self.users_base_dir / "lib")
        if role == "instructor":
            env["FREEZELAB_COURSE_ROOT"] = str(self.course_root(user))
            env["FREEZELAB_GRADING_DIR"] = str(self.grading_dir)
            env["FREEZELAB_RELEASE_DIR"] = str(self.grading_dir / "release")
        return env


def assignment_names() -> list[str]:
    from freezelab.grading.course import assignment_names as names

    return names()


# -- accounts -------------------------------------------------------------------------------------


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise ClassError(f"{' '.join(argv)} failed (exit {result.returncode}): {message}")
    return result


def account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def as_user(settings: ClassSettings, user: str, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user``, in their home folder, with the environment their server has."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "LOGNAME": user, "LANG": "C.UTF-8", **settings.environment(user)}
    env.update(kwargs.pop("env", {}))
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return subprocess.run(
        [runuser, "-u", user, "--", *argv], cwd=home, env=env, capture_output=True, text=True, **kwargs
    )


def ensure_accounts(settings: ClassSettings, passwords: dict[str, str] | None = None) -> dict[str, str]:
    """Create missing accounts (with the password given, or a random one) and the instructors' group.

    Returns the passwords of the accounts it created. Existing accounts keep their password; their
    home folders are closed to others (``go-rwx``), which loses nothing.
    """
    passwords = passwords or {}
    created = {}
    if not group_exists(settings.instructors_group):
        run(["groupadd", settings.instructors_group])
    for name in settings.instructors + settings.learners:
        if not account_exists(name):
            run(["useradd", "--create-home", "--shell", "/bin/bash", name])
            password = passwords.get(name) or secrets.token_urlsafe(12)
            run(["chpasswd"], input=f"{name}:{password}\n")
            created[name] = password
            if name not in passwords:  # written at once: a later failure must not lose it
                with open(settings.passwords_file, "a", opener=lambda p, f: os.open(p, f, 0o600)) as out:
                    out.write(f"{name} {password}\n")
        home = Path(pwd.getpwnam(name).pw_dir)
        if home.is_dir():
            home.chmod(stat.S_IMODE(home.stat().st_mode) & 0o700)
    members = set(grp.getgrnam(settings.instructors_group).gr_mem)
    for name in settings.instructors:
        if name not in members:
            run(["gpasswd", "--add", name, settings.instructors_group])
    return created


# -- folders --------------------------------------------------------------------------------------


def _place(path: Path, owner: str, group: str, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, owner, group)
    path.chmod(mode)  # after chown: chown clears the set-group-id bit


def reachable(path: Path) -> bool:
    """Can any user reach (and so run or read) ``path``: does every folder above it let others pass?"""
    return all(stat.S_IMODE(folder.stat().st_mode) & 0o001 for folder in path.parents)


def users_python(settings: ClassSettings) -> Path:
    """A Python the class's users can run, with the course's environment, as a ``bin`` folder.

    The course's virtual environment is made from whatever ``python3`` was first on the PATH; on a
    developer's machine that is often pyenv's, in a home folder nobody else may enter (``/root``), so
    no user's server could start. Then the class gets a copy of that same interpreter (its standard
    library, without its own packages or tests) in the class folder, and a small environment made from
    it that reads the course's packages (a ``.pth`` file), finds Jupyter's data and configuration where
    the course's are, and has the same commands (``nbgrader``, ``jupyter``, ``jupyterhub-singleuser``).
    The system's own Python is not a substitute: a different patch release can behave differently
    (Debian's 3.11.2 cannot compile the regular expressions nbconvert's HTML export needs). On a real
    hub the environment is the users' already (TLJH's ``/opt/tljh/user``) and none of this happens.
    """
    if reachable(Path(sys.executable).resolve()):
        return VENV_BIN
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base, target = settings.users_base_dir, settings.users_env_dir
    _copy_interpreter(base, version)
    _make_environment(base, target, version)
    _link_jupyter_folders(target)
    _copy_commands(target)
    for top in (base, target):
        _open_to_everyone(top)
    return target / "bin"


def _copy_interpreter(base: Path, version: str) -> None:
    """The course's interpreter and its standard library (without its packages or tests), once."""
    if (base / "bin" / version).exists():
        return
    original = Path(sys.base_prefix)
    skip = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "__pycache__"}
    shutil.copytree(
        original / "lib" / version,
        base / "lib" / version,
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if n in skip or n.startswith("config-")],
    )
    (base / "lib" / version / "site-packages").mkdir(exist_ok=True)
    for library in original.joinpath("lib").glob("libpython*"):
        shutil.copy2(library, base / "lib" / library.name, follow_symlinks=False)
    (base / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(original / "bin" / version, base / "bin" / version)


def _make_environment(base: Path, target: Path, version: str) -> None:
    """A virtual environment of the copied interpreter that reads the course's packages (a ``.pth`` file)."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(base / "lib"))
    if not (target / "bin" / "python").exists():
        run([str(base / "bin" / version), "-m", "venv", "--without-pip", str(target)], env=env)
    site_dir = target / "lib" / version / "site-packages"
    (site_dir / "freezelab-course.pth").write_text(f"import site; site.addsitedir({str(SITE_PACKAGES)!r})\n")


def _link_jupyter_folders(target: Path) -> None:
    """Jupyter's data and config (nbconvert's templates, JupyterLab's extensions, the server extensions
    switched on by their packages) are found under sys.prefix: the same folders as the course's."""
    for shared in ("share/jupyter", "etc/jupyter"):
        link, original_dir = target / shared, VENV_BIN.parent / shared
        if original_dir.is_dir() and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(original_dir, target_is_directory=True)


def _copy_commands(target: Path) -> None:
    """The course's commands (``nbgrader``, ``jupyter``, ...), run by the environment's own Python."""
    for script in VENV_BIN.iterdir():
        if not script.is_file() or (target / "bin" / script.name).exists():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        first, _, rest = text.partition("\n")
        if first.startswith("#!") and Path(first[2:].strip()).parent == VENV_BIN:
            copy = target / "bin" / script.name
            copy.write_text(f"#!{target / 'bin' / 'python'}\n{rest}")
            copy.chmod(0o755)


def _open_to_everyone(top: Path) -> None:
    """Every folder under ``top`` enterable and every file readable by all (the links are not followed)."""
    for folder, _, files in os.walk(top):
        Path(folder).chmod(0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o444)


def check_reachable(path: Path) -> None:
    """Every folder above ``path`` must let others pass (o+x), or no user's server can start."""
    for folder in [path, *path.parents]:
        if not stat.S_IMODE(folder.stat().st_mode) & 0o001:
            raise ClassError(
                f"{folder} is closed to other users (mode {oct(stat.S_IMODE(folder.stat().st_mode))}): "
                f"the class's users run {path} from there. Put the course where others may enter, "
                f"or chmod o+x {folder}."
            )


def lay_out_folders(settings: ClassSettings) -> None:
    """The class folder, the exchange (see freezelab.hub.exchange) and the instructors' grading folder."""
    instructor, group = settings.instructors[0], settings.instructors_group
    _place(settings.class_dir, "root", "root", 0o755)
    _place(settings.hub_state_dir, "root", "root", 0o700)
    _place(settings.exchange_dir, "root", "root", 0o755)
    _place(settings.course_exchange_dir, instructor, group, 0o755)
    _place(settings.course_exchange_dir / "outbound", instructor, group, 0o755)
    _place(settings.course_exchange_dir / "inbound", instructor, group, 0o3733)
    _place(settings.course_exchange_dir / "feedback", instructor, group, 0o711)
    # The gradebook and every learner's work, as collected and graded: instructors only.
    _place(settings.grading_dir, instructor, group, 0o2770)
    for name in settings.instructors:
        root = settings.course_root(name)
        _place(root, name, group, 0o750)
        masters = root / "solutions"
        if not masters.is_symlink() and not masters.exists():
            masters.symlink_to(SOLUTIONS_DIR, target_is_directory=True)


def record_deadlines(settings: ClassSettings) -> None:
    """Put each assignment and its due date into the gradebook, as the first instructor."""
    for assignment in assignment_names():
        argv = ["nbgrader", "db", "assignment", "add", assignment]
        if assignment in settings.deadlines:
            argv += ["--duedate", settings.deadline_text(assignment)]
        result = as_user(settings, settings.instructors[0], argv, timeout=120)
        if result.returncode != 0:
            raise ClassError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")


def set_up(settings: ClassSettings, passwords: dict[str, str] | None = None) -> dict[str, str]:
    """Everything the class needs before the hub starts. Root only; safe to run again."""
    if os.geteuid() != 0:
        raise ClassError("setting up a class creates accounts and folders for them: run it as root (sudo make class)")
    if not PROXY.exists():
        raise ClassError(f"{PROXY} is missing: run `make setup-hub` (npm ci in hub/)")
    check_reachable(REPO_ROOT)
    _place(settings.class_dir, "root", "root", 0o755)
    created = ensure_accounts(settings, passwords)
    lay_out_folders(settings)
    users_python(settings)
    record_deadlines(settings)
    settings.save()
    return created


# -- the hub --------------------------------------------------------------------------------------


def configure_hub(c: Any, settings: ClassSettings) -> None:
    """JupyterHub's configuration for the class (``hub/jupyterhub_config.py`` calls this)."""
    course = settings.course_id
    state = settings.hub_state_dir
    c.JupyterHub.bind_url = f"http://{settings.ip}:{settings.port}"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings.hub_port
    c.ConfigurableHTTPProxy.command = [str(PROXY)]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server

    # Local Linux accounts and their passwords (PAM); each user's server runs as that account.
    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False
    c.Authenticator.allowed_users = set(settings.instructors + settings.learners)
    c.Authenticator.admin_users = set()
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(settings.users_bin / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 120

    def give_role_its_environment(spawner: Any) -> None:
        spawner.environment.update(settings.environment(spawner.user.name))

    c.Spawner.pre_spawn_hook = give_role_its_environment

    # nbgrader's JupyterHub groups: nbgrader-<course> are its learners, formgrade-<course> its graders.
    # nbgrader's JupyterHubAuthPlugin reads them, through each server's own token, to list a user's courses.
    c.JupyterHub.load_groups = {
        f"formgrade-{course}": {"users": list(settings.instructors)},
        f"nbgrader-{course}": {"users": list(settings.learners)},
    }
    roles = [
        {
            "name": "server",
            "description": "a user's server: post activity, and read its own user's groups (nbgrader's course list)",
            "scopes": [
                "users:activity!user",
                "access:servers!server",
                "read:users:groups!user",
                "read:users:name!user",
            ],
        }
    ]
    # The end-to-end test drives the hub through its REST API with a token of its own; never set otherwise.
    test_token = os.environ.get("FREEZELAB_HUB_TEST_TOKEN")
    if test_token:
        c.JupyterHub.services = [{"name": "class-test", "api_token": test_token}]
        roles.append(
            {
                "name": "class-test",
                "scopes": ["admin:users", "admin:servers", "access:servers", "read:groups", "list:users"],
                "services": ["class-test"],
            }
        )
    c.JupyterHub.load_roles = roles

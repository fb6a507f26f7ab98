"""The class's description and the hub's configuration, checked without starting anything.

``test_class_hub.py`` runs the class for real; these are the quick checks that its files agree with the
rest of the course and that a mistake in ``hub/class.toml`` is refused with a message that says what to fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from freezelab.hub.classroom import CLASS_FILE, HUB_DIR, ClassError, ClassSettings, configure_hub
from freezelab.paths import AUTOGRADER_DIR


def test_the_class_course_id_is_the_autograders():
    """Is the course id in hub/class.toml the one autograder/nbgrader_config.py gives nbgrader?"""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(AUTOGRADER_DIR)).load_config()
    assert ClassSettings.from_file(CLASS_FILE).course_id == config.CourseDirectory.course_id


def test_the_class_file_names_real_assignments_and_a_real_time_zone():
    """Does hub/class.toml give a deadline for every graded assignment, in an IANA time zone, late penalty
    one of nbgrader's?"""
    settings = ClassSettings.from_file(CLASS_FILE)
    assert set(settings.deadlines) == {"freeze-it-yourself", "mastery-quiz"}
    assert "/" in settings.timezone and settings.late_penalty in ("none", "zero")
    for assignment in settings.deadlines:
        assert settings.deadline_utc(assignment).year >= 2026


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "is not an IANA name"),
        ({"learners": ["Bad Name"]}, "is not a usable Linux account name"),
        ({"learners": ["fl-instructor"]}, "both instructor and learner"),
        ({"instructors": []}, "at least one instructor"),
        ({"late_penalty": "half"}, "late_penalty must be one of"),
        ({"deadlines": {"mastery-quiz": "next friday"}}, "is not a date like"),
        ({"deadlines": {"homework-9": "2027-01-01 10:00:00"}}, "not an assignment of solutions/"),
        ({"class_dir": "/tmp/my-class"}, "under /tmp cannot work"),
    ],
)
def test_a_wrong_class_description_is_refused_with_a_clear_message(change, message):
    """Is each kind of mistake in the class description refused, saying what is wrong?"""
    with pytest.raises(ClassError, match=message):
        ClassSettings.from_file(CLASS_FILE, **change)


def test_an_unknown_setting_is_named(tmp_path: Path):
    """Is a misspelt setting in class.toml named in the error, with the settings that exist?"""
    wrong = tmp_path / "class.toml"
    wrong.write_text('timezon = "UTC"\n' + CLASS_FILE.read_text())
    with pytest.raises(ClassError, match="unknown setting.*timezon.*known:"):
        ClassSettings.from_file(wrong)


def test_the_hub_gives_nbgrader_its_groups_and_each_server_the_scopes_it_needs():
    """Does the hub's configuration create nbgrader-<course> and formgrade-<course> from the class, let each
    server read only its own user's groups, make nobody an admin, and use PAM with local processes?"""
    settings = ClassSettings.from_file(CLASS_FILE, class_dir="/srv/freezelab-class-never-made")
    c = Config()
    configure_hub(c, settings)
    assert c.JupyterHub.load_groups == {
        "formgrade-freezing-layers": {"users": settings.instructors},
        "nbgrader-freezing-layers": {"users": settings.learners},
    }
    (server,) = [role for role in c.JupyterHub.load_roles if role["name"] == "server"]
    assert "read:users:groups!user" in server["scopes"] and not any("admin" in s for s in server["scopes"])
    assert c.Authenticator.admin_users == set()
    assert c.JupyterHub.authenticator_class == "pam" and c.JupyterHub.spawner_class == "localprocess"
    assert c.JupyterHub.bind_url.startswith("http://127.0.0.1:")


def test_learners_servers_have_no_formgrader():
    """Do a learner's server settings switch formgrader and the course list off, as server extensions and
    as JupyterLab plug-ins, and keep the Assignments panel on?"""
    server = json.loads((HUB_DIR / "learner" / "jupyter_server_config.json").read_text())
    extensions = server["ServerApp"]["jpserver_extensions"]
    assert extensions["nbgrader.server_extensions.formgrader"] is False
    assert extensions["nbgrader.server_extensions.assignment_list"] is True
    page = json.loads((HUB_DIR / "learner" / "labconfig" / "page_config.json").read_text())
    assert page["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True
    assert "@jupyter/nbgrader:assignment-list" not in page["disabledExtensions"]


def test_the_proxy_is_pinned_once():
    """Is configurable-http-proxy pinned to one exact version in hub/package.json, and locked at it?"""
    package = json.loads((HUB_DIR / "package.json").read_text())
    version = package["dependencies"]["configurable-http-proxy"]
    assert version[0].isdigit(), f"configurable-http-proxy is not pinned exactly: {version}"
    lock = json.loads((HUB_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == version

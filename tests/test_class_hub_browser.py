"""The class hub in headless Chromium: a learner logs in, fetches and submits from the Assignments panel;
the instructor collects it in formgrader and sees the submission there.

Same real hub as ``test_class_hub.py`` (own accounts, free loopback ports, everything removed after);
here every step is a click. Screenshots go to ``tests/artifacts/`` (ignored by git). Skipped with the
reason where accounts cannot be made or Chromium is missing, except in CI, where both must work.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import running_in_ci
from hub_class import HubClass, why_no_class

from freezelab.quiz import browser

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]

ARTIFACTS = Path(__file__).parent / "artifacts"
ASSIGNMENT = "freeze-it-yourself"


@pytest.fixture(scope="module")
def hub_class():
    reason = why_no_class()
    chromium = browser.find_chromium()
    if chromium is None:
        reason = reason or "Chromium not found: apt-get install chromium"
    if reason:
        if running_in_ci():
            pytest.fail(f"the class browser test is required in CI: {reason}")
        pytest.skip(reason)
    test_class = HubClass.create(deadlines={ASSIGNMENT: __import__("datetime").timedelta(days=7)})
    try:
        test_class.chromium = chromium
        yield test_class
    finally:
        test_class.close()


def log_in(page, hub: HubClass, user: str) -> None:
    page.goto(f"{hub.settings.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords[user])
    page.click("#login_submit")
    # The hub starts the server and sends the browser to JupyterLab.
    page.wait_for_url(f"**/user/{user}/lab**", timeout=180_000)
    page.wait_for_selector(".jp-LabShell", timeout=120_000)


def open_from_nbgrader_menu(page, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel", has_text=item).click()


def test_a_learner_submits_from_the_panel_and_the_instructor_sees_it_in_formgrader(hub_class):
    """Can a learner log in with their password, fetch from the Assignments panel and submit, and does the
    instructor, collecting in formgrader, then see that learner's submission listed there?"""
    hub, teacher, ada = hub_class, hub_class.instructor, hub_class.learners[0]
    hub.as_user(teacher, ["nbgrader", "generate_assignment", ASSIGNMENT, "--force"])
    hub.as_user(teacher, ["nbgrader", "release_assignment", ASSIGNMENT])
    ARTIFACTS.mkdir(exist_ok=True)

    with browser.chromium_page(hub.chromium) as page:
        try:
            log_in(page, hub, ada)
            menus = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
            open_from_nbgrader_menu(page, "Assignment List")
            released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
            released.locator("button", has_text="Fetch").click(timeout=60_000)
            downloaded = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
            downloaded.locator("button", has_text="Submit").click(timeout=60_000)
            submitted = page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT)
            submitted.first.wait_for(timeout=60_000)
            assert menus.count() == 1
            # A learner's menu has no formgrader.
            menus.click()
            assert page.locator(".lm-Menu-itemLabel", has_text="Formgrader").count() == 0
            page.keyboard.press("Escape")
        finally:
            page.screenshot(path=str(ARTIFACTS / "class-hub-learner.png"))
    inbound = list((hub.settings.course_exchange_dir / "inbound").glob(f"{ada}+{ASSIGNMENT}+*"))
    assert len(inbound) == 1 and inbound[0].stat().st_uid == __import__("pwd").getpwnam(ada).pw_uid

    with browser.chromium_page(hub.chromium) as page:
        try:
            log_in(page, hub, teacher)
            page.goto(f"{hub.settings.url}/user/{teacher}/formgrader/manage_assignments")
            row = page.locator("tr", has_text=ASSIGNMENT)
            row.locator("td.collect a").click(timeout=60_000)
            page.locator(".modal", has_text="Successfully collected").wait_for(timeout=120_000)
            page.goto(f"{hub.settings.url}/user/{teacher}/formgrader/manage_submissions/{ASSIGNMENT}")
            page.locator("tr", has_text=ada).first.wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "class-hub-formgrader.png"))
    assert (hub.settings.grading_dir / "submitted" / ada / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()

"""The mastery test in a real JupyterLab, clicked through in headless Chromium with Playwright.

The test starts its own JupyterLab (free port, random token) on a scratch copy of the learner's
notebook, runs it, answers a question wrongly then rightly with the mouse, answers another
with the keyboard only, reads the feedback and the score back from the page, runs a snippet,
and re-runs the notebook to see the saved progress restored. A screenshot is kept in
``tests/artifacts/`` (ignored by git). Without Chromium it is skipped, except in CI
(``CI=true``), where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from freezelab.paths import NOTEBOOKS_DIR
from freezelab.quiz import browser, load_bank

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
NOTEBOOK = NOTEBOOKS_DIR / "lessons" / "07-mastery-test.ipynb"
QID = "count-trainable-tensors"
FEEDBACK_TARGET_MS = 200


@pytest.fixture(scope="module")
def chromium() -> Path:
    found = browser.find_chromium()
    if found is None:
        reason = (
            "Chromium not found (looked at $FREEZELAB_CHROMIUM, /usr/bin/chromium, PATH); "
            "install it with `apt-get install chromium` to run the browser test"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}. In CI the browser test must run: .ci/run installs Chromium.")
        pytest.skip(reason)
    return found


def test_mastery_test_clicked_through_in_jupyterlab(chromium, tmp_path):
    """In JupyterLab, does a wrong answer show its explanation and the right one 'Correct', with
    the score on the page, keyboard answering working, the snippet printing 2, and progress
    restored when the notebook runs again?"""
    root, scratch, progress = tmp_path / "root", tmp_path / "scratch", tmp_path / "progress"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    bank = load_bank()
    ARTIFACTS.mkdir(exist_ok=True)
    environment = {"FREEZELAB_PROGRESS_DIR": str(progress), "FREEZELAB_LEARNER": "browser-test"}
    with browser.running_lab(root, scratch, environment) as server, browser.chromium_page(chromium) as page:
        try:
            browser.open_and_run_notebook(page, server, NOTEBOOK.name)

            # Wrong, then right, with the mouse.
            browser.choose(page, QID, "4")
            browser.wait_for_empty_feedback(page, QID)
            feedback, wrong_ms = browser.check_and_time(page, QID)
            assert feedback.startswith("Not quite")
            assert bank[QID].option("B").explanation.split(".")[0] in feedback
            browser.choose(page, QID, "2")
            browser.wait_for_empty_feedback(page, QID)
            feedback, right_ms = browser.check_and_time(page, QID)
            assert feedback.startswith("Correct")
            assert browser.score_text(page).startswith("Score: 1 of 10 correct (0 on the first try)")

            # The keyboard alone: focus the right option, Space to pick it, Enter on Check.
            first = browser.question_box("what-freezing-does")
            page.locator(
                f"{first} .freezelab-options label", has_text="Stops the layers' weights from updating"
            ).locator("input").focus()
            page.keyboard.press("Space")
            browser.wait_for_empty_feedback(page, "what-freezing-does")
            page.locator(f"{first} button.freezelab-check").focus()
            page.keyboard.press("Enter")
            page.wait_for_selector(f"{first} .freezelab-feedback .fl-correct", timeout=10_000)
            page.wait_for_function(
                "() => document.querySelector('.widget-vbox.freezelab-quiz .freezelab-score')"
                ".innerText.includes('2 of 10 correct (1 on the first try)')",
                timeout=10_000,
            )

            # Predict, then run: the snippet's real output.
            page.click(f"{browser.question_box(QID)} button.freezelab-run-button")
            output = page.locator(f"{browser.question_box(QID)} .freezelab-output .fl-output")
            output.wait_for(timeout=30_000)
            assert output.inner_text().strip() == "2"

            page.locator(browser.question_box(QID)).scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "quiz-browser.png"))

            saved = json.loads((progress / "mastery.browser-test.progress.json").read_text())
            assert saved["questions"][QID]["attempts"] == ["B", "A"]

            # Run the notebook again (as after closing and reopening it): progress is restored.
            browser.run_all_cells(page)
            page.wait_for_function(
                "() => { const all = document.querySelectorAll('.widget-vbox.freezelab-quiz');"
                " return all.length === 1 && all[0].innerText.includes('2 of 10 correct'); }",
                timeout=60_000,
            )
            restored = browser.question_box(QID)
            assert page.locator(f"{restored} .freezelab-feedback .fl-correct").count() == 1
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "quiz-browser-failure.png"))
            raise
    print(f"feedback after a click: wrong {wrong_ms:.0f} ms, right {right_ms:.0f} ms")
    assert max(wrong_ms, right_ms) < 5 * FEEDBACK_TARGET_MS, "feedback far slower than the target"

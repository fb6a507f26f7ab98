"""How long does quiz feedback take to appear after a click, in a real browser?

Starts JupyterLab on a scratch copy of the mastery test, opens it in headless Chromium, and
clicks Check many times (alternating wrong and right answers across several questions). Each
latency is measured inside the page: from the click event on the Check button to the verdict
appearing in the feedback area (a MutationObserver), so it covers the whole round trip: the
widget message to the kernel, the Python handler, and the update rendered by the browser.

    .venv/bin/python benchmarks/bench_quiz_feedback.py [--clicks 40]

Target: under 200 ms. The script prints the figures and flags a miss; it does not fail.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 200
# Questions whose options are short texts, with one wrong and the right option for each.
CLICKS = [
    ("count-trainable-tensors", "4", "2"),
    ("resnet-head-count", "5120", "5130"),
    ("batchnorm-running-stats", "True", "False"),
    ("what-freezing-does", "Removes the layers from the model", "Stops the layers' weights from updating"),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clicks", type=int, default=40, help="how many Check clicks to time")
    args = parser.parse_args(argv)

    from freezelab.paths import NOTEBOOKS_DIR
    from freezelab.quiz import browser

    chromium = browser.find_chromium()
    if chromium is None:
        print("bench_quiz_feedback: Chromium not found (apt-get install chromium); skipped.")
        return 0
    notebook = NOTEBOOKS_DIR / "lessons" / "07-mastery-test.ipynb"
    latencies: list[float] = []
    with tempfile.TemporaryDirectory(prefix="freezelab-bench-quiz-") as scratch_name:
        scratch = Path(scratch_name)
        root = scratch / "root"
        root.mkdir()
        root.joinpath(notebook.name).write_bytes(notebook.read_bytes())
        environment = {"FREEZELAB_PROGRESS_DIR": str(scratch / "progress"), "FREEZELAB_LEARNER": "benchmark"}
        started = time.perf_counter()
        with browser.running_lab(root, scratch / "lab", environment) as server, browser.chromium_page(chromium) as page:
            browser.open_and_run_notebook(page, server, notebook.name)
            browser.unlock_graded_key(page)  # lesson 07 holds the graded key until the learner confirms
            ready = time.perf_counter() - started
            for click in range(args.clicks):
                question_id, wrong, right = CLICKS[(click // 2) % len(CLICKS)]
                browser.choose(page, question_id, wrong if click % 2 == 0 else right)
                browser.wait_for_empty_feedback(page, question_id)
                _, milliseconds = browser.check_and_time(page, question_id)
                latencies.append(milliseconds)
    median = statistics.median(latencies)
    p90 = percentile(latencies, 0.9)
    print(
        f"quiz feedback latency in JupyterLab + headless Chromium ({len(latencies)} clicks; "
        f"JupyterLab and the quiz ready after {ready:.1f} s)"
    )
    print(f"  median {median:.0f} ms   p90 {p90:.0f} ms   min {min(latencies):.0f} ms   max {max(latencies):.0f} ms")
    print(f"  first click {latencies[0]:.0f} ms (includes the first save of the progress file)")
    verdict = "met" if p90 < TARGET_MS else "MISSED"
    print(f"  target: feedback under {TARGET_MS} ms after a click (p90): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The autograding benchmark (benchmarks/bench_autograde.py) runs and reports both pipelines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_sandbox

pytestmark = requires_sandbox()

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_autograde.py"


@pytest.mark.slow
def test_the_benchmark_times_stock_nbgrader_and_the_pipeline_on_the_same_submissions(tmp_path):
    """Does the benchmark print seconds per submission for stock nbgrader, the pipeline (unsandboxed too,
    and on a dask LocalCluster), the breakdown, the projection and the throughput line, grades identical?"""
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--submissions", "3", "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "s per submission" in result.stdout
    data = json.loads(figures.read_text())
    runs = {"stock nbgrader", "freezelab pipeline", "freezelab, no sandbox", "freezelab on dask"}
    assert set(data["seconds_per_submission"]) == runs
    assert all(value > 0 for value in data["seconds_per_submission"].values())
    # solution, partial, wrong: the same grades from every run
    expected = {"learner-001-solution": 20.0, "learner-002-partial-first-five-tasks": 10.0}
    for label in runs:
        assert {k: v for k, v in data["scores"][label].items() if k in expected} == expected
    assert data["identical_grades"] is True
    assert set(data["breakdown"]) == {"start_up", "learner_code", "hidden_tests", "nbgrader", "gradebook"}
    assert "sandboxed vs unsandboxed" in result.stdout
    assert "1,000 submissions on 16 workers" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("throughput vs stock nbgrader: ") and last.endswith("(identical grades: yes)")

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
    """Does the benchmark print seconds per submission for stock nbgrader, the pipeline and it unsandboxed?"""
    figures = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--copies", "1", "--json", str(figures)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "s per submission" in result.stdout
    data = json.loads(figures.read_text())
    assert set(data["seconds_per_submission"]) == {"stock nbgrader", "freezelab pipeline", "freezelab, no sandbox"}
    assert all(value > 0 for value in data["seconds_per_submission"].values())
    assert data["scores"] == {"stock nbgrader": [20.0], "freezelab pipeline": [20.0], "freezelab, no sandbox": [20.0]}
    assert "sandboxed vs unsandboxed" in result.stdout

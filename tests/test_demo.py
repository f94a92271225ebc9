"""`make demo` runs here with the same steps, on smaller data, so it cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_runs_the_whole_loop(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "release.demo", "--rows", "2500", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    for expected in (
        "$ dvc repro",
        "Created git tag 'loan-model@v0.1.0'",
        "$ release deploy loan-model staging",
        "rolled_back: v0.2.0",
        "DRIFT",
        "reproduced",
        "demo finished",
    ):
        assert expected in out, expected
    project = tmp_path / "loan-project"
    tags = subprocess.run(
        ["git", "tag", "-l"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.split()
    assert "loan-model@v0.1.1" in tags and "loan-model@v0.2.0" in tags
    shown = subprocess.run(
        ["gto", "show", "--json"], cwd=project, capture_output=True, text=True, check=True
    ).stdout
    assert '"prod"' in shown
    assert (project / "model_card/card.html").is_file()
    assert (project / "reports/drift.html").is_file()
    # Nothing keeps running after the demo: no process works in the project any more.
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(project)):
                left.append(pid)
        except OSError:
            continue
    assert left == []

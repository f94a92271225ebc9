"""`release monitor drift --stage prod` applies prod's own model, not the workspace's.

A real pipeline is trained and registered in prod, then the workspace is retrained on
shuffled labels (a different, useless model). Monitoring prod's own test set against
prod's profile must apply prod's model (its sha256 in the report) and find no concept
drift; the workspace model on the same batch does find it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_deploy_serve import PARAMS, build, git, snapshot

RELEASE = str(Path(sys.executable).with_name("release"))
pytestmark = pytest.mark.slow


def drift(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RELEASE, "monitor", "drift", "--json", "--current", "prod_test.parquet", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_stage_applies_its_own_model(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "params.yaml").write_text(PARAMS.replace("bootstrap: 0", "bootstrap: 200"))
    build(repo)
    snapshot(repo, "v0.1.0")
    prod_sha = json.loads((repo / "models/model.json").read_text())["sha256"]
    shutil.copy(repo / "data/prepared/test.parquet", repo / "prod_test.parquet")
    build(repo, shuffle=True)  # the workspace now holds another model
    assert json.loads((repo / "models/model.json").read_text())["sha256"] != prod_sha

    res = drift(repo, "--stage", "prod", "--out", "staged")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["model"] == {
        "source": "model@v0.1.0 (prod)",
        "version": "v0.1.0",
        "sha256": prod_sha,
    }
    assert report["concept"] is not None and not report["concept"]["drifted"]
    assert report["concept"]["drop"] == pytest.approx(0.0, abs=1e-9)
    assert prod_sha in (repo / "staged/drift.md").read_text()

    workspace = drift(repo, "--reference", "models/reference_profile.json")
    report = json.loads(workspace.stdout)
    assert report["model"]["version"] is None

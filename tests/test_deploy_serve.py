"""Rollouts with the real model server (`release serve NAME@vX.Y.Z`): real models trained
in a temporary repository, registered with GTO tags, served from git, judged on real
traffic with labels from the test set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rollout_support import RowClient, Stage, build, git, init_repo, settings_with, snapshot
from test_deploy_rollout import gto_prod

from release.deploy.controller import stop_deployment

__all__ = ["PARAMS", "RowClient", "build", "git", "settings_with", "snapshot"]

PARAMS = """\
data:
  rows: 3000
train:
  estimator: logistic_regression
evaluate:
  bootstrap: 0
  explain:
    permutation_repeats: 1
    max_rows: 200
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = init_repo(tmp_path_factory.mktemp("trained") / "repo")
    (root / "params.yaml").write_text(PARAMS)
    build(root)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "v1 artifacts")
    return root


@pytest.fixture
def repo(trained: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(trained, root)
    yield root
    stop_deployment(root, settings_with(), "model", "prod")


def first(stage: Stage):
    snapshot(stage.repo, "v0.1.0")
    result = stage.deploy()
    assert result.outcome == "promoted", result.reason
    (golden,) = [c for c in result.checks if c["name"] == "golden"]
    assert golden["status"] == "pass", golden
    assert golden["numbers"]["rows"] == 200 and golden["numbers"]["mismatched"] == 0
    return result


def test_real_server_identical_retrain_shadows_then_promotes(repo: Path):
    stage = Stage(repo)
    first(stage)
    build(repo)  # retrained with the same seed: the same answers
    snapshot(repo, "v0.2.0")
    with stage.client() as client:
        result = stage.deploy(strategy="shadow")
    assert client.failed == [] and client.ok > 50
    assert result.outcome == "promoted", result.reason
    shadow = result.steps[0]["shadow"]
    assert shadow["agreement"] == 1.0 and shadow["flips"] == {}
    assert shadow["max_proba_diff"] < 1e-9
    assert [(c["name"], c["status"]) for c in result.checks] == [
        ("contract", "pass"),
        ("smoke", "pass"),
        ("golden", "pass"),
    ]
    assert gto_prod(repo) == "v0.2.0"


def test_real_server_half_500s_rolls_back(repo: Path):
    stage = Stage(repo, extra_args={"v0.2.0": ["--chaos", "errors=0.5"]})
    first(stage)
    build(repo)
    snapshot(repo, "v0.2.0")
    # Without the smoke and golden checks (which catch it before traffic), the canary must.
    with stage.client() as client:
        result = stage.deploy(golden=False, smoke=False)
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "rolled_back" and "error rate" in result.reason
    assert len(result.steps) <= 2
    assert gto_prod(repo) == "v0.1.0"


def test_real_server_shuffled_labels_rolls_back(repo: Path):
    stage = Stage(repo)
    first(stage)
    build(repo, shuffle=True)
    snapshot(repo, "v0.2.0")
    with stage.client() as client:
        result = stage.deploy()
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "rolled_back", result.reason
    assert "accuracy" in result.reason or "prediction distribution" in result.reason
    assert len(result.steps) <= 2
    assert gto_prod(repo) == "v0.1.0"
    tag = result.rollback_tag
    assert tag and "Rollback" in git(repo, "tag", "-l", "--format=%(contents)", tag)

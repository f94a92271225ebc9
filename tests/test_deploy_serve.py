"""Rollouts with the real model server (`release serve NAME@vX.Y.Z`): real models trained
in a temporary repository, registered with GTO tags, served from git, judged on real
traffic with labels from the test set."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from test_deploy_rollout import gto_prod, settings_for

from release.config import CanaryStep, load_settings
from release.deploy import processes
from release.deploy.controller import DeployOptions, ServeLauncher, deploy_local, stop_deployment
from release.deploy.replay import load_rows
from release.registry import api

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


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def build(repo: Path, *, shuffle: bool = False) -> None:
    """prepare + train + evaluate in ``repo`` (train labels shuffled when asked)."""
    from release.data.prepare import prepare
    from release.model.evaluate import evaluate
    from release.model.train import train

    settings = load_settings(repo / "params.yaml")
    prepare(settings, repo)
    if shuffle:
        import pandas as pd

        path = repo / "data/prepared/train.parquet"
        frame = pd.read_parquet(path)
        frame["default"] = frame["default"].sample(frac=1.0, random_state=1).to_numpy()
        frame.to_parquet(path, index=False)
    train(settings, repo)
    evaluate(settings, repo)


def snapshot(repo: Path, version: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"model {version}", "--allow-empty")
    api.register(str(repo), "model", version=version)
    api.promote(str(repo), "model", "prod", version=version)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trained") / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
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
    stop_deployment(root, settings_for(), "model", "prod")


class RowClient:
    """The test's own client: real test-set rows with labels, through the router."""

    def __init__(self, repo: Path, url: str, threads: int = 2) -> None:
        meta = json.loads((repo / "models/model.json").read_text())
        self.datatypes = {
            f["name"]: "FP64" if f["kind"] == "numeric" else "BYTES" for f in meta["features"]
        }
        self.rows = load_rows(
            repo / "data/prepared/test.parquet", list(self.datatypes), target="default"
        )
        self.url = url + "/v2/models/model/infer"
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, offset: int) -> None:
        i = offset * 97
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                row = i % len(self.rows)
                body = self.rows.request(row, row + 1, self.datatypes)
                try:
                    r = client.post(self.url, json=body)
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                i += 1
                time.sleep(0.005)

    def __enter__(self) -> RowClient:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def settings_with(steps=None):
    settings = settings_for(
        steps
        or [
            CanaryStep(50, min_requests=40, min_duration=1.0, max_duration=20.0),
            CanaryStep(100, min_requests=40, min_duration=1.0, max_duration=20.0),
        ],
        min_labelled=30,
    )
    dep = replace(
        settings.release.deploy,
        start_timeout=60.0,
        shadow=CanaryStep(100, min_requests=60, min_duration=1.0, max_duration=20.0),
    )
    return replace(settings, release=replace(settings.release, deploy=dep))


def first(repo: Path, settings, port: int, launcher: ServeLauncher):
    snapshot(repo, "v0.1.0")
    result = deploy_local(
        repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
    )
    assert result.outcome == "promoted", result.reason
    (golden,) = [c for c in result.checks if c["name"] == "golden"]
    assert golden["status"] == "pass", golden
    assert golden["numbers"]["rows"] == 200 and golden["numbers"]["mismatched"] == 0
    return result


def test_real_server_identical_retrain_shadows_then_promotes(repo: Path):
    settings = settings_with()
    port = processes.free_port()
    launcher = ServeLauncher(repo=str(repo))
    first(repo, settings, port, launcher)
    build(repo)  # retrained with the same seed: the same answers
    snapshot(repo, "v0.2.0")
    with RowClient(repo, f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, strategy="shadow"),
        )
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
    settings = settings_with()
    port = processes.free_port()
    launcher = ServeLauncher(repo=str(repo), extra_args={"v0.2.0": ["--chaos", "errors=0.5"]})
    first(repo, settings, port, launcher)
    build(repo)
    snapshot(repo, "v0.2.0")
    # Without the smoke and golden checks (which catch it before traffic), the canary must.
    with RowClient(repo, f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, golden=False, smoke=False),
        )
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "rolled_back" and "error rate" in result.reason
    assert len(result.steps) <= 2
    assert gto_prod(repo) == "v0.1.0"


def test_real_server_shuffled_labels_rolls_back(repo: Path):
    settings = settings_with()
    port = processes.free_port()
    launcher = ServeLauncher(repo=str(repo))
    first(repo, settings, port, launcher)
    build(repo, shuffle=True)
    snapshot(repo, "v0.2.0")
    with RowClient(repo, f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
        )
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "rolled_back", result.reason
    assert "accuracy" in result.reason or "prediction distribution" in result.reason
    assert len(result.steps) <= 2
    assert gto_prod(repo) == "v0.1.0"
    tag = result.rollback_tag
    assert tag and "Rollback" in git(repo, "tag", "-l", "--format=%(contents)", tag)

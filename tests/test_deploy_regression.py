"""Regression canaries end to end on sklearn's diabetes data: real models trained in a
temporary repository, served by `release serve`, judged on real traffic with labels.

A worse model (trained on shuffled targets: test MAE 66 against 42) is rolled back for
its error (MAE against labels); a better model (plain least squares, MAE 42, after a
heavily regularised ridge, alpha 3000 on standardised features, MAE 57) is promoted
although its outputs spread wider. Exact matches on continuous outputs (the old accuracy
check) decide nothing.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_deploy_rollout import gto_prod
from test_deploy_serve import git, settings_with, snapshot

from release.config import load_settings
from release.deploy import processes
from release.deploy.controller import DeployOptions, ServeLauncher, deploy_local, stop_deployment
from release.deploy.replay import load_rows

pytestmark = pytest.mark.slow

PARAMS = """\
data:
  source: csv
  path: {path}
  target: target
  task: regression
train:
  estimator: {estimator}
  params: {params}
evaluate:
  primary_metric: mae
  bootstrap: 0
  explain:
    permutation_repeats: 1
    max_rows: 100
"""


def build(repo: Path, estimator: str, params: str = "{}", *, shuffle: bool = False) -> None:
    from release.data.prepare import prepare
    from release.model.evaluate import evaluate
    from release.model.train import train

    text = PARAMS.format(estimator=estimator, params=params, path=repo / "data/diabetes.csv")
    (repo / "params.yaml").write_text(text)
    settings = load_settings(repo / "params.yaml")
    prepare(settings, repo)
    if shuffle:
        import pandas as pd

        path = repo / "data/prepared/train.parquet"
        frame = pd.read_parquet(path)
        frame["target"] = frame["target"].sample(frac=1.0, random_state=1).to_numpy()
        frame.to_parquet(path, index=False)
    train(settings, repo)
    evaluate(settings, repo)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory) -> Path:
    from sklearn.datasets import load_diabetes

    root = tmp_path_factory.mktemp("diabetes") / "repo"
    (root / "data").mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    load_diabetes(as_frame=True).frame.to_csv(root / "data/diabetes.csv", index=False)
    return root


@pytest.fixture
def repo(diabetes: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(diabetes, root)
    yield root
    stop_deployment(root, settings_with(), "model", "prod")


class LabelledClient:
    """Test rows with their true targets in ``parameters.labels``, through the router."""

    def __init__(self, repo: Path, url: str) -> None:
        meta = json.loads((repo / "models/model.json").read_text())
        self.types = {f["name"]: "FP64" for f in meta["features"]}
        self.rows = load_rows(
            repo / "data/prepared/test.parquet", list(self.types), target="target"
        )
        self.url = url + "/v2/models/model/infer"
        self.ok = 0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(2)]

    def _run(self, offset: int) -> None:
        i = offset * 31
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                row = i % len(self.rows)
                try:
                    r = client.post(self.url, json=self.rows.request(row, row + 1, self.types))
                    self.ok += r.status_code == 200
                    if r.status_code != 200:
                        self.failed.append(f"{r.status_code} {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                i += 1
                time.sleep(0.005)

    def __enter__(self) -> LabelledClient:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def rollout(repo: Path, first: tuple[str, str], second: tuple[str, str], shuffle: bool):
    settings = settings_with()
    port = processes.free_port()
    launcher = ServeLauncher(repo=str(repo))
    build(repo, *first)
    snapshot(repo, "v0.1.0")
    done = deploy_local(
        repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
    )
    assert done.outcome == "promoted", done.reason
    build(repo, *second, shuffle=shuffle)
    snapshot(repo, "v0.2.0")
    with LabelledClient(repo, f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
        )
    assert client.failed == [] and client.ok > 40
    return result


def judged(result, name: str) -> dict:  # type: ignore[no-untyped-def]
    checks = [c for step in result.steps for c in (step.get("verdict") or {}).get("checks", [])]
    return [c for c in checks if c["name"] == name][-1]


def test_a_worse_regression_model_is_rolled_back_for_its_error(repo: Path) -> None:
    result = rollout(repo, ("linear_regression", "{}"), ("linear_regression", "{}"), True)
    assert result.outcome == "rolled_back", result.reason
    assert "MAE" in result.reason
    error = judged(result, "model_error")
    assert error["status"] == "fail", error
    tolerance = settings_with().release.deploy.judge.max_error_increase
    assert error["numbers"]["candidate_mae"] > error["numbers"]["baseline_mae"] * (1 + tolerance)
    assert gto_prod(repo) == "v0.1.0"


def test_a_better_regression_model_is_promoted(repo: Path) -> None:
    result = rollout(repo, ("ridge", "{alpha: 3000}"), ("linear_regression", "{}"), False)
    assert result.outcome == "promoted", result.reason
    error = judged(result, "model_error")
    assert error["status"] == "pass", error
    assert error["numbers"]["candidate_mae"] <= error["numbers"]["baseline_mae"]
    # Its outputs spread wider than the shrunk ridge's: the labels decide, not the shape.
    assert judged(result, "predictions")["status"] == "pass"
    assert gto_prod(repo) == "v0.2.0"

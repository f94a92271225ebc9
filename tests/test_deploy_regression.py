"""Regression rollouts end to end on sklearn's diabetes data: real models trained in a
temporary repository, served by `release serve` behind the real router, judged on real
traffic with labels (set-up shared with tests/test_deploy_serve.py: rollout_support).

A worse model (trained on shuffled targets: test MAE 66 against 42) is rolled back for
its error (MAE against labels); a better model (plain least squares, MAE 42, after a
heavily regularised ridge, alpha 3000 on standardised features, MAE 57) is promoted
although its outputs spread wider. Exact matches on continuous outputs (the old accuracy
check) decide nothing. A shadow compares mirrored outputs within ``shadow_tolerance``
baseline stds: a ridge within it is promoted, one beyond it rolled back.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rollout_support import Stage, build, init_repo, settings_with, snapshot
from test_deploy_rollout import gto_prod

from release.deploy.controller import stop_deployment
from release.deploy.results import DeployResult

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
LEAST_SQUARES = ("linear_regression", "{}")


def train(repo: Path, model: tuple[str, str], *, shuffle: bool = False) -> None:
    """Write params.yaml for ``model`` (estimator, params) and build it."""
    estimator, params = model
    text = PARAMS.format(estimator=estimator, params=params, path=repo / "data/diabetes.csv")
    (repo / "params.yaml").write_text(text)
    build(repo, shuffle=shuffle)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory) -> Path:
    from sklearn.datasets import load_diabetes

    root = init_repo(tmp_path_factory.mktemp("diabetes") / "repo")
    (root / "data").mkdir()
    load_diabetes(as_frame=True).frame.to_csv(root / "data/diabetes.csv", index=False)
    return root


@pytest.fixture
def repo(diabetes: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(diabetes, root)
    yield root
    stop_deployment(root, settings_with(), "model", "prod")


def rollout(
    repo: Path,
    first: tuple[str, str],
    second: tuple[str, str],
    *,
    shuffle: bool = False,
    strategy: str = "canary",
) -> DeployResult:
    """Serve ``first`` as v0.1.0, then deploy ``second`` as v0.2.0 under labelled traffic."""
    stage = Stage(repo)
    train(repo, first)
    snapshot(repo, "v0.1.0")
    done = stage.deploy()
    assert done.outcome == "promoted", done.reason
    train(repo, second, shuffle=shuffle)
    snapshot(repo, "v0.2.0")
    with stage.client() as client:
        result = stage.deploy(strategy=strategy)
    assert client.failed == [] and client.ok > 40
    return result


def judged(result: DeployResult, name: str) -> dict:  # type: ignore[type-arg]
    """The last verdict's check ``name``."""
    checks = [c for step in result.steps for c in (step.get("verdict") or {}).get("checks", [])]
    return [c for c in checks if c["name"] == name][-1]


def test_a_worse_regression_model_is_rolled_back_for_its_error(repo: Path) -> None:
    result = rollout(repo, LEAST_SQUARES, LEAST_SQUARES, shuffle=True)
    assert result.outcome == "rolled_back", result.reason
    assert "MAE" in result.reason
    error = judged(result, "model_error")
    assert error["status"] == "fail", error
    tolerance = settings_with().release.deploy.judge.max_error_increase
    assert error["numbers"]["candidate_mae"] > error["numbers"]["baseline_mae"] * (1 + tolerance)
    assert gto_prod(repo) == "v0.1.0"


def test_a_better_regression_model_is_promoted(repo: Path) -> None:
    result = rollout(repo, ("ridge", "{alpha: 3000}"), LEAST_SQUARES)
    assert result.outcome == "promoted", result.reason
    error = judged(result, "model_error")
    assert error["status"] == "pass", error
    assert error["numbers"]["candidate_mae"] <= error["numbers"]["baseline_mae"]
    # Its outputs spread wider than the shrunk ridge's: the labels decide, not the shape.
    assert judged(result, "predictions")["status"] == "pass"
    assert gto_prod(repo) == "v0.2.0"


def test_a_shadow_within_the_tolerance_is_promoted(repo: Path) -> None:
    # A lightly regularised ridge: every output within 3 of least squares' (0.05 stds),
    # none equal, so exact "flips" would count all of them.
    result = rollout(repo, LEAST_SQUARES, ("ridge", "{alpha: 1}"), strategy="shadow")
    assert result.outcome == "promoted", result.reason
    (step,) = result.steps
    assert step["kind"] == "shadow" and step["shadow"]["compared"] >= 60
    agreement = judged(result, "agreement")
    assert agreement["status"] == "pass", agreement
    numbers = agreement["numbers"]
    assert numbers["share_within"] == 1.0 and 0 < numbers["max_value_diff"] <= numbers["tolerance"]
    assert numbers["agree"] < numbers["compared"]  # not equal, within the tolerance
    assert judged(result, "model_error")["status"] == "pass"
    assert gto_prod(repo) == "v0.2.0"


def test_a_shadow_beyond_the_tolerance_is_rolled_back(repo: Path) -> None:
    # Ridge alpha 100: about the same MAE (41.9 vs 41.5), but only about 40% of its outputs
    # within 0.1 baseline stds of least squares': a different model, caught by the shadow.
    result = rollout(repo, LEAST_SQUARES, ("ridge", "{alpha: 100}"), strategy="shadow")
    assert result.outcome == "rolled_back", result.reason
    agreement = judged(result, "agreement")
    assert agreement["status"] == "fail", agreement
    assert agreement["numbers"]["share_within"] < 0.95
    assert "of outputs within" in result.reason
    assert judged(result, "model_error")["status"] == "pass"
    assert gto_prod(repo) == "v0.1.0"

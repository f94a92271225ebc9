"""Promotion policy: each gate blocks on purpose-made data and passes on good data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_registry_support import commit, fake_time_env, git, init_repo, release, tags

from release.config import StagePolicy
from release.errors import CheckFailed
from release.facts import Slices, read_metrics, read_slices
from release.registry import api
from release.registry.policy import (
    Facts,
    evaluate,
    failures,
    gate_card,
    gate_metric,
    gate_requires,
    gate_slice_regression,
)

PARAMS = """\
release:
  stages: [dev, staging, prod]
  policy:
    staging:
      requires: dev
      min_metrics: {accuracy: 0.8}
      max_metrics: {log_loss: 0.5}
    prod:
      requires: staging
      max_slice_regression: 0.05
      card_complete: true
"""


def raw_slices(values: dict[str, float], higher: bool = True) -> dict:
    return {
        "primary_metric": "accuracy",
        "higher_is_better": higher,
        "slices": [
            {"name": k, "rows": 500, "metric": v, "ci_low": None, "ci_high": None, "small": False}
            for k, v in values.items()
        ],
    }


def slices(values: dict[str, float], higher: bool = True) -> Slices:
    return read_slices(json.dumps(raw_slices(values, higher)).encode(), "v")


# ------------------------------------------------------------------------ pure gates
def test_gate_requires() -> None:
    assert gate_requires("staging", Facts("v1", "c", {"staging"})).passed
    failed = gate_requires("staging", Facts("v1", "c", {"dev"}))
    assert not failed.passed and "staging first" in failed.detail


def test_gate_metrics() -> None:
    raw = {"accuracy": 0.79, "log_loss": 0.4, "f1": float("nan")}
    facts = Facts("v1", "c", metrics=read_metrics(json.dumps(raw).encode(), "v1"))
    assert not gate_metric("accuracy", 0.8, facts, floor=True).passed
    assert gate_metric("accuracy", 0.7, facts, floor=True).passed
    assert gate_metric("log_loss", 0.5, facts, floor=False).passed
    assert not gate_metric("log_loss", 0.3, facts, floor=False).passed
    assert "missing" in gate_metric("f1", 0.5, facts, floor=True).detail
    assert "missing" in gate_metric("roc_auc", 0.5, facts, floor=True).detail
    none = Facts("v1", "c", metrics_error="reports/metrics.json is not committed in git")
    assert gate_metric("accuracy", 0.1, none, floor=True).detail.startswith("reports/metrics")


def test_gate_slice_regression() -> None:
    base = slices({"region=north": 0.9, "employment_type=self_employed": 0.8})
    good = Facts(
        "v2",
        "c",
        slices=slices({"region=north": 0.88, "employment_type=self_employed": 0.79}),
        baseline_version="v1",
        baseline_slices=base,
    )
    assert gate_slice_regression(0.05, good).passed
    bad = Facts(
        "v2",
        "c",
        slices=slices({"region=north": 0.91, "employment_type=self_employed": 0.6}),
        baseline_version="v1",
        baseline_slices=base,
    )
    result = gate_slice_regression(0.05, bad)
    assert not result.passed and "employment_type=self_employed -0.2" in result.detail
    lower = slices({"region=north": 0.91, "employment_type=self_employed": 0.6}, higher=False)
    flipped = Facts("v2", "c", slices=lower, baseline_version="v1", baseline_slices=base)
    assert not gate_slice_regression(0.005, flipped).passed  # lower is better: north rose
    assert gate_slice_regression(0.05, Facts("v2", "c")).passed  # nothing in the stage


def test_gate_card() -> None:
    assert not gate_card(Facts("v1", "c"), None).passed
    card = Facts("v1", "c", card={"model_details": {}})
    assert gate_card(card, lambda c: []).passed
    result = gate_card(card, lambda c: ["section intended_use is missing"])
    assert not result.passed and "intended_use" in result.detail


def test_evaluate_lists_every_gate() -> None:
    policy = StagePolicy(
        requires="dev", min_metrics={"accuracy": 0.9, "f1": 0.5}, card_complete=True
    )
    metrics = read_metrics(b'{"accuracy": 0.95}', "v1")
    results = evaluate(policy, Facts("v1", "c", metrics=metrics), lambda c: [])
    assert [r.gate for r in results] == [
        "requires",
        "min_metrics.accuracy",
        "min_metrics.f1",
        "card_complete",
    ]
    assert [r.gate for r in failures(results)] == ["requires", "min_metrics.f1", "card_complete"]


# ------------------------------------------------------------- promote, end to end
def write_reports(
    repo: Path, accuracy: float, log_loss: float, slice_values: dict[str, float], card: dict | None
) -> str:
    (repo / "reports").mkdir(exist_ok=True)
    (repo / "reports/metrics.json").write_text(
        json.dumps({"accuracy": accuracy, "log_loss": log_loss, "n_test": 100})
    )
    (repo / "reports/slices.json").write_text(json.dumps(raw_slices(slice_values)))
    files = ["reports/metrics.json", "reports/slices.json"]
    if card is not None:
        (repo / "model_card").mkdir(exist_ok=True)
        (repo / "model_card/card.json").write_text(json.dumps(card))
        files.append("model_card/card.json")
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", f"reports {accuracy}")
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit(path, "params.yaml", PARAMS)
    return path


def rel(repo: Path, *args: str, check: bool = True):
    return release(repo, *args, check=check, env=fake_time_env())


def test_policy_blocks_and_passes(repo: Path) -> None:
    # v0.0.1: good metrics; v0.0.2: accuracy below the floor; v0.0.3: a slice collapses
    write_reports(
        repo,
        0.9,
        0.3,
        {"region=north": 0.9, "employment_type=self_employed": 0.8},
        {"incomplete": True},
    )
    rel(repo, "register", "model")
    write_reports(repo, 0.7, 0.3, {"region=north": 0.9, "employment_type=self_employed": 0.8}, None)
    rel(repo, "register", "model")
    write_reports(
        repo,
        0.92,
        0.6,
        {"region=north": 0.93, "employment_type=self_employed": 0.5},
        {"incomplete": True},
    )
    rel(repo, "register", "model")

    # staging requires dev first
    proc = rel(repo, "promote", "model", "staging", "--version", "v0.0.1", check=False)
    assert proc.returncode == 1 and "requires: v0.0.1 must be promoted to dev first" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    rel(repo, "promote", "model", "dev", "--version", "v0.0.1")
    rel(repo, "promote", "model", "staging", "--version", "v0.0.1")  # passes now

    # the accuracy floor, read at the version's commit, not from the working tree
    rel(repo, "promote", "model", "dev", "--version", "v0.0.2")
    (repo / "reports/metrics.json").write_text(json.dumps({"accuracy": 0.99, "log_loss": 0.1}))
    before = tags(repo)
    with pytest.raises(CheckFailed, match=r"min_metrics.accuracy: accuracy = 0.7 \(needs >= 0.8\)"):
        api.promote(repo, "model", "staging", version="v0.0.2")
    assert tags(repo) == before

    # every failed gate is listed: log_loss ceiling and requires
    with pytest.raises(CheckFailed) as info:
        api.promote(repo, "model", "staging", version="v0.0.3")
    assert "2 policy gate(s)" in info.value.what
    assert "requires" in info.value.what and "max_metrics.log_loss" in info.value.what

    # prod: the card of v0.0.1 is incomplete (the card checker says why)
    with pytest.raises(CheckFailed, match="card_complete: card incomplete"):
        api.promote(repo, "model", "prod", version="v0.0.1")
    # --force --reason overrides and is recorded
    tag = api.promote(repo, "model", "prod", version="v0.0.1", force=True, reason="hotfix approved")
    message = git(repo, "tag", "-l", "--format=%(contents)", tag)
    assert message.startswith("Assigning stage prod to artifact model version v0.0.1")
    assert "Forced past failed gates: card_complete" in message
    assert "Reason: hotfix approved" in message

    # slice regression against the version prod holds (v0.0.1)
    rel(repo, "promote", "model", "dev", "--version", "v0.0.3")
    api.promote(repo, "model", "staging", version="v0.0.3", force=True, reason="log_loss ok")
    with pytest.raises(CheckFailed, match=r"employment_type=self_employed -0\.3"):
        api.promote(repo, "model", "prod", version="v0.0.3")
    results = api.check_gates(repo, "model", "prod", version="v0.0.3")
    assert {r.gate: r.passed for r in results} == {
        "requires": True,
        "max_slice_regression": False,
        "card_complete": False,
    }


def test_metrics_missing_from_git(repo: Path) -> None:
    rel(repo, "register", "model")
    rel(repo, "promote", "model", "dev")
    (repo / "reports").mkdir()
    (repo / "reports/metrics.json").write_text(json.dumps({"accuracy": 0.99, "log_loss": 0.1}))
    proc = rel(repo, "promote", "model", "staging", check=False)
    assert proc.returncode == 1
    assert "not committed in git at v0.0.1" in proc.stderr

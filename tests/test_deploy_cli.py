"""`release deploy` and `release deployments` as a user runs them: the real CLI, the real
model server, replay load with labels, records, stop, and the Kubernetes render path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_deploy_serve import build, git, snapshot

from release.deploy import processes

RELEASE = str(Path(sys.executable).with_name("release"))
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
release:
  deploy:
    poll_interval: 0.2
    golden_rows: 100
    kubernetes: {image: "release:dev"}
    judge:
      min_labelled: 20
    canary:
      steps:
        - {weight: 50, min_requests: 30, min_duration: 1, max_duration: 30}
        - {weight: 100, min_requests: 30, min_duration: 1, max_duration: 30}
"""


def run(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([RELEASE, *args], cwd=repo, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


@pytest.fixture
def repo(tmp_path: Path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    (root / "params.yaml").write_text(PARAMS)
    build(root)
    yield root
    run(root, "deployments", "--stop", "model", "prod", check=False)


@pytest.mark.slow
def test_cli_deploy_replay_records_and_stop(repo: Path):
    port = str(processes.free_port())
    snapshot(repo, "v0.1.0")
    first = json.loads(run(repo, "deploy", "model", "prod", "--port", port, "--json").stdout)
    assert first["outcome"] == "promoted"
    assert first["router_url"] == f"http://127.0.0.1:{port}"
    build(repo)
    snapshot(repo, "v0.2.0")
    proc = run(
        repo,
        "deploy",
        "model",
        "prod",
        "--strategy",
        "canary",
        "--replay",
        "data/prepared/test.parquet",
        "--rps",
        "60",
    )
    assert proc.stdout.startswith("promoted: model v0.2.0 in prod (canary)")
    # Not a terminal: quiet lines, one per check and step result.
    assert "check golden: pass" in proc.stderr
    assert "canary 50%" in proc.stderr and "\r" not in proc.stderr
    records = json.loads(run(repo, "deployments", "--json").stdout)
    (record,) = records
    assert record["current"]["version"] == "v0.2.0"
    assert record["running"] == {
        "router": True,
        "server": True,
        "standby": False,
        "candidate": False,
    }
    assert "token" not in record["router"]
    last = record["history"][-1]
    assert last["replay"]["failed"] == 0 and last["replay"]["ok"] > 30
    assert last["steps"][0]["candidate"]["labelled"] > 0  # labels travelled with the replay
    assert last["steps"][0]["candidate"]["accuracy"] > 0.9
    text = run(repo, "deployments", "model").stdout
    assert "model prod: v0.2.0 (running)" in text
    assert "v0.1.0 -> v0.2.0: promoted [canary 50% pass, canary 100% pass]" in text
    stopped = run(repo, "deployments", "--stop", "model", "prod").stdout
    assert stopped.startswith("stopped 2 process(es)")
    for info in (record["router"], record["current"]["server"]):
        assert not processes.alive(info)
    again = json.loads(run(repo, "deployments", "--json").stdout)
    assert again[0]["running"]["router"] is False


@pytest.mark.slow
def test_cli_usage_errors_and_kubernetes_render(repo: Path):
    bad = run(repo, "deploy", "model", "prod", "--render-only", check=False)
    assert bad.returncode == 2 and "--target kubernetes" in bad.stderr
    none = run(repo, "deploy", "model", "prod", check=False)
    assert none.returncode != 0 and "no version of model is assigned to prod" in none.stderr
    snapshot(repo, "v0.1.0")
    out = repo / "manifests"
    rendered = json.loads(
        run(
            repo,
            "deploy",
            "model",
            "prod",
            "--target",
            "kubernetes",
            "--render-only",
            "--out",
            str(out),
            "--json",
        ).stdout
    )
    assert rendered["version"] == "v0.1.0" and rendered["applied"] is False
    assert rendered["files"] and all(Path(f).is_file() for f in rendered["files"])
    sha = json.loads((repo / "models/model.json").read_text())["sha256"]
    assert any(sha in Path(f).read_text() for f in rendered["files"])
    assert run(repo, "deployments").stdout.strip() == "no deployments recorded"


def test_deploy_chaos_rehearsal_rule_is_checked_before_anything(tmp_path: Path):
    (tmp_path / "params.yaml").write_text(PARAMS)
    out = subprocess.run(
        [RELEASE, "deploy", "model", "prod", "--chaos", "errors=7", "--repo", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "Error: --chaos 'errors=7' has an invalid value" in out.stderr
    assert not (tmp_path / ".release").exists()


def test_serve_launcher_gives_chaos_to_the_candidate_only():
    from release.deploy.effects import ServeLauncher

    launcher = ServeLauncher(candidate_args=["--chaos", "flip"], candidate="v2")
    assert launcher.command("model", "v2", 1)[-2:] == ["--chaos", "flip"]
    assert "--chaos" not in launcher.command("model", "v1", 1)

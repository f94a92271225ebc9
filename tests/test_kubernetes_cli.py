"""`release deploy --target kserve|kubernetes` from a real registry: the CLI renders what the
registry assigns, with the hash the registry recorded, and says what went wrong in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_registry_support import commit, fake_time_env, init_repo, release

SHA = "ab" * 32
PARAMS = """\
release:
  stages: [dev, staging, prod]
  deploy:
    strategies: {dev: direct, staging: bluegreen, prod: canary}
    kubernetes: {image: "registry.example.com/team/release:1.4.0", scrape: annotations}
"""


def rel(repo: Path, *args: str, check: bool = True):
    return release(repo, *args, check=check, env=fake_time_env())


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = init_repo(tmp_path_factory.mktemp("k8s-cli") / "repo")
    commit(path, "params.yaml", PARAMS)
    commit(path, "reports/metrics.json", json.dumps({"accuracy": 0.9, "n_test": 100}))
    commit(path, "models/model.json", json.dumps({"sha256": SHA}))
    rel(path, "register", "model")
    rel(path, "promote", "model", "dev", "--version", "v0.0.1")
    rel(path, "promote", "model", "prod", "--version", "v0.0.1", "--force", "--reason", "test")
    return path


def test_deploy_target_kserve_renders_the_registry_version(repo: Path) -> None:
    out = repo.parent / "kserve"
    args = ("--render-only", "--out", str(out), "--json")
    proc = rel(repo, "deploy", "model", "prod", "--target", "kserve", *args)
    rendered = json.loads(proc.stdout)
    assert rendered["version"] == "v0.0.1" and rendered["applied"] is False
    isvc = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    assert isvc["kind"] == "InferenceService"
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10  # prod is canary: its first step
    env = {e["name"]: e["value"] for e in predictor["containers"][0]["env"]}
    assert env["RELEASE_MODEL_SHA256"] == SHA  # the registry's recorded hash
    assert predictor["initContainers"][0]["args"][1] == "model@v0.0.1"
    assert sorted(p.name for p in (out / "kserve-steps").iterdir()) == [
        "step-01.yaml",
        "step-02.yaml",
        "step-03.yaml",
    ]


def test_deploy_target_kserve_refuses_blue_green_in_one_line(repo: Path) -> None:
    out = repo.parent / "never"
    rel(repo, "promote", "model", "staging", "--version", "v0.0.1", "--force", "--reason", "t")
    proc = rel(
        repo,
        "deploy",
        "model",
        "staging",
        "--target",
        "kserve",
        "--render-only",
        "--out",
        str(out),
        check=False,
    )
    assert proc.returncode != 0
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: strategy bluegreen has no KServe form")
    assert not out.exists()

"""One transient 5xx does not roll back a healthy canary (end to end on the local target)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_deploy_rollout import (
    Client,
    FakeLauncher,
    first_deploy,
    gto_prod,
    release_version,
    repo,  # noqa: F401 (fixture)
    settings_for,
)

from release.deploy import processes
from release.deploy.controller import DeployOptions, deploy_local


@pytest.mark.slow
def test_one_transient_error_is_promoted(repo: Path) -> None:  # noqa: F811
    settings = settings_for()
    launcher = FakeLauncher({"v0.2.0": ["--fail-nth", "40"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
        )
    assert client.failed == []  # the router retried the failed call on the baseline
    assert result.outcome == "promoted", result.reason
    errors = [
        c
        for step in result.steps
        for c in (step.get("verdict") or {}).get("checks", [])
        if c["name"] == "errors"
    ]
    assert sum(c["numbers"]["candidate_errors"] for c in errors) == 1
    assert all(c["status"] == "pass" for c in errors)
    assert gto_prod(repo) == "v0.2.0"

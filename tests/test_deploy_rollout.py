"""Rollouts end to end on the local target: real git registry, real server and router
processes on 127.0.0.1, real traffic from the test's own client.

The model servers here are the small V2 fake (tests/test_deploy_fakeserver.py) so each
fault is exact and fast; tests/test_deploy_serve.py runs the real `release serve`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from release.config import BakeSettings, BlueGreenSettings, CanaryStep, Settings
from release.deploy import processes
from release.deploy.controller import DeployOptions, deploy_local, stop_deployment
from release.deploy.records import load_record, record_path
from release.registry import api

FAKE = str(Path(__file__).with_name("test_deploy_fakeserver.py"))
GTO = str(Path(sys.executable).with_name("gto"))


@dataclass
class FakeLauncher:
    """Serve each version with the fake server; ``flags`` per version inject faults."""

    flags: dict[str, list[str]] = field(default_factory=dict)

    def command(self, name: str, version: str, port: int) -> list[str]:
        return [
            sys.executable,
            FAKE,
            "--port",
            str(port),
            "--name",
            name,
            "--version",
            version,
            *self.flags.get(version, []),
        ]


def settings_for(steps=None, **judge) -> Settings:
    base = Settings()
    dep = base.release.deploy
    steps = steps or [
        CanaryStep(50, min_requests=15, min_duration=1.0, max_duration=8.0),
        CanaryStep(100, min_requests=15, min_duration=1.0, max_duration=8.0),
    ]
    new_judge = replace(dep.judge, **{"min_labelled": 10, **judge})
    new_dep = replace(
        dep,
        canary=replace(dep.canary, steps=steps),
        judge=new_judge,
        shadow=CanaryStep(100, min_requests=20, min_duration=1.0, max_duration=8.0),
        # Bake windows of 60 requests: enough for the bake to compare like with like.
        bluegreen=BlueGreenSettings(BakeSettings(duration=2.0, min_requests=60)),
        poll_interval=0.2,
        start_timeout=20.0,
    )
    return replace(base, release=replace(base.release, deploy=new_dep))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def new_repo(tmp_path: Path) -> Iterator[Path]:
    """A git repository for one test; every stage's processes stopped afterwards."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    yield root
    # Leave no processes behind, whatever happened.
    for rec_file in (root / ".release" / "deployments").glob("*/*.json"):
        stop_deployment(root, Settings(), "model", rec_file.stem)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    yield from new_repo(tmp_path)


def release_version(repo: Path, version: str, stage: str = "prod") -> None:
    (repo / "VERSION").write_text(version)
    git(repo, "add", "VERSION")
    git(repo, "commit", "-qm", version)
    api.register(str(repo), "model", version=version)
    api.promote(str(repo), "model", stage, version=version)


class Client:
    """The test's own traffic through the router; counts every failure it sees."""

    def __init__(self, url: str, threads: int = 3, pause: float = 0.01) -> None:
        self.url = url + "/v2/models/model/infer"
        self.ok = 0
        self.failed: list[str] = []
        self.pause = pause
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, seed: int) -> None:
        # Inputs drawn at random (not cycled): any window of requests is a sample of the
        # same input distribution, as production traffic is and as the judge's tests assume.
        rng = random.Random(seed)
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                x = rng.randrange(20) / 20 + 0.025
                body = {
                    "inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [x]}],
                    "parameters": {"labels": [int(x > 0.5)]},
                }
                try:
                    r = client.post(self.url, json=body)
                    if r.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{r.status_code} {r.text[:100]}")
                except httpx.HTTPError as exc:
                    self.failed.append(repr(exc))
                time.sleep(self.pause)

    def __enter__(self) -> Client:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def first_deploy(repo: Path, settings: Settings, launcher: FakeLauncher, port: int):
    release_version(repo, "v0.1.0")
    result = deploy_local(
        repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
    )
    assert result.outcome == "promoted", result.reason
    assert result.router_url == f"http://127.0.0.1:{port}"
    return result


def gto_prod(repo: Path) -> str:
    out = subprocess.run(
        [GTO, "show", "--json"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)["model"]["stage"]["prod"]


def rollout_with_fault(
    repo: Path,
    flags: list[str],
    *,
    settings=None,
    kill=False,
    traffic=True,
    smoke=True,
    outcome="rolled_back",
):
    settings = settings or settings_for()
    launcher = FakeLauncher({"v0.2.0": flags})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    events = []

    def progress(event):
        events.append(event)
        if (
            kill
            and event.get("event") == "step"
            and event["elapsed"] > 0.5
            and not any(e.get("killed") for e in events)
        ):
            pid = next(
                e["pid"] for e in events if e.get("event") == "ready" and "v0.2.0" in e["what"]
            )
            os.kill(pid, signal.SIGKILL)
            events.append({"killed": pid})

    options = DeployOptions(port=port, launcher=launcher, progress=progress, smoke=smoke)
    if traffic:
        with Client(f"http://127.0.0.1:{port}") as client:
            result = deploy_local(repo, settings, "model", "prod", options)
            time.sleep(0.3)  # traffic after the rollback still succeeds
        assert client.failed == [], client.failed[:5]
        assert client.ok > 20
    else:
        result = deploy_local(repo, settings, "model", "prod", options)
    assert result.outcome == outcome, result.reason
    assert result.action == "rolled_back" and result.exit_code == 1
    assert len(result.steps) <= 2
    # Git says what really serves: the rollback tag, read identically by gto.
    assert result.rollback_tag and result.rollback_tag.startswith("model#prod#")
    message = git(repo, "tag", "-l", "--format=%(contents)", result.rollback_tag)
    assert "Rollback" in message and "v0.2.0" in message
    assert api.read_state(str(repo)).active_version("model", "prod") == "v0.1.0"
    assert gto_prod(repo) == "v0.1.0"
    record = load_record(repo / ".release/deployments", "model", "prod")
    assert record["current"]["version"] == "v0.1.0"
    assert record["history"][-1]["outcome"] == outcome
    assert processes.alive(record["current"]["server"])
    assert processes.alive(record["router"])
    cand_pid = next(e["pid"] for e in events if e.get("event") == "ready")
    assert not Path(f"/proc/{cand_pid}").exists() or not processes.alive(
        {"pid": cand_pid, "cmd": launcher.command("model", "v0.2.0", 0), "port": 0}
    )
    return result, record


@pytest.mark.slow
def test_healthy_candidate_is_promoted_and_stop_leaves_nothing(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher()
    port = processes.free_port()
    first = first_deploy(repo, settings, launcher, port)
    assert "first deployment" in first.strategy
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
        )
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "promoted", result.reason
    assert [s["step"] for s in result.steps] == ["canary 50%", "canary 100%"]
    assert all(s["verdict"]["status"] == "pass" for s in result.steps)
    record = load_record(repo / ".release/deployments", "model", "prod")
    assert record["current"]["version"] == "v0.2.0"
    assert record["history"][-1]["steps"][0]["verdict"]["checks"][1]["name"] == "errors"
    served = httpx.post(
        f"http://127.0.0.1:{port}/v2/models/model/infer",
        json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.9]}]},
    ).json()
    assert served["model_version"] == "v0.2.0"
    # Deploying the same version again changes nothing.
    again = deploy_local(repo, settings, "model", "prod", DeployOptions(launcher=launcher))
    assert again.outcome == "unchanged"
    pids = stop_deployment(repo, settings, "model", "prod")
    assert len(pids) == 2
    for pid in pids:
        assert not processes.alive({"pid": pid, "cmd": ["x"], "port": 0})
    assert not processes.port_in_use(port)


@pytest.mark.slow
def test_candidate_answering_500_to_half_is_rolled_back(repo: Path):
    # Without the smoke check (which would catch it before any traffic), the canary must.
    result, record = rollout_with_fault(repo, ["--chaos", "errors=0.5"], smoke=False)
    assert "error rate" in result.reason
    assert record["history"][-1]["steps"][0]["retries"] > 0


@pytest.mark.slow
def test_candidate_killed_mid_rollout_is_rolled_back(repo: Path):
    result, _ = rollout_with_fault(repo, [], kill=True)
    # Whichever the judge sees first: the exit, the errors, or the truncated predictions.
    assert any(w in result.reason for w in ("exited", "error rate", "prediction distribution"))


@pytest.mark.slow
def test_slow_candidate_is_rolled_back(repo: Path):
    steps = [
        CanaryStep(50, min_requests=8, min_duration=1.0, max_duration=15.0),
        CanaryStep(100, min_requests=8, min_duration=1.0, max_duration=15.0),
    ]
    result, _ = rollout_with_fault(repo, ["--chaos", "latency=300"], settings=settings_for(steps))
    assert "latency" in result.reason


@pytest.mark.slow
def test_candidate_with_wrong_labels_is_rolled_back(repo: Path):
    result, _ = rollout_with_fault(repo, ["--chaos", "flip"])
    assert "accuracy" in result.reason


@pytest.mark.slow
def test_too_little_traffic_is_inconclusive_then_rolled_back(repo: Path):
    steps = [
        CanaryStep(50, min_requests=15, min_duration=0.5, max_duration=2.0),
        CanaryStep(100, min_requests=15, min_duration=0.5, max_duration=2.0),
    ]
    result, record = rollout_with_fault(
        repo, [], settings=settings_for(steps), traffic=False, outcome="inconclusive"
    )
    assert "inconclusive at the time limit" in result.reason
    assert len(result.steps) == 1
    assert record["history"][-1]["steps"][0]["verdict"]["status"] == "inconclusive"


@pytest.mark.slow
def test_shadow_agreement_and_flips(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher({"v0.3.0": ["--chaos", "flip"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")  # retrained, identical answers
    with Client(f"http://127.0.0.1:{port}") as client:
        same = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, strategy="shadow"),
        )
        assert same.outcome == "promoted", same.reason
        shadow = same.steps[0]["shadow"]
        assert shadow["agreement"] == 1.0 and shadow["flips"] == {}
        release_version(repo, "v0.3.0")  # a different model
        other = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, strategy="shadow"),
        )
    assert client.failed == []
    assert other.outcome == "rolled_back"
    flips = other.steps[0]["shadow"]["flips"]
    assert sum(flips.values()) > 0 and set(flips) <= {"0->1", "1->0"}
    assert "class flips" in other.reason
    assert gto_prod(repo) == "v0.2.0"


@pytest.mark.slow
def test_bluegreen_keeps_old_warm_for_instant_switch_back(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher()
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, strategy="bluegreen"),
        )
        assert result.outcome == "promoted", (result.reason, result.steps)
        record = load_record(repo / ".release/deployments", "model", "prod")
        assert record["standby"]["version"] == "v0.1.0"
        assert processes.alive(record["standby"]["server"])
        # A registry rollback, then deploy: the warm standby takes traffic at once.
        api.rollback(str(repo), "model", "prod", reason="bad blue")
        back = deploy_local(repo, settings, "model", "prod", DeployOptions(launcher=launcher))
    assert back.outcome == "switched"
    assert client.failed == []
    record = load_record(repo / ".release/deployments", "model", "prod")
    assert record["current"]["version"] == "v0.1.0" and record["standby"]["version"] == "v0.2.0"
    standby_server = record["standby"]["server"]
    # Any other strategy retires the standby once its candidate is promoted.
    release_version(repo, "v0.3.0")
    direct = deploy_local(
        repo, settings, "model", "prod", DeployOptions(launcher=launcher, strategy="direct")
    )
    assert direct.outcome == "promoted"
    record = load_record(repo / ".release/deployments", "model", "prod")
    assert record["standby"] is None and not processes.alive(standby_server)


def test_deploy_without_assigned_version_is_an_error(repo: Path):
    from release.errors import DeployError, UsageError

    (repo / "a").write_text("a")
    git(repo, "add", "a")
    git(repo, "commit", "-qm", "a")
    with pytest.raises(DeployError, match="no version of model is assigned to prod"):
        deploy_local(repo, settings_for(), "model", "prod")
    with pytest.raises(UsageError):
        deploy_local(repo, settings_for(), "model", "../etc")


@pytest.mark.slow
def test_changed_input_schema_is_rolled_back_before_traffic(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher({"v0.2.0": ["--feature", "y"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    result = deploy_local(
        repo, settings, "model", "prod", DeployOptions(port=port, launcher=launcher)
    )
    assert result.outcome == "rolled_back"
    assert result.steps == []
    assert "input schema changed: removed x; added y" in result.reason
    assert "--allow-schema-change" in result.reason
    assert gto_prod(repo) == "v0.1.0"


@pytest.mark.slow
def test_candidate_that_cannot_start_is_rolled_back(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher({"v0.2.0": ["--no-such-flag"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    origin = repo.parent / "origin.git"
    git(repo.parent, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    result = deploy_local(
        repo,
        settings,
        "model",
        "prod",
        DeployOptions(port=port, launcher=launcher, push="origin"),
    )
    assert result.outcome == "rolled_back"
    # The rollback tag reached the remote (as CI needs), as an annotated tag.
    remote_tags = git(repo, "ls-remote", "--tags", "origin")
    assert f"refs/tags/{result.rollback_tag}" in remote_tags
    assert "candidate server failed to start" in result.reason
    assert "exited with code 2" in result.reason
    assert gto_prod(repo) == "v0.1.0"
    # The baseline kept serving through its router.
    r = httpx.post(
        f"http://127.0.0.1:{port}/v2/models/model/infer",
        json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.9]}]},
    )
    assert r.status_code == 200 and r.json()["model_version"] == "v0.1.0"


@pytest.mark.slow
def test_first_deployment_that_cannot_start_fails_without_rollback(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher({"v0.1.0": ["--no-such-flag"]})
    release_version(repo, "v0.1.0")
    result = deploy_local(
        repo,
        settings,
        "model",
        "prod",
        DeployOptions(port=processes.free_port(), launcher=launcher),
    )
    assert result.outcome == "failed" and not result.ok
    assert result.rollback_tag is None
    # Nothing serves the stage: no record with "current": null is left (issue 16).
    assert not record_path(repo / ".release/deployments", "model", "prod").exists()
    assert load_record(repo / ".release/deployments", "model", "prod")["current"] is None


@pytest.mark.slow
def test_bluegreen_smoke_check_stops_a_failing_candidate_before_the_switch(repo: Path):
    settings = settings_for()
    launcher = FakeLauncher({"v0.2.0": ["--chaos", "errors=0.5"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        result = deploy_local(
            repo,
            settings,
            "model",
            "prod",
            DeployOptions(port=port, launcher=launcher, strategy="bluegreen"),
        )
    assert client.failed == [] and client.ok > 0
    assert result.outcome == "rolled_back" and result.steps == []
    (smoke,) = [c for c in result.checks if c["name"] == "smoke"]
    assert smoke["status"] == "fail" and smoke["numbers"]["failures"]["500"] > 0
    assert gto_prod(repo) == "v0.1.0"
    record = load_record(repo / ".release/deployments", "model", "prod")
    assert record["standby"] is None and record["current"]["version"] == "v0.1.0"

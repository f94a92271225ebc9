"""Faults outside the candidate: the controller signalled or killed, a dead baseline, a
blue/green candidate that fails after the switch, inconclusive held, taken ports.

Each runs real fake-server processes behind the real router with the test's own client
counting client-visible errors, then checks git (``gto show``), the record and the
processes left.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from test_deploy_rollout import (
    Client,
    FakeLauncher,
    first_deploy,
    git,
    gto_prod,
    new_repo,
    release_version,
    settings_for,
)

from release.config import BakeSettings, BlueGreenSettings, CanaryStep
from release.deploy import processes
from release.deploy.controller import DeployOptions, deploy_local
from release.deploy.records import load_record, record_path
from release.errors import DeployError


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    yield from new_repo(tmp_path)


CHILD = str(Path(__file__).with_name("deploy_child.py"))
RELEASE = str(Path(sys.executable).with_name("release"))


def record_of(repo: Path) -> dict:
    return load_record(repo / ".release/deployments", "model", "prod")


def router_state(record: dict) -> dict:
    router = record["router"]
    headers = {"x-release-token": router["token"]}
    return httpx.get(f"{router['url']}/_router/state", headers=headers, timeout=10).json()


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


def start_child(repo: Path, port: int) -> subprocess.Popen[str]:
    """``release deploy`` in its own process, stopped mid-canary by the test."""
    child = subprocess.Popen(
        [sys.executable, CHILD, str(repo), str(port), "{}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def running(condition):
        def check() -> bool:
            if child.poll() is not None:
                raise AssertionError(f"the rollout ended early: {child.communicate()}")
            return condition()

        return check

    # Mid-canary: the candidate takes its share of the traffic.
    wait_for(running(lambda: (record_of(repo).get("candidate") or {}).get("server") is not None))
    wait_for(running(lambda: router_state(record_of(repo))["weight"] == 50))
    return child


def assert_baseline_only(repo: Path, candidate_pid: int) -> dict:
    record = record_of(repo)
    assert record["current"]["version"] == "v0.1.0"
    assert record["candidate"] is None and record["controller"] is None
    state = router_state(record)
    assert state["candidate"] is None and state["baseline"]["version"] == "v0.1.0"
    wait_for(lambda: not Path(f"/proc/{candidate_pid}").exists() or _zombie(candidate_pid), 10)
    assert gto_prod(repo) == "v0.1.0"
    entry = record["history"][-1]
    assert entry["outcome"] == "aborted" and entry["rollback_tag"]
    assert "v0.2.0" in git(repo, "tag", "-l", "--format=%(contents)", entry["rollback_tag"])
    return entry


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_canary_aborts_cleanly(repo: Path, signum: int):
    port = processes.free_port()
    first_deploy(repo, settings_for(), FakeLauncher(), port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        child = start_child(repo, port)
        candidate_pid = record_of(repo)["candidate"]["server"]["pid"]
        child.send_signal(signum)
        out, err = child.communicate(timeout=60)
        time.sleep(0.3)
    assert child.returncode == 128 + signum, err
    assert client.failed == [] and client.ok > 20
    entry = assert_baseline_only(repo, candidate_pid)
    assert entry["signal"] == signum and signal.Signals(signum).name in entry["reason"]
    assert json.loads(out)["outcome"] == "aborted"


@pytest.mark.slow
def test_sigkill_mid_canary_is_reconciled_by_the_next_deploy(repo: Path):
    port = processes.free_port()
    first_deploy(repo, settings_for(), FakeLauncher(), port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        child = start_child(repo, port)
        candidate_pid = record_of(repo)["candidate"]["server"]["pid"]
        child.kill()
        child.wait(10)
        notes = []
        options = DeployOptions(launcher=FakeLauncher(), progress=notes.append)
        result = deploy_local(repo, settings_for(), "model", "prod", options)
        time.sleep(0.3)
    assert client.failed == [] and client.ok > 20
    assert any("recovered a stale rollout" in n.get("message", "") for n in notes)
    # The reconciliation rolled the registry back, so the stage already serves its version.
    assert result.outcome == "unchanged" and result.version == "v0.1.0"
    assert_baseline_only(repo, candidate_pid)


@pytest.mark.slow
def test_sigkill_mid_canary_is_reconciled_by_release_deployments(repo: Path):
    port = processes.free_port()
    first_deploy(repo, settings_for(), FakeLauncher(), port)
    release_version(repo, "v0.2.0")
    with Client(f"http://127.0.0.1:{port}") as client:
        child = start_child(repo, port)
        record = record_of(repo)
        candidate_pid = record["candidate"]["server"]["pid"]
        assert record["controller"]["pid"] == child.pid and record["controller"]["started"]
        assert record["candidate"]["server"]["started"]
        child.kill()
        child.wait(10)
        assert record_of(repo)["history"][-1]["outcome"] == "running"  # stale
        shown = subprocess.run(
            [RELEASE, "deployments", "model", "prod", "--repo", str(repo), "--json"],
            capture_output=True,
            text=True,
            cwd=repo,
        )
        time.sleep(0.3)
    assert shown.returncode == 0, shown.stderr
    assert "recovered model prod" in shown.stderr
    assert json.loads(shown.stdout)[0]["history"][-1]["outcome"] == "aborted"
    assert client.failed == [] and client.ok > 20
    entry = assert_baseline_only(repo, candidate_pid)
    assert f"pid {child.pid}" in entry["reason"]
    # Nothing left to recover, on demand either.
    again = subprocess.run(
        [RELEASE, "deployments", "--recover", "model", "prod", "--repo", str(repo)],
        capture_output=True,
        text=True,
        cwd=repo,
    )
    assert again.returncode == 0 and "nothing to recover" in again.stderr


@pytest.mark.slow
def test_dead_baseline_never_promotes_and_clients_see_no_error(repo: Path):
    settings = settings_for(
        [CanaryStep(50, min_requests=15, min_duration=2.0, max_duration=8.0)] * 2
    )
    port = processes.free_port()
    first_deploy(repo, settings, FakeLauncher(), port)
    baseline_pid = record_of(repo)["current"]["server"]["pid"]
    time.sleep(1.1)  # gto orders tags by their second: keep the promotions apart
    release_version(repo, "v0.2.0")
    killed = []

    def progress(event):
        if event.get("event") == "step" and event["elapsed"] > 0.5 and not killed:
            os.kill(baseline_pid, signal.SIGKILL)
            killed.append(baseline_pid)

    options = DeployOptions(port=port, launcher=FakeLauncher(), progress=progress)
    with Client(f"http://127.0.0.1:{port}") as client:
        result = deploy_local(repo, settings, "model", "prod", options)
        time.sleep(0.3)
    assert killed and client.failed == [] and client.ok > 20, result
    assert result.outcome == "failed" and result.action == "held" and result.exit_code == 1
    assert result.reason.startswith("baseline unhealthy")
    assert result.rollback_tag is None
    record = record_of(repo)
    assert record["history"][-1]["outcome"] == "failed"
    assert record["current"]["version"] == "v0.1.0"  # never "promoted"
    assert processes.alive(record["candidate"]["server"])  # still answering for the dead
    tags = git(repo, "tag", "-l", "--format=%(refname:short) %(taggerdate:iso) %(contents:subject)")
    assert gto_prod(repo) == "v0.2.0", tags  # nothing rolled back to a dead version


@pytest.mark.slow
def test_bluegreen_candidate_failing_after_the_switch_is_switched_back(repo: Path):
    settings = settings_for()
    dep = settings.release.deploy
    bake = BakeSettings(duration=4.0, min_requests=60)
    settings = replace(
        settings,
        release=replace(settings.release, deploy=replace(dep, bluegreen=BlueGreenSettings(bake))),
    )
    # Errors start after the 20 smoke-check requests: only the bake can see them.
    launcher = FakeLauncher({"v0.2.0": ["--chaos", "errors=0.5@25"]})
    port = processes.free_port()
    first_deploy(repo, settings, launcher, port)
    release_version(repo, "v0.2.0")
    options = DeployOptions(port=port, launcher=launcher, strategy="bluegreen")
    with Client(f"http://127.0.0.1:{port}") as client:
        time.sleep(0.5)  # the old version's pre-switch traffic
        started = time.monotonic()
        result = deploy_local(repo, settings, "model", "prod", options)
        took = time.monotonic() - started
        time.sleep(0.3)
    assert client.failed == [] and client.ok > 20
    assert result.outcome == "rolled_back", result.reason
    assert result.reason.startswith("bake: error rate")
    assert [s["step"] for s in result.steps] == ["pre-switch window", "bake"]
    assert result.steps[0]["baseline"]["requests"] >= 15 and took < 2 * 4.0 + 10
    assert gto_prod(repo) == "v0.1.0" and result.rollback_tag
    record = record_of(repo)
    assert record["current"]["version"] == "v0.1.0" and record["standby"] is None
    assert router_state(record)["baseline"]["version"] == "v0.1.0"


@pytest.mark.slow
def test_inconclusive_held_keeps_weights_and_exits_3(repo: Path):
    steps = [CanaryStep(50, min_requests=15, min_duration=0.5, max_duration=1.5)]
    settings = settings_for(steps)
    dep = settings.release.deploy
    settings = replace(
        settings,
        release=replace(settings.release, deploy=replace(dep, on_inconclusive={"prod": "hold"})),
    )
    port = processes.free_port()
    first_deploy(repo, settings, FakeLauncher(), port)
    time.sleep(1.1)  # gto orders tags by their second: keep the promotions apart
    release_version(repo, "v0.2.0")
    options = DeployOptions(port=port, launcher=FakeLauncher())
    result = deploy_local(repo, settings, "model", "prod", options)
    assert result.outcome == "inconclusive" and result.action == "held"
    assert result.exit_code == 3 and result.rollback_tag is None
    assert "inconclusive at the time limit" in result.reason
    record = record_of(repo)
    assert record["history"][-1]["outcome"] == "inconclusive"
    assert processes.alive(record["candidate"]["server"])
    state = router_state(record)
    assert state["weight"] == 50 and state["candidate"]["version"] == "v0.2.0"
    assert gto_prod(repo) == "v0.2.0"
    # A rerun decides afresh: the held candidate is stopped, a new one is judged.
    held = record["candidate"]["server"]
    again = deploy_local(repo, settings, "model", "prod", options)
    assert again.outcome == "inconclusive" and not processes.alive(held)


@pytest.mark.slow
def test_taken_router_port_fails_before_anything_starts_and_auto_picks_one(repo: Path):
    release_version(repo, "v0.1.0")
    started: list[str] = []

    class Counting(FakeLauncher):
        def command(self, name: str, version: str, port: int) -> list[str]:
            started.append(version)
            return super().command(name, version, port)

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DeployError, match=f"router port {port} .* already in use"):
            deploy_local(repo, settings_for(), "model", "prod", DeployOptions(port=port))
    assert started == []
    assert not record_path(repo / ".release/deployments", "model", "prod").exists()
    settings = settings_for()
    dep = settings.release.deploy
    auto = replace(
        settings, release=replace(settings.release, deploy=replace(dep, router_port="auto"))
    )
    options = DeployOptions(launcher=Counting(), replay=str(repo / "rows.csv"))
    result = deploy_local(repo, auto, "model", "prod", options)
    assert result.outcome == "promoted" and started == ["v0.1.0"]
    record = record_of(repo)
    assert result.router_url == f"http://127.0.0.1:{record['router_port']}"
    assert result.notes == [
        "--replay ignored: a canary (first deployment: direct) deployment has no analysed step"
    ]

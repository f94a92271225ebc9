"""Plans, records, process safety and golden-set discovery (no servers)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from release.config import BakeSettings, BlueGreenSettings, CanaryStep, DeploySettings, Settings
from release.deploy import processes
from release.deploy.checks import contract_check, find_golden
from release.deploy.plan import make_plan, strategy_for
from release.deploy.records import (
    check_name,
    list_records,
    load_record,
    locked,
    record_path,
    save_record,
)
from release.errors import DeployError, UsageError


def test_plans_follow_settings():
    dep = DeploySettings()
    canary = make_plan("canary", dep)
    assert [s.kind for s in canary.steps] == ["checks", "canary", "canary", "canary", "switch"]
    assert [s.weight for s in canary.steps[1:4]] == [10, 50, 100]
    assert canary.max_seconds == 180.0
    assert [s.kind for s in make_plan("shadow", dep).steps] == ["checks", "shadow", "switch"]
    blue = make_plan("bluegreen", dep)
    kinds = [s.kind for s in blue.steps]
    assert blue.keep_standby and kinds == ["checks", "reference", "switch", "bake"]
    assert blue.steps[1].min_requests == 50 and blue.steps[1].max_duration == 30.0
    bake = blue.steps[-1]
    assert (bake.weight, bake.min_requests, bake.min_duration) == (100, 50, 30.0)
    no_bake = replace(dep, bluegreen=BlueGreenSettings(BakeSettings(duration=0)))
    assert [s.kind for s in make_plan("bluegreen", no_bake).steps] == ["checks", "switch"]
    assert [s.kind for s in make_plan("direct", dep).steps] == ["checks", "switch"]
    first = make_plan("canary", dep, has_baseline=False)
    assert first.strategy.startswith("canary (first deployment")
    assert [s.kind for s in first.steps] == ["checks", "switch"]
    with pytest.raises(UsageError, match="unknown strategy"):
        make_plan("yolo", dep)
    assert strategy_for("prod", dep) == "canary"
    assert strategy_for("staging", dep) == "bluegreen"
    assert strategy_for("prod", dep, "shadow") == "shadow"


def test_settings_load_canary_steps_from_params(tmp_path: Path):
    from release.config import load_settings

    (tmp_path / "params.yaml").write_text(
        "release:\n  deploy:\n    canary:\n      steps:\n"
        "        - {weight: 25, min_requests: 10, min_duration: 1, max_duration: 2}\n"
    )
    steps = load_settings(tmp_path / "params.yaml").release.deploy.canary.steps
    assert steps == [CanaryStep(25, 10, 1.0, 2.0)]


def test_records_are_atomic_listed_and_locked(tmp_path: Path):
    rec = load_record(tmp_path, "model", "prod")
    assert rec["current"] is None and rec["history"] == []
    rec["current"] = {"version": "v1.0.0", "server": None}
    path = save_record(tmp_path, rec)
    assert path == tmp_path / "model" / "prod.json"
    assert json.loads(path.read_text())["current"]["version"] == "v1.0.0"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [r["stage"] for r in list_records(tmp_path)] == ["prod"]
    assert list_records(tmp_path, "other") == []
    with locked(tmp_path, "model", "prod"):
        errors = []

        def second():
            try:
                with locked(tmp_path, "model", "prod"):
                    pass
            except DeployError as exc:
                errors.append(exc)

        t = threading.Thread(target=second)
        t.start()
        t.join()
        assert errors and "another deployment" in errors[0].what
    for bad in ("../x", "a//b", "../../etc/passwd", "", "x;rm", "a b"):  # UPPER is a GTO name
        with pytest.raises(UsageError):
            check_name(bad)
    with pytest.raises(UsageError):
        record_path(tmp_path, "model", "../prod")
    (tmp_path / "model" / "prod.json").write_text("{broken")
    with pytest.raises(DeployError, match="unreadable"):
        load_record(tmp_path, "model", "prod")


def test_processes_only_signal_the_recorded_command(tmp_path: Path):
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 10  # until exec: a forked child shows pytest's command
        while psutil.Process(proc.pid).cmdline() != cmd and time.monotonic() < deadline:
            time.sleep(0.01)
        other = {"pid": proc.pid, "cmd": [sys.executable, "-c", "other"], "port": 1}
        assert not processes.alive(other)
        assert processes.stop(other) is False  # a pid whose command differs is left alone
        assert proc.poll() is None
        mine = {"pid": proc.pid, "cmd": cmd, "port": 1}
        assert processes.alive(mine)
        assert processes.stop(mine) is True
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert processes.alive(None) is False


def test_start_failure_reports_the_log(tmp_path: Path):
    port = processes.free_port()
    cmd = [sys.executable, "-c", "import sys; print('boom: bad model'); sys.exit(3)"]
    with pytest.raises(DeployError, match=r"exited with code 3.*boom: bad model"):
        processes.start(cmd, port=port, log_path=tmp_path / "x.log", ready_path="/", timeout=10)


def test_contract_check():
    base = {"inputs": [{"name": "a", "datatype": "FP64"}, {"name": "b", "datatype": "BYTES"}]}
    same = contract_check(base, base)
    assert same.status == "pass"
    changed = {"inputs": [{"name": "a", "datatype": "BYTES"}, {"name": "c", "datatype": "FP64"}]}
    check = contract_check(base, changed)
    assert check.status == "fail"
    assert check.numbers == {"removed": ["b"], "added": ["c"], "changed": ["a"], "declared": False}
    assert contract_check(base, changed, allow_change=True).status == "pass"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_golden_set_found_through_dvc_lock_and_cache(tmp_path: Path):
    repo = tmp_path
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    files = {"data/prepared/test.parquet": b"test-rows", "reports/predictions.parquet": b"preds"}
    lock = {"schema": "2.0", "stages": {"evaluate": {"cmd": "x", "outs": []}}}
    for rel, data in files.items():
        md5 = hashlib.md5(data).hexdigest()
        lock["stages"]["evaluate"]["outs"].append({"path": rel, "md5": md5, "size": len(data)})
        cached = repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    (repo / "dvc.lock").write_text(json.dumps(lock))
    _git(repo, "add", "dvc.lock")
    _git(repo, "commit", "-qm", "lock")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    golden = find_golden(repo, commit, tmp_path)
    assert golden is not None and golden.source == "dvc.lock"
    assert golden.predictions.read_bytes() == b"preds"
    # The working tree's copy is used when it matches the commit's hash...
    (repo / "reports").mkdir()
    (repo / "reports/predictions.parquet").write_bytes(b"preds")
    assert find_golden(repo, commit, tmp_path).predictions == repo / "reports/predictions.parquet"
    # ...and a file of another version is never mistaken for it.
    (repo / "reports/predictions.parquet").write_bytes(b"other")
    assert find_golden(repo, commit, tmp_path).predictions != repo / "reports/predictions.parquet"
    for p in (repo / ".dvc/cache").rglob("*"):
        if p.is_file():
            p.unlink()
    assert find_golden(repo, commit, tmp_path) is None


def test_default_settings_are_valid():
    dep = Settings().release.deploy
    assert dep.router_port == 8700 and dep.shadow.weight == 100


def test_progress_display_rewrites_on_a_terminal_and_prints_lines_in_ci(capsys):
    from release.deploy.commands import ProgressDisplay

    events = [
        {"event": "check", "check": "contract", "status": "pass", "reason": "same inputs"},
        *[
            {
                "event": "step",
                "step": "canary 10%",
                "weight": 10,
                "elapsed": t,
                "candidate_requests": n,
                "baseline_requests": 9 * n,
                "retries": 0,
                "verdict": "inconclusive" if n < 100 else "pass",
                "reasons": [],
            }
            for t, n in ((0.5, 20), (1.0, 60), (2.0, 120))
        ],
        {
            "event": "step",
            "step": "canary 50%",
            "weight": 50,
            "elapsed": 0.5,
            "candidate_requests": 3,
            "baseline_requests": 3,
            "retries": 1,
            "verdict": "fail",
            "reasons": ["error rate"],
        },
        {"event": "done", "outcome": "rolled_back", "version": "v2", "reason": "error rate"},
    ]
    quiet = ProgressDisplay(interactive=False)
    for e in events:
        quiet(e)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "check contract: pass (same inputs)"
    assert lines[1].startswith("canary 10%") and lines[1].endswith("pass")  # last state only
    assert lines[2].startswith("canary 50%") and lines[2].endswith("fail")
    assert lines[3] == "rolled_back: v2 (error rate)"
    assert len(lines) == 4
    tty = ProgressDisplay(interactive=True)
    for e in events:
        tty(e)
    err = capsys.readouterr().err
    assert err.count("\r") == 4  # one rewritten line per update


def test_records_read_v1_and_write_v2(tmp_path: Path):
    from release.deploy.records import SCHEMA_VERSION, DeploymentRecord, read_record

    v1 = {
        "name": "model",
        "stage": "prod",
        "target": "local",
        "current": None,
        "router": None,
        "history": [{"id": "r1", "outcome": "promoted"}],
        "future": 1,
    }
    path = tmp_path / "model" / "prod.json"
    path.parent.mkdir()
    path.write_text(json.dumps(v1))  # written before schema versions: read as v1
    rec = read_record(path)
    assert rec.history[0]["id"] == "r1" and rec.standby is None
    assert load_record(tmp_path, "model", "prod")["schema_version"] == SCHEMA_VERSION
    save_record(tmp_path, rec)
    written = json.loads(path.read_text())
    assert written["schema_version"] == SCHEMA_VERSION and written["future"] == 1
    assert DeploymentRecord.from_dict(written) == rec
    path.write_text(json.dumps({**v1, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(DeployError, match="schema_version"):
        read_record(path)
    assert list_records(tmp_path) == []  # a record it cannot read is not listed
    path.write_text(json.dumps({**v1, "history": "oops"}))
    with pytest.raises(DeployError, match="history"):
        load_record(tmp_path, "model", "prod")

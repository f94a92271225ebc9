"""Rollouts whose controller died: detect them and put the stage back in order.

A ``release deploy`` killed with SIGKILL leaves its record's last entry ``running`` and
its candidate serving. The record holds the controller's pid and start time; when that
process is gone, :func:`reconcile` does what the controller would have done on SIGTERM:
all traffic to the baseline (switching back to the warm old version when blue/green had
already switched), the candidate stopped, the entry closed as ``aborted``, and a rollback
tag when the registry assigns the stage a version other than the one serving it.
``release deploy`` and ``release deployments`` call it for the stage they touch;
``release deployments --recover NAME STAGE`` calls it on demand.
:func:`stop_deployment` (``release deployments --stop``) stops every process of a stage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.config import Settings
from release.deploy import processes
from release.deploy.effects import RouterClient, all_traffic_to
from release.deploy.records import load_record, locked, now, record_path, save_record
from release.errors import DeployError


def running_entry(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's last entry when it is still ``running``."""
    history = record.get("history") or []
    if history and history[-1].get("outcome") == "running":
        entry = history[-1]
        assert isinstance(entry, dict)
        return entry
    return None


def is_stale(record: dict[str, Any]) -> bool:
    """True when a rollout is recorded as running but its controller is gone."""
    if running_entry(record) is None:
        return False
    return not processes.identity_alive(record.get("controller"))


def reconcile(
    repo: Path,
    state_dir: Path,
    record: dict[str, Any],
    *,
    registry_version: Callable[[], str | None],
    rollback: Callable[[str, str], str],
    why: str = "the controller died during the rollout",
) -> dict[str, Any] | None:
    """Close a stale rollout (see the module docstring); the closed entry, or None when
    there was nothing to do. The caller holds the stage's lock."""
    entry = running_entry(record)
    if entry is None or not is_stale(record):
        return None
    controller = record.get("controller") or {}
    problems: list[str] = []
    if entry.get("switched") and record.get("standby"):
        # Blue/green had switched: the old version, kept warm, takes traffic back.
        candidate = record.get("current")
        record["current"], record["standby"] = record["standby"], None
    else:
        candidate = record.get("candidate")
    current = record.get("current")
    router = record.get("router")
    if current and router and processes.alive(current.get("server")) and processes.alive(router):
        client = RouterClient(router["url"], router.get("token"))
        try:
            all_traffic_to(client, current["server"], current["version"])
        except DeployError as exc:
            problems.append(f"router: {exc.what}")
        finally:
            client.close()
    elif current:
        problems.append("the baseline or the router is not running (release deploy restarts it)")
    if candidate and candidate.get("version") != (current or {}).get("version"):
        processes.stop(candidate.get("server"))
    record["candidate"] = None
    record["controller"] = None
    tag = None
    if current is not None and registry_version() != current["version"]:
        reason = f"release deploy rolled back {entry.get('candidate')}: aborted ({why})"
        tag = rollback(current["version"], reason)
    entry.update(
        outcome="aborted",
        action="rolled_back" if current else "stopped",
        reason=f"aborted: {why} (pid {controller.get('pid', '?')}); reconciled {now()}",
        finished=now(),
        rollback_tag=tag,
        switched=False,
    )
    if problems:
        entry.setdefault("problems", []).extend(problems)
    save_record(state_dir, record)
    return entry


def stop_deployment(repo: str | Path, settings: Settings, name: str, stage: str) -> list[int]:
    """Stop the stage's router, server, standby and held candidate; return the pids stopped."""
    state_dir = Path(repo) / settings.release.deploy.state_dir
    if not record_path(state_dir, name, stage).is_file():
        return []  # never deployed: nothing runs, and no lock file or folder is left behind
    with locked(state_dir, name, stage):
        record = load_record(state_dir, name, stage)
        stopped = []
        for info in (
            record.get("router"),
            (record.get("current") or {}).get("server"),
            (record.get("standby") or {}).get("server"),
            (record.get("candidate") or {}).get("server"),
        ):
            if info and processes.stop(info):
                stopped.append(int(info["pid"]))
        record["router"] = None
        record["candidate"] = None
        if record.get("current"):
            record["current"]["server"] = None
            record["current"]["stopped"] = now()
        record["standby"] = None
        if record.get("history") or record.get("current"):
            save_record(state_dir, record)
        return stopped

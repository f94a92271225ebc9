"""``release deployments``: read the records (reconciling stale rollouts) and show them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from release.config import Settings
from release.deploy import processes
from release.deploy.controller import recover_deployment
from release.deploy.records import list_records
from release.deploy.recovery import is_stale
from release.errors import DeployError
from release.notes import merge_records


def read_records(
    repo: str, settings: Settings, name: str | None, stage: str | None, *, recover: bool
) -> list[dict[str, Any]]:
    """The records of ``name`` (every artifact when None) in ``stage`` (every stage when
    None), stale rollouts reconciled first, rollouts noted in git merged in, and whether
    each process still runs (the router's admin token left out)."""
    state_dir = Path(repo) / settings.release.deploy.state_dir
    records = list_records(state_dir, name)
    if _recover(repo, settings, records, stage, recover=recover):
        records = list_records(state_dir, name)
    elif recover:
        click.echo(f"{name} {stage}: nothing to recover", err=True)
    records = merge_records(repo, records, name)  # rollouts noted in git (other machines, CI)
    if stage:
        records = [r for r in records if r.get("stage") == stage]
    for rec in records:
        rec["running"] = {
            "router": processes.alive(rec.get("router")),
            "server": processes.alive((rec.get("current") or {}).get("server")),
            "standby": processes.alive((rec.get("standby") or {}).get("server")),
            "candidate": processes.alive((rec.get("candidate") or {}).get("server")),
        }
        if rec.get("router"):
            rec["router"] = {k: v for k, v in rec["router"].items() if k != "token"}
    return records


def _recover(
    repo: str,
    settings: Settings,
    records: list[dict[str, Any]],
    stage: str | None,
    *,
    recover: bool,
) -> list[str]:
    """Reconcile the stale rollouts among ``records`` (all of them with ``recover``)."""
    recovered = []
    for rec in records:
        if stage and rec.get("stage") != stage:
            continue
        if recover or is_stale(rec):
            try:
                closed = recover_deployment(repo, settings, rec["name"], rec["stage"])
            except DeployError as exc:
                # The lock is held: a deployment is really running; leave it alone.
                click.echo(f"not recovered: {exc.what}", err=True)
                continue
            if closed is not None:
                recovered.append(f"{rec['name']} {rec['stage']}")
                click.echo(f"recovered {rec['name']} {rec['stage']}: {closed['reason']}", err=True)
    return recovered


def print_records(records: list[dict[str, Any]]) -> None:
    """One line per stage, then its last five rollouts."""
    if not records:
        click.echo("no deployments recorded")
        return
    for rec in records:
        current = rec.get("current") or {}
        router = rec.get("router") or {}
        running = "running" if rec["running"]["router"] and rec["running"]["server"] else "stopped"
        click.echo(
            f"{rec['name']} {rec['stage']}: {current.get('version', '-')} ({running}) "
            f"router {router.get('url', '-')}"
        )
        held = rec.get("candidate")
        if held and rec["running"]["candidate"]:
            click.echo(f"  candidate {held['version']} held at its weight (rerun release deploy)")
        for entry in rec.get("history", [])[-5:]:
            click.echo("  " + _history_line(entry))


def _history_line(entry: dict[str, Any]) -> str:
    steps = ", ".join(f"{s['step']} {s['verdict']['status']}" for s in entry.get("steps", []))
    return (
        f"{entry.get('started', '')} {entry.get('strategy', '')} "
        f"{entry.get('baseline') or '-'} -> {entry.get('candidate')}: {entry.get('outcome')}"
        + (f" [{steps}]" if steps else "")
        + (f" ({entry['reason']})" if entry.get("reason") else "")
    )

"""Deployment records: what serves each artifact's stage, and every rollout's analysis.

One JSON file per artifact and stage, ``<state_dir>/<name>/<stage>.json``, written
atomically::

    {"name", "stage", "target", "current": {"version", "server": {pid, cmd, port, url}},
     "standby": {...} | null, "router": {pid, cmd, port, url, token} | null,
     "history": [{"id", "strategy", "candidate", "baseline", "outcome", "reason",
                  "started", "finished", "checks": [...], "steps": [...],
                  "rollback_tag"}]}

A lock file beside it keeps two deployments of the same stage from interleaving.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from release import notes
from release.errors import DeployError
from release.fsio import read_json, write_json
from release.registry.grammar import validate_name, validate_stage


def check_name(name: str) -> str:
    """Validate an artifact name before it becomes part of a path or command: the grammar
    ``release register`` accepts (release.registry.grammar), so what registers deploys."""
    return validate_name(name)


def check_stage(stage: str) -> str:
    """Validate a stage name before it becomes part of a path or command (gto's grammar)."""
    return validate_stage(stage)


def record_path(state_dir: str | os.PathLike[str], name: str, stage: str) -> Path:
    """Where the record of ``name`` in ``stage`` lives."""
    return Path(state_dir) / check_name(name).replace("/", "__") / f"{check_stage(stage)}.json"


def empty_record(name: str, stage: str) -> dict[str, Any]:
    """A record for a stage that has never been deployed."""
    return {
        "name": name,
        "stage": stage,
        "target": "local",
        "current": None,
        "standby": None,
        "router": None,
        "history": [],
    }


def load_record(state_dir: str | os.PathLike[str], name: str, stage: str) -> dict[str, Any]:
    """The record of ``name`` in ``stage`` (an empty one when there is none)."""
    path = record_path(state_dir, name, stage)
    if not path.is_file():
        return empty_record(name, stage)
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise DeployError(f"deployment record {path} is unreadable: {exc}", "remove it") from None
    if not isinstance(data, dict):
        raise DeployError(f"deployment record {path} is not a JSON object", "remove it")
    return {**empty_record(name, stage), **data}


def save_record(state_dir: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write a record atomically; return its path."""
    path = record_path(state_dir, record["name"], record["stage"])
    write_json(path, record)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)  # it holds the router's admin token
    notes.record_finished(state_dir, record)  # a finished rollout also goes into git notes
    return path


def list_records(
    state_dir: str | os.PathLike[str], name: str | None = None
) -> list[dict[str, Any]]:
    """Every record under ``state_dir`` (of one artifact when ``name`` is given)."""
    root = Path(state_dir)
    if not root.is_dir():
        return []
    folders = [root / check_name(name).replace("/", "__")] if name else sorted(root.iterdir())
    records = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(OSError, ValueError):
                data = read_json(path)
                if isinstance(data, dict) and "name" in data and "stage" in data:
                    records.append(data)
    return records


@contextlib.contextmanager
def locked(state_dir: str | os.PathLike[str], name: str, stage: str) -> Iterator[None]:
    """Hold the stage's lock, or fail at once when another deployment holds it."""
    path = record_path(state_dir, name, stage).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DeployError(
                f"another deployment of {name} in {stage} is running",
                "wait for it to finish",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def now() -> str:
    """UTC timestamp for records."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def summary(measure: dict[str, Any]) -> dict[str, Any]:
    """Counts from a router window, without the raw lists."""
    lat = sorted(measure.get("latencies_ms", []))
    correct = measure.get("correct", [])
    return {
        "requests": measure.get("requests", 0),
        "errors": measure.get("errors", 0),
        "client_errors": measure.get("client_errors", 0),
        "p50_ms": lat[len(lat) // 2] if lat else None,
        "labelled": len(correct),
        "accuracy": sum(correct) / len(correct) if correct else None,
    }

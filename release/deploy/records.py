"""Deployment records: what serves each artifact's stage, and every rollout's analysis.

One JSON file per artifact and stage, ``<state_dir>/<name>/<stage>.json``, written
atomically::

    {"schema_version": 2, "name", "stage", "target",
     "current": {"version", "server": {pid, cmd, port, url}},
     "standby": {...} | null, "router": {pid, cmd, port, url, token} | null,
     "history": [{"id", "strategy", "candidate", "baseline", "outcome", "reason",
                  "started", "finished", "checks": [...], "steps": [...],
                  "rollback_tag"}]}

A lock file beside it keeps two deployments of the same stage from interleaving.
:class:`DeploymentRecord` is the typed form, read by :func:`read_record` (any schema
version; none means v1) and written by :func:`write_record`; the dict helpers
(``load_record``, ``save_record``, ``list_records``) go through the same two.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from release import notes
from release.errors import DeployError
from release.fsio import read_json, write_json
from release.grammar import validate_name, validate_stage


def check_name(name: str) -> str:
    """Validate an artifact name before it becomes part of a path or command: the grammar
    ``release register`` accepts (release.grammar), so what registers deploys."""
    return validate_name(name)


def check_stage(stage: str) -> str:
    """Validate a stage name before it becomes part of a path or command (gto's grammar)."""
    return validate_stage(stage)


def record_path(state_dir: str | os.PathLike[str], name: str, stage: str) -> Path:
    """Where the record of ``name`` in ``stage`` lives."""
    return Path(state_dir) / check_name(name).replace("/", "__") / f"{check_stage(stage)}.json"


SCHEMA_VERSION = 2  # v1: the same fields without "schema_version" (read as they are)
_SLOTS = ("current", "standby", "router")


@dataclass
class DeploymentRecord:
    """What serves one artifact's stage, and the history of its rollouts.

    ``current``/``standby`` are ``{"version", "server": Managed.to_dict()}``, ``router``
    is ``Managed.to_dict()`` plus its admin ``token``; each history entry is one
    rollout's record. Keys this version does not know are kept (``extra``) so an older
    ``release`` never drops what a newer one wrote.
    """

    name: str
    stage: str
    target: str = "local"
    current: dict[str, Any] | None = None
    standby: dict[str, Any] | None = None
    router: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, source: str = "deployment record") -> DeploymentRecord:
        """The one reader: v2, or v1 (no ``schema_version``); a bad shape is a DeployError."""
        if not isinstance(data, dict):
            raise DeployError(f"{source} is not a JSON object", "remove it")
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise DeployError(
                f"{source} has schema_version {version!r}; this release reads 1 to "
                f"{SCHEMA_VERSION}",
                "upgrade release, or remove the record",
            )
        name, stage = data.get("name"), data.get("stage")
        if not isinstance(name, str) or not isinstance(stage, str):
            raise DeployError(f"{source} lacks its name or stage", "remove it")
        for key in _SLOTS:
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise DeployError(f"{source}: {key} is not an object", "remove it")
        history = data.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise DeployError(f"{source}: history is not a list of objects", "remove it")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            name=name,
            stage=stage,
            target=str(data.get("target") or "local"),
            current=data.get("current"),
            standby=data.get("standby"),
            router=data.get("router"),
            history=list(history),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        """The one writer's form: always the current schema version."""
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        out["schema_version"] = SCHEMA_VERSION
        return {**self.extra, **out}


def empty_record(name: str, stage: str) -> dict[str, Any]:
    """A record for a stage that has never been deployed."""
    return DeploymentRecord(name, stage).to_dict()


def read_record(
    path: str | os.PathLike[str], name: str | None = None, stage: str | None = None
) -> DeploymentRecord:
    """Read one record file (any supported schema version); ``name``/``stage`` fill in
    a v1 file that lacks them (its path names them)."""
    try:
        data = read_json(Path(path))
    except (OSError, ValueError) as exc:
        raise DeployError(f"deployment record {path} is unreadable: {exc}", "remove it") from None
    if isinstance(data, dict) and name is not None and stage is not None:
        data = {"name": name, "stage": stage, **data}
    return DeploymentRecord.from_dict(data, source=f"deployment record {path}")


def write_record(state_dir: str | os.PathLike[str], record: DeploymentRecord) -> Path:
    """Write a record atomically, private to the user (it holds the router's token)."""
    path = record_path(state_dir, record.name, record.stage)
    write_json(path, record.to_dict())
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return path


def load_record(state_dir: str | os.PathLike[str], name: str, stage: str) -> dict[str, Any]:
    """The record of ``name`` in ``stage`` as a dict (an empty one when there is none)."""
    path = record_path(state_dir, name, stage)
    if not path.is_file():
        return empty_record(name, stage)
    return read_record(path, name, stage).to_dict()


def save_record(
    state_dir: str | os.PathLike[str], record: dict[str, Any] | DeploymentRecord
) -> Path:
    """Write a record (its dict form or the dataclass) atomically; return its path."""
    typed = record if isinstance(record, DeploymentRecord) else DeploymentRecord.from_dict(record)
    path = write_record(state_dir, typed)
    notes.record_finished(state_dir, typed.to_dict())  # a finished rollout goes to git notes
    return path


def list_records(
    state_dir: str | os.PathLike[str], name: str | None = None
) -> list[dict[str, Any]]:
    """Every readable record under ``state_dir`` (of one artifact when ``name`` is given)."""
    root = Path(state_dir)
    if not root.is_dir():
        return []
    folders = [root / check_name(name).replace("/", "__")] if name else sorted(root.iterdir())
    records = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            with contextlib.suppress(DeployError):  # a broken file is not a deployment
                records.append(read_record(path).to_dict())
    return records


@contextlib.contextmanager
def locked(state_dir: str | os.PathLike[str], name: str, stage: str) -> Iterator[None]:
    """Hold the stage's lock, or fail at once when another deployment holds it."""
    path = record_path(state_dir, name, stage).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    # filelock: flock on POSIX, msvcrt on Windows; timeout 0 fails at once, as before.
    lock = FileLock(str(path), timeout=0, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise DeployError(
            f"another deployment of {name} in {stage} is running", "wait for it to finish"
        ) from None
    try:
        yield
    finally:
        lock.release()


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

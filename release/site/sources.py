"""What the site reads besides the tags: files at each version's commit, monitoring
history, rollouts (git notes and local deployment records).

Everything comes from git objects (``git cat-file --batch``: one process for all versions),
never from the working tree, except local deployment records, which are read as
``release deployments`` reads them. Each file is bounded (``MAX_FILE``) and parsed as JSON
defensively: a broken or hostile file at some commit leaves that fact empty.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release import dvcstore, facts, notes, paths
from release.deploy.records import list_records
from release.errors import ReleaseError
from release.monitor.result import read_drift_metrics
from release.registry import git

MAX_FILE = 4 * 1024 * 1024
MAX_MONITOR = 200  # monitoring results shown, newest first
# Files read at every version's commit (all small, kept in git by the pipeline).
VERSION_FILES = (paths.CARD_JSON, paths.METRICS, paths.SLICES_JSON, paths.MODEL_META)
MONITOR_FILES = ("reports/drift.json", "reports/quality.json")
DVC_LOCK = "dvc.lock"


def _json(raw: bytes | None) -> Any:
    if raw is None or len(raw) > MAX_FILE:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _parse(path: str, blob: bytes | None, commit: str) -> Any:
    """The file as the page reads it: the evaluate stage's contracts through their typed
    readers (None when a commit's file does not satisfy them), the others as JSON."""
    if blob is None or len(blob) > MAX_FILE:
        return None
    try:
        if path == paths.METRICS:
            return dict(facts.read_metrics(blob, commit[:12]).values)
        if path == paths.SLICES_JSON:
            return facts.read_slices(blob, commit[:12]).doc
    except facts.FactError:
        return None
    return _json(blob)


def read_version_files(
    repo: str | os.PathLike[str], commits: list[str]
) -> dict[str, dict[str, Any]]:
    """``{commit: {path: parsed JSON or None}}`` for :data:`VERSION_FILES`, one git call.

    A file kept by DVC rather than git (an output with ``cache: true``) is read from the
    local DVC cache when that commit's ``dvc.lock`` names it and the cache holds it.
    """
    unique = sorted(set(commits))
    wanted = (*VERSION_FILES, DVC_LOCK)
    specs = [f"{c}:{p}" for c in unique for p in wanted]
    blobs = git.read_blobs(repo, specs) if specs else []
    raw: dict[str, dict[str, bytes | None]] = {c: {} for c in unique}
    for spec, blob in zip(specs, blobs, strict=True):
        commit, _, path = spec.partition(":")
        raw[commit][path] = blob
    out: dict[str, dict[str, Any]] = {}
    for commit, found in raw.items():
        lock = found.pop(DVC_LOCK)
        if lock is not None and any(b is None for b in found.values()):
            cached = dvc_outputs(Path(repo), lock)
            for path, blob in found.items():
                if blob is None and path in cached:
                    found[path] = _read_cached(Path(repo), cached[path])
        out[commit] = {path: _parse(path, blob, commit) for path, blob in found.items()}
    return out


def dvc_outputs(repo: Path, lock: bytes) -> dict[str, str]:
    """``{path: md5}`` of the outputs a ``dvc.lock`` records (bounded), by the DVC layer."""
    if len(lock) > MAX_FILE:
        return {}
    return {out.path: out.md5 for out in dvcstore.outs_in_lock(lock)}


def _read_cached(repo: Path, md5: str) -> bytes | None:
    """The DVC cache's copy of ``md5`` (``cache.dir`` honoured), or None."""
    path = dvcstore.cached_object(repo, md5)
    try:
        if path is None or path.stat().st_size > MAX_FILE:
            return None
        return path.read_bytes()
    except OSError:
        return None


@dataclass
class MonitorPoint:
    """One recorded monitoring result: the commit that recorded it and its numbers."""

    commit: str
    time: int
    subject: str
    drift: dict[str, Any] | None = None
    quality: dict[str, Any] | None = None


def read_monitoring(repo: str | os.PathLike[str]) -> list[MonitorPoint]:
    """Drift and quality results committed over time (``reports/drift.json``,
    ``reports/quality.json`` in the history of any branch or tag), newest first, at most
    MAX_MONITOR."""
    proc = git.run(
        repo,
        "log",
        "--branches",
        "--remotes",
        "--tags",
        f"--max-count={MAX_MONITOR}",
        "--format=%H%x00%ct%x00%s",
        "--",
        *MONITOR_FILES,
        check=False,
    )
    if proc.returncode != 0:
        return []
    points = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        parts = line.split("\0")
        if len(parts) == 3 and parts[1].isdigit():
            points.append(MonitorPoint(parts[0], int(parts[1]), parts[2][:200]))
    specs = [f"{p.commit}:{f}" for p in points for f in MONITOR_FILES]
    blobs = git.read_blobs(repo, specs) if specs else []
    for i, p in enumerate(points):
        drift, quality = _json(blobs[2 * i]), _json(blobs[2 * i + 1])
        metrics = read_drift_metrics(drift)  # the one reader: v1 (no version) or v2
        p.drift = metrics.to_dict() if metrics is not None else None
        p.quality = quality if isinstance(quality, dict) else None
    return points


def history_heads(repo: str | os.PathLike[str], tag_commits: list[str]) -> list[str]:
    """The commits every branch and tag points at: while they stay the same, so does the
    history :func:`read_monitoring` walks (a new tag on an old commit changes nothing)."""
    proc = git.run(repo, "for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes")
    return sorted({*proc.stdout.decode().split(), *tag_commits})


@dataclass
class Rollouts:
    """Rollouts by the assignment tag they executed (notes) and by artifact (all)."""

    by_tag: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_artifact: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of_version(self, artifact: str, version: str) -> list[dict[str, Any]]:
        """Rollouts whose candidate was ``version``, oldest first."""
        return [r for r in self.by_artifact.get(artifact, []) if r.get("candidate") == version]


def read_rollouts(repo: str | os.PathLike[str], state_dir: str | None = None) -> Rollouts:
    """Noted rollouts merged with the local deployment records (one entry per id)."""
    root = Path(repo)
    local: list[dict[str, Any]] = []
    folder = root / (state_dir or paths.DEPLOYMENTS_DIR)
    try:
        local = list_records(folder) if folder.is_dir() else []
    except ReleaseError:
        local = []
    merged = notes.merge_records(root, local)
    out = Rollouts()
    for rec in merged:
        for entry in rec.get("history") or []:
            if not isinstance(entry, dict) or entry.get("outcome") == "running":
                continue
            item = {**entry, "artifact": rec.get("name"), "stage": rec.get("stage")}
            out.by_artifact.setdefault(str(rec.get("name")), []).append(item)
            if item.get("tag"):
                out.by_tag.setdefault(str(item["tag"]), []).append(item)
    return out


def fingerprint(repo: str | os.PathLike[str]) -> str:
    """A digest of every tag and note ref: it changes whenever the registry does."""
    proc = git.run(
        repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/tags", "refs/notes"
    )
    return hashlib.sha256(proc.stdout).hexdigest()

"""Rollout records kept in git: one git note per assignment tag, under ``refs/notes/release``.

A deployment record (``.release/deployments/NAME/STAGE.json``) lives on one machine; a CI
runner's copy is gone with the runner. Each finished rollout is therefore also written as
a git note on the annotated assignment tag it executed, so ``git push origin
refs/notes/release`` carries the history with the repository and any clone (the registry
site, ``release deployments``) can read it.

Format: the note is JSON Lines, one compact rollout per line (schema ``release.rollout/1``),
sorted. One line per rollout makes the notes merge-safe: two runners that noted the same
tag merge with ``git notes merge -s cat_sort_uniq`` (the lines are concatenated, sorted and
de-duplicated), and readers keep one entry per rollout id. Bounded: a line is cut to
``MAX_LINE`` bytes (steps' details go first), a note to ``MAX_NOTE`` (oldest lines go
first), and a reader skips notes larger than ``MAX_READ``.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from release import paths
from release.errors import ReleaseError
from release.grammar import Action
from release.registry import git
from release.registry.state import ArtifactState, read_state

REF = "refs/notes/release"
SCHEMA = "release.rollout/1"
MAX_LINE = 32 * 1024
MAX_NOTE = 256 * 1024
MAX_READ = 1024 * 1024
MAX_TEXT = 500
MAX_STEPS = 50
# Entry fields kept in a note; the rest of a local record (pids, ports, tokens) is not.
_FIELDS = (
    "id",
    "strategy",
    "candidate",
    "baseline",
    "outcome",
    "reason",
    "started",
    "finished",
    "rollback_tag",
    "checks",
    "steps",
)


# ------------------------------------------------------------------------ bounding
def _short(value: Any) -> Any:
    """Strings cut to MAX_TEXT; lists and dicts bounded recursively (depth 6)."""

    def walk(v: Any, depth: int) -> Any:
        if isinstance(v, str):
            return v if len(v) <= MAX_TEXT else v[:MAX_TEXT] + "..."
        if depth > 6:
            return None
        if isinstance(v, dict):
            return {str(k)[:100]: walk(x, depth + 1) for k, x in list(v.items())[:100]}
        if isinstance(v, list | tuple):
            return [walk(x, depth + 1) for x in list(v)[:100]]
        if v is None or isinstance(v, bool | int | float):
            return v
        return str(v)[:MAX_TEXT]

    return walk(value, 0)


def _line(entry: dict[str, Any]) -> str:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def bounded_line(entry: dict[str, Any]) -> str:
    """One note line for ``entry``: compact JSON of at most MAX_LINE bytes."""
    data = _short(entry)
    data["steps"] = (data.get("steps") or [])[:MAX_STEPS]
    text = _line(data)
    if len(text.encode()) > MAX_LINE:  # the step verdicts' reasons are what matters most
        data["steps"] = [
            {k: s.get(k) for k in ("step", "kind", "weight", "seconds", "outcome")}
            | {"verdict": {"status": (s.get("verdict") or {}).get("status")}}
            for s in data["steps"]
            if isinstance(s, dict)
        ]
        data["checks"] = [
            {k: c.get(k) for k in ("check", "name", "status", "reason")}
            for c in data.get("checks") or []
            if isinstance(c, dict)
        ]
        data["truncated"] = True
        text = _line(data)
    if len(text.encode()) > MAX_LINE:
        data["steps"], data["checks"] = [], []
        text = _line(data)
    return text


def note_entry(name: str, stage: str, tag: str, entry: dict[str, Any], **extra: Any) -> dict:
    """The note form of a deployment record's history entry."""
    out = {k: entry.get(k) for k in _FIELDS}
    out.update(schema=SCHEMA, artifact=name, stage=stage, tag=tag, **extra)
    return out


# ------------------------------------------------------------------------- git side
def _tag_object(repo: str | os.PathLike[str], tag: str) -> str | None:
    proc = git.run(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"refs/tags/{tag}",
        check=False,
    )
    sha = proc.stdout.decode().strip()
    return sha if proc.returncode == 0 and sha else None


def read_note(repo: str | os.PathLike[str], obj: str) -> list[str]:
    """The lines of the note on ``obj`` (empty when it has none)."""
    proc = git.run(repo, "notes", f"--ref={REF}", "show", obj, check=False)
    if proc.returncode != 0 or len(proc.stdout) > MAX_READ:
        return []
    return [ln for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]


def merge_lines(old: list[str], new: str, new_id: str) -> list[str]:
    """``old`` without any line of rollout ``new_id``, plus ``new``: sorted, bounded."""
    kept = []
    for line in old:
        try:
            if json.loads(line).get("id") == new_id:
                continue
        except (ValueError, AttributeError):
            continue  # not ours: a broken line is dropped rather than carried on
        kept.append(line)
    others = set(kept) - {new}
    while others and sum(len(x.encode()) + 1 for x in [*others, new]) > MAX_NOTE:
        others.remove(min(others, key=_started))  # the oldest rollout goes first
    lines = sorted({*others, new})
    return lines


def _started(line: str) -> str:
    try:
        return str(json.loads(line).get("started") or "")
    except (ValueError, AttributeError):
        return ""


def write_rollout(repo: str | os.PathLike[str], tag: str, entry: dict[str, Any]) -> bool:
    """Add (or replace) ``entry`` in the note of assignment ``tag``; False when unchanged.

    RegistryError when the tag does not exist or git cannot write the note (no identity).
    """
    obj = _tag_object(repo, tag)
    if obj is None:
        raise ReleaseError(f"tag {tag} does not exist", "fetch the tags, then deploy again")
    line = bounded_line(entry)
    old = read_note(repo, obj)
    lines = merge_lines(old, line, str(entry.get("id")))
    if lines == old:
        return False
    body = ("\n".join(lines) + "\n").encode()
    git.run(repo, "notes", f"--ref={REF}", "add", "-f", "-F", "-", obj, input=body)
    return True


def executed_tag(art: ArtifactState | None, stage: str, entry: dict[str, Any]) -> str | None:
    """The assignment tag a rollout executed: the candidate's latest assignment to
    ``stage`` made before the rollout started (its latest at all when none is older)."""
    version = art.versions.get(str(entry.get("candidate"))) if art else None
    if version is None:
        return None
    assignments = [e for e in version.stages.get(stage, []) if e.action is Action.ASSIGN]
    if not assignments:
        return None
    try:
        started = datetime.fromisoformat(str(entry.get("started"))).timestamp()
    except ValueError:
        started = float("inf")
    before = [e for e in assignments if e.time <= started + 1]
    return (before or assignments)[-1].tag


def _model_shas(
    repo: str | os.PathLike[str], art: ArtifactState, versions: list[Any]
) -> list[str | None]:
    """``models/model.json``'s sha256 at each version's commit (None where unknown)."""
    commits = [art.versions[v].commit if v in art.versions else None for v in versions]
    blobs = git.read_blobs(repo, [f"{c}:{paths.MODEL_META}" for c in commits if c])
    found = iter(blobs)
    out: list[str | None] = []
    for commit in commits:
        blob = next(found) if commit else None
        try:
            out.append(str(json.loads(blob or b"")["sha256"]))
        except (ValueError, KeyError, TypeError):
            out.append(None)
    return out


def record_finished(state_dir: str | os.PathLike[str], record: dict[str, Any]) -> str | None:
    """Note the record's last rollout, when it has finished, on the tag it executed.

    Called whenever a deployment record is saved; returns the tag noted, or None. A note
    is a copy: failing to write one (no git identity, tag not fetched) prints a warning
    and never fails the deployment, whose local record stays the source of truth.
    """
    history = record.get("history") or []
    entry = history[-1] if history else None
    if not isinstance(entry, dict) or not entry.get("finished"):
        return None
    if entry.get("outcome") in (None, "running", "unchanged"):
        return None
    name, stage = str(record.get("name")), str(record.get("stage"))
    try:
        repo = git.toplevel(Path(state_dir))
    except ReleaseError:
        return None  # records kept outside any repository: nothing to attach a note to
    try:
        art = read_state(repo, [name]).artifacts.get(name)
        tag = executed_tag(art, stage, entry)
        if tag is None or art is None:
            return None
        shas = _model_shas(repo, art, [entry.get("candidate"), entry.get("baseline")])
        noted = note_entry(
            name, stage, tag, entry, candidate_sha256=shas[0], baseline_sha256=shas[1]
        )
        write_rollout(repo, tag, noted)
        return tag
    except ReleaseError as exc:
        print(f"warning: rollout not noted in git ({exc.one_line()})", file=sys.stderr)
        return None


# ------------------------------------------------------------------------- reading
def read_all(repo: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Every noted rollout, by the tag it executed; one entry per rollout id, oldest first.

    A note counts only when the object it annotates is the tag its lines name.
    """
    listed = git.run(repo, "notes", f"--ref={REF}", "list", check=False)
    if listed.returncode != 0 or not listed.stdout.strip():
        return {}
    pairs = [ln.split() for ln in listed.stdout.decode().splitlines()]
    pairs = [p for p in pairs if len(p) == 2]
    refs = git.run(repo, "for-each-ref", "--format=%(objectname) %(refname:strip=2)", "refs/tags")
    tags_of: dict[str, str] = {}
    for line in refs.stdout.decode("utf-8", "replace").splitlines():
        sha, _, tag = line.partition(" ")
        tags_of[sha] = tag
    blobs = [b for b, obj in pairs if obj in tags_of]
    sizes = git.run(
        repo, "cat-file", "--batch-check", input=("\n".join(blobs) + "\n").encode()
    ).stdout.decode()
    small = [ln.split()[0] for ln in sizes.splitlines() if _small(ln)]
    contents = dict(zip(small, git.read_blobs(repo, small), strict=True))
    out: dict[str, list[dict[str, Any]]] = {}
    for blob, obj in pairs:
        found, data = tags_of.get(obj), contents.get(blob)
        if found is None or data is None:
            continue
        tag = found
        entries = parse_note(data, tag)
        if entries:
            out[tag] = entries
    return out


def _small(check_line: str) -> bool:
    parts = check_line.split()
    return len(parts) == 3 and parts[1] == "blob" and int(parts[2]) <= MAX_READ


def parse_note(data: bytes, tag: str) -> list[dict[str, Any]]:
    """The rollouts in one note's text that belong to ``tag``, one per id, oldest first."""
    by_id: dict[str, dict[str, Any]] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("tag") != tag:
            continue
        if entry.get("schema") != SCHEMA or not isinstance(entry.get("id"), str):
            continue
        prev = by_id.get(entry["id"])
        if prev is None or str(entry.get("finished") or "") >= str(prev.get("finished") or ""):
            by_id[entry["id"]] = entry
    return sorted(by_id.values(), key=lambda e: (str(e.get("started") or ""), e["id"]))


def merge_records(
    repo: str | os.PathLike[str], records: list[dict[str, Any]], name: str | None = None
) -> list[dict[str, Any]]:
    """Local deployment records with the noted rollouts they lack added to their history.

    A stage known only from the notes (a fresh clone, a CI runner's deployment) gets a
    record of its own with ``current`` unknown. Entries from notes carry ``"source":
    "notes"``.
    """
    try:
        noted = read_all(repo)
    except ReleaseError:
        return records
    by_key = {(r.get("name"), r.get("stage")): r for r in records}
    for entries in noted.values():
        for entry in entries:
            if name is not None and entry.get("artifact") != name:
                continue
            key = (entry.get("artifact"), entry.get("stage"))
            rec = by_key.get(key)
            if rec is None:
                rec = {
                    "name": key[0],
                    "stage": key[1],
                    "target": "local",
                    "current": None,
                    "standby": None,
                    "router": None,
                    "history": [],
                }
                by_key[key] = rec
                records.append(rec)
            ids = {h.get("id") for h in rec.get("history") or []}
            if entry.get("id") not in ids:
                rec.setdefault("history", []).append({**entry, "source": "notes"})
    for rec in records:
        rec["history"] = sorted(rec.get("history") or [], key=lambda h: str(h.get("started") or ""))
    return records

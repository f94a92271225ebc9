"""The registry as gto prints it: the JSON of ``gto show``, ``history`` and ``check-ref``.

Pure functions from a :class:`~release.registry.state.RegistryState` to plain dicts and
lists with gto's keys in gto's order, serialised like gto (``json.dumps(indent=4)``,
datetimes as ``isoformat()`` with the tagger's UTC offset). Human tables live here too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from release.grammar import SemVer, is_semver
from release.registry.state import (
    ArtifactState,
    CommitInfo,
    Event,
    RegistryState,
    VersionState,
    to_datetime,
)


def dumps(data: Any) -> str:
    """JSON exactly as gto's ``format_echo(..., "json")`` writes it."""
    return json.dumps(data, indent=4)


# --------------------------------------------------------------------------- show (all)
def show_all(state: RegistryState, stages: list[str], deprecated: bool = False) -> dict[str, Any]:
    """``gto show --json``: per artifact its latest version, stage holders, flags."""
    return {
        art.name: {
            "version": art.latest_version(),
            "stage": {stage: art.active_version(stage) for stage in stages},
            "registered": art.registered,
            "active": art.active,
        }
        for art in state.artifacts.values()
        if art.active or deprecated
    }


# ---------------------------------------------------------------------------- events
def event_state(event: Event, *, with_meta: bool = False, with_event: bool = True) -> dict:
    """One event as gto's ``dict_state`` (check-ref: without priority and addition)."""
    out: dict[str, Any] = {}
    if with_meta:
        out["priority"] = event.priority
        out["addition"] = event.action.value in ("register", "assign")
    out.update(
        artifact=event.artifact,
        created_at=event.created_at.isoformat(),
        author=event.author,
        author_email=event.author_email,
        message=event.message,
        commit_hexsha=event.commit,
        tag=event.tag,
    )
    if event.version is not None:
        out["version"] = event.version
    if event.stage is not None:
        out["stage"] = event.stage
    if with_event:
        out["event"] = event.event
    return out


def check_ref(event: Event) -> dict[str, Any]:
    """``gto check-ref --json`` for the event a tag created."""
    return event_state(event)


def history(
    state: RegistryState, name: str | None = None, ascending: bool = False
) -> list[dict[str, Any]]:
    """``gto history --json``: every event, newest first (or oldest with ``ascending``)."""
    events = [
        e
        for art in state.artifacts.values()
        if name is None or art.name == name
        for e in art.events
    ]
    # The same order as show's: (tagger time, counter, gto priority, tag name).
    events.sort(key=lambda e: e.key, reverse=not ascending)
    return [
        {
            "timestamp": e.created_at.isoformat(),
            "artifact": e.artifact,
            "event": e.event,
            "priority": e.priority,
            "version": e.version,
            "stage": e.stage,
            "commit": e.commit,
            "author": e.author,
            "author_email": e.author_email,
            "message": e.message,
            "ref": e.tag,
        }
        for e in events
    ]


# ------------------------------------------------------------------------- show NAME
def _commit_event(v: VersionState, info: CommitInfo, enrichments: list[Any]) -> dict[str, Any]:
    return {
        "priority": 0,
        "addition": True,
        "artifact": v.artifact,
        "created_at": to_datetime(info.time, info.offset).isoformat(),
        "author": info.author,
        "author_email": info.author_email,
        "message": info.message,
        "commit_hexsha": info.hexsha,
        "version": v.version,
        "enrichments": enrichments,
        "committer": info.committer,
        "committer_email": info.committer_email,
    }


def _authoring(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: events[-1][k] for k in ("created_at", "author", "author_email", "message")} | {
        "ref": events[-1].get("tag", events[-1]["commit_hexsha"])
    }


def _vstage(v: VersionState, stage: str) -> dict[str, Any]:
    events = v.stages[stage]
    assignments = [event_state(e, with_meta=True) for e in events if e.action.value == "assign"]
    unassignments = [event_state(e, with_meta=True) for e in events if e.action.value == "unassign"]
    last = events[-1]
    return {
        "artifact": v.artifact,
        "commit_hexsha": v.commit,
        "version": v.version,
        "stage": stage,
        "assignments": assignments,
        "unassignments": unassignments,
        "is_active": v.stage_active(stage),
        "activated_at": last.created_at.isoformat() if v.stage_active(stage) else None,
        **_authoring(assignments or unassignments),
    }


def show_versions(
    state: RegistryState,
    art: ArtifactState,
    enrichments: dict[str, list[Any]] | None = None,
) -> list[dict[str, Any]]:
    """``gto show NAME --json``: active versions, highest semver first, with events."""
    enrichments = enrichments or {}
    # gto lists a version's stages by their latest assignment, newest first.
    found = [
        (holders[0], stage)
        for stage in art.used_stages()
        for holders in [art.stage_versions(stage)]
        if holders
    ]
    found.sort(key=lambda hs: hs[0].last_assignment(hs[1]).key, reverse=True)  # type: ignore[union-attr]
    holders = {stage: holder for holder, stage in found}
    out = []
    for v in _sorted_versions([v for v in art.versions.values() if v.active]):
        info = state.commits.get(v.commit)
        commit_events = [_commit_event(v, info, enrichments.get(v.commit, []))] if info else []
        regs = [event_state(e, with_meta=True, with_event=False) for e in v.registrations]
        deregs = [event_state(e, with_meta=True, with_event=False) for e in v.deregistrations]
        indirect_events = [e for s in v.stages.values() for e in s]
        indirect = [
            event_state(e, with_meta=True) for e in sorted(indirect_events, key=lambda e: e.key)
        ]
        if regs:
            author = _authoring(regs)
            activated = regs[0]["created_at"]
        else:
            pool = sorted(commit_events + indirect, key=lambda d: _epoch(d["created_at"]))
            author = _authoring(pool)
            activated = pool[0]["created_at"]
        stages = [_vstage(v, s) for s, holder in holders.items() if holder is v]
        out.append(
            {
                "artifact": v.artifact,
                "commit_hexsha": v.commit,
                "version": v.version,
                "enrichments": commit_events,
                "registrations": regs,
                "deregistrations": deregs,
                "stages": stages,
                "is_active": v.active,
                "activated_at": activated,
                **author,
                "discovered": v.discovered,
            }
        )
    return out


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _sorted_versions(versions: list[VersionState]) -> list[VersionState]:
    semvers = sorted(
        (v for v in versions if is_semver(v.version)), key=lambda v: SemVer(v.version), reverse=True
    )
    others = sorted(
        (v for v in versions if not is_semver(v.version)), key=lambda v: v.version, reverse=True
    )
    return semvers + others


# --------------------------------------------------------------------------- tables
def table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)

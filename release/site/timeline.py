"""What happened to an artifact, read from its tags: kinds of events, reasons, stage holders.

Pure functions over :class:`~release.registry.state.ArtifactState`. A tag's message says
why it was written: ``release promote --force`` adds ``Forced past failed gates: ...`` and
``Reason: ...``; ``release rollback`` (and a failed ``release deploy``) adds ``Rollback of
STAGE from A to B: reason``. Those words are data from the tag author: they are returned
as text and escaped by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass

from release.grammar import Action
from release.registry.state import ArtifactState, Event

MAX_REASON = 500


@dataclass(frozen=True)
class Happening:
    """One event of the timeline, as people name it."""

    event: Event
    kind: str  # registration, promotion, forced promotion, rollback, unassignment, ...
    reason: str
    gates: str  # the gates a forced promotion overrode


@dataclass(frozen=True)
class Segment:
    """A stage held one version (or nothing) from ``start`` to ``end`` (None: still)."""

    stage: str
    version: str | None
    start: int
    end: int | None
    tag: str


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON] + "..."


def classify(event: Event) -> Happening:
    """Name the event and pull its reason out of the tag message."""
    message = event.message or ""
    lines = message.splitlines()
    reason, gates = "", ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Rollback of ") and ": " in stripped:
            reason = stripped.split(": ", 1)[1]
        elif stripped.startswith("Reason:"):
            reason = reason or stripped[len("Reason:") :].strip()
        elif stripped.startswith("Forced past failed gates:"):
            gates = stripped[len("Forced past failed gates:") :].strip()
    action = event.action
    if action is Action.ASSIGN:
        if any(ln.strip().startswith("Rollback of ") for ln in lines):
            kind = "rollback"
        elif gates:
            kind = "forced promotion"
        else:
            kind = "promotion"
    else:
        kind = {
            Action.REGISTER: "registration",
            Action.DEREGISTER: "deregistration",
            Action.UNASSIGN: "unassignment",
            Action.DEPRECATE: "deprecation",
        }.get(action, event.event)
    return Happening(event, kind, _cut(reason), _cut(gates))


def stage_history(art: ArtifactState, stages: list[str]) -> dict[str, list[Segment]]:
    """For each stage, which version it held over time (oldest segment first).

    Replays the events with gto's rules: a stage holds the active version with the most
    recent assignment not undone by an unassignment; deregistration makes a version
    inactive. Linear in the number of events (the holder is recomputed only when it is
    the version an unassignment or deregistration removes).
    """
    assigned: dict[str, dict[str, tuple[int, int, int, str]]] = {s: {} for s in stages}
    active: dict[str, bool] = {}
    holder: dict[str, str | None] = dict.fromkeys(stages)
    segments: dict[str, list[Segment]] = {s: [] for s in stages}

    def recompute(stage: str) -> str | None:
        live = {v: k for v, k in assigned[stage].items() if active.get(v, True)}
        return max(live, key=lambda v: live[v]) if live else None

    def change(stage: str, new: str | None, event: Event) -> None:
        if holder[stage] == new:
            return
        holder[stage] = new
        seg = segments[stage]
        if seg:
            last = seg[-1]
            seg[-1] = Segment(last.stage, last.version, last.start, event.time, last.tag)
        seg.append(Segment(stage, new, event.time, None, event.tag))

    for event in art.events:
        v = event.version
        if event.action is Action.REGISTER and v is not None:
            was = active.get(v, True)
            active[v] = True
            if not was:
                for s in stages:
                    if v in assigned[s]:
                        change(s, recompute(s), event)
        elif event.action is Action.DEREGISTER and v is not None:
            active[v] = False
            for s in stages:
                if holder[s] == v:
                    change(s, recompute(s), event)
        elif event.stage in assigned and v is not None:
            s = event.stage
            if event.action is Action.ASSIGN:
                assigned[s][v] = event.key
                if active.get(v, True):
                    change(s, v, event)
            else:
                assigned[s].pop(v, None)
                if holder[s] == v:
                    change(s, recompute(s), event)
    return segments


def last_event(art: ArtifactState) -> Happening | None:
    """The artifact's most recent event."""
    return classify(art.events[-1]) if art.events else None

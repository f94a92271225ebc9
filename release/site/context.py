"""The facts each page shows, as plain data (pure: no git, no files).

Every function returns JSON-ready dicts (strings, numbers, lists; SVG as escaped
``Markup``), so a page's digest is the digest of its context and an unchanged page is not
rendered again. Values from tags and files are passed on as they are: the templates escape
them.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime
from typing import Any

from release.card import svg
from release.card.diff import diff_cards
from release.grammar import SemVer, is_semver
from release.registry.state import ArtifactState, Event, VersionState
from release.site import charts
from release.site.timeline import Happening, classify, stage_history

MAX_SLICES = 60
RECENT = 100  # events on the artifact page
HISTORY_BLOCK = 500  # events per history page
MAX_DIFF_ROWS = 40
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def slug(text: str) -> str:
    """A path segment for a name or version: safe characters kept, others as ``~hex``."""
    out = _SAFE.sub(lambda m: f"~{ord(m.group()):02x}", text)
    return out if out not in ("", ".", "..") else "~" + out.encode().hex()


@functools.lru_cache(maxsize=16384)
def when(epoch: int | float | None) -> str:
    """A UTC time for people: ``2026-12-01 20:15 UTC``."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_epoch(text: Any) -> float | None:
    """An ISO time string as epoch seconds (None when it is not one)."""
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def event_row(h: Happening, pages: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """One timeline row; ``linked`` when its version has a page (is in ``pages``)."""
    e = h.event
    return {
        "linked": e.version in pages,
        "tag": e.tag,
        "kind": h.kind,
        "version": e.version,
        "stage": e.stage,
        "when": when(e.time),
        "time": e.time,
        "author": e.author,
        "email": e.author_email,
        "reason": h.reason,
        "gates": h.gates,
        "message": e.message[:2000],
        "commit": e.commit,
    }


def sorted_versions(art: ArtifactState) -> list[VersionState]:
    """Registered versions, highest semver first (others after, by name)."""
    regs = [v for v in art.versions.values() if not v.discovered]
    sem = sorted((v for v in regs if is_semver(v.version)), key=lambda v: SemVer(v.version))
    other = sorted((v for v in regs if not is_semver(v.version)), key=lambda v: v.version)
    return list(reversed(sem)) + other


# ------------------------------------------------------------------------ index
def index_context(
    arts: list[ArtifactState], stages: list[str], show: dict[str, Any]
) -> dict[str, Any]:
    """Artifacts x stages, latest version, last event."""
    rows = []
    for art in arts:
        facts = show.get(art.name) or {}
        pages = {v.version for v in art.versions.values() if not v.discovered}
        last = classify(art.events[-1]) if art.events else None
        rows.append(
            {
                "name": art.name,
                "slug": slug(art.name),
                "latest": facts.get("version"),
                "active": art.active,
                "stages": [
                    (s, h, h in pages) for s in stages for h in [(facts.get("stage") or {}).get(s)]
                ],
                "last": event_row(last) if last else None,
                "versions": sum(1 for v in art.versions.values() if v.registered),
            }
        )
    return {"title": "Model registry", "stages": stages, "artifacts": rows}


# --------------------------------------------------------------------- artifact
def history_blocks(art: ArtifactState) -> list[list[Event]]:
    """The artifact's events oldest first, in blocks of HISTORY_BLOCK: a block, once full,
    never changes, so its page is never written again."""
    events = art.events
    return [events[i : i + HISTORY_BLOCK] for i in range(0, len(events), HISTORY_BLOCK)]


def history_context(art: ArtifactState, number: int, block: list[Event]) -> dict[str, Any]:
    """One history page: a block of events, newest first."""
    pages = {v.version for v in art.versions.values() if not v.discovered}
    return {
        "title": f"{art.name}: events {number}",
        "name": art.name,
        "first": when(block[0].time),
        "last": when(block[-1].time),
        "events": [event_row(classify(e), pages) for e in reversed(block)],
    }


def artifact_context(art: ArtifactState, stages: list[str], now: int) -> dict[str, Any]:
    """Timeline (the newest RECENT events; older ones on history pages), stage chart,
    versions table. ``now`` is where the chart ends."""
    history = stage_history(art, stages)
    holders = {s: art.active_version(s) for s in stages}
    pages = {v.version for v in art.versions.values() if not v.discovered}
    versions = []
    for v in sorted_versions(art):
        first = v.registrations[0] if v.registrations else None
        versions.append(
            {
                "version": v.version,
                "slug": slug(v.version),
                "active": v.active,
                "stages": [s for s in stages if holders[s] == v.version],
                "when": when(first.time) if first else "",
                "author": first.author if first else "",
                "commit": v.commit,
            }
        )
    return {
        "title": f"Artifact {art.name}",
        "name": art.name,
        "active": art.active,
        "stages": [(s, h, h in pages) for s, h in holders.items()],
        "chart": charts.stage_chart(history, now),
        "events": [event_row(classify(e), pages) for e in reversed(art.events[-RECENT:])],
        "history": [
            {
                "href": f"history-{i + 1}.html",
                "first": when(block[0].time),
                "last": when(block[-1].time),
                "count": len(block),
            }
            for i, block in enumerate(history_blocks(art))
        ]
        if len(art.events) > RECENT
        else [],
        "versions": versions,
    }


# ---------------------------------------------------------------------- version
def _d(value: Any) -> dict[str, Any]:
    """``value`` when it is a dict, else an empty one (files at old commits vary)."""
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def metrics_of(card: dict | None, flat: Any) -> dict[str, Any]:
    """Metric values with the primary metric's interval (card first, metrics.json else)."""
    m = card.get("metrics") if isinstance(card, dict) else None
    if isinstance(m, dict) and isinstance(m.get("values"), dict):
        overall = _d(m.get("overall"))
        rows = [{"name": str(k), "value": _num(v)} for k, v in sorted(m["values"].items(), key=str)]
        return {
            "primary": m.get("primary_metric"),
            "ci_low": _num(overall.get("ci_low")),
            "ci_high": _num(overall.get("ci_high")),
            "confidence": _num(m.get("confidence")),
            "rows": rows,
        }
    if isinstance(flat, dict):
        rows = [{"name": str(k), "value": _num(v)} for k, v in sorted(flat.items(), key=str)]
        return {"primary": None, "ci_low": None, "ci_high": None, "confidence": None, "rows": rows}
    return {"primary": None, "rows": []}


def slices_of(card: dict | None, report: Any) -> list[dict[str, Any]]:
    """Slice rows (card's quantitative analyses, else reports/slices.json)."""
    qa = card.get("quantitative_analyses") if isinstance(card, dict) else None
    rows = qa.get("slices") if isinstance(qa, dict) else None
    if rows is None and isinstance(report, dict):
        rows = report.get("slices")
    if not isinstance(rows, list):
        return []
    keys = ("name", "kind", "rows", "metric", "ci_low", "ci_high", "gap", "hlp")
    out = []
    for s in rows[:MAX_SLICES]:
        if isinstance(s, dict):
            row = {k: s.get(k) for k in keys}
            row["impact"] = s.get("potential_impact")
            row["rank"] = s.get("rank")
            row["small"] = bool(s.get("small"))
            out.append(row)
    return out


def card_diff(other: dict | None, this: dict | None, label: str) -> dict[str, Any] | None:
    """The parts of ``release card diff`` a page shows, from ``other`` to ``this``."""
    if not isinstance(other, dict) or not isinstance(this, dict):
        return None
    try:
        d = diff_cards(other, this, label, "this version")
    except (TypeError, ValueError, AttributeError):
        return None
    flagged = [s for s in d["slices"] if s.get("flag")][:MAX_DIFF_ROWS]
    return {
        "metrics": d["metrics"][:MAX_DIFF_ROWS],
        "overall": d["overall"],
        "flagged": flagged,
        "regressions": d["regressions"][:MAX_DIFF_ROWS],
        "improvements": d["improvements"][:MAX_DIFF_ROWS],
        "data_hashes": d["data_hashes"][:MAX_DIFF_ROWS],
        "hyperparameters": d["hyperparameters"][:MAX_DIFF_ROWS],
    }


def version_events(v: VersionState) -> list[Event]:
    """The version's own tags, oldest first."""
    events = [*v.registrations, *v.deregistrations]
    events += [e for evs in v.stages.values() for e in evs]
    return sorted(events, key=lambda e: e.key)


def version_context(
    art: ArtifactState,
    v: VersionState,
    files: dict[str, Any],
    cards: dict[str, Any],
    previous: VersionState | None,
    holders: dict[str, str | None],
    compared: dict[str, str],
    rollouts: list[dict[str, Any]],
    has_card: bool,
) -> dict[str, Any]:
    """Everything the version page shows. ``cards`` maps commits to their card (or None);
    ``holders`` is what each stage holds now (computed once per artifact), ``compared``
    the stages whose holder this version could replace (the page diffs against those)."""
    card = files.get("model_card/card.json")
    card = card if isinstance(card, dict) else None
    metrics = metrics_of(card, files.get("reports/metrics.json"))
    slices = slices_of(card, files.get("reports/slices.json"))
    chart = None
    if slices and metrics.get("primary"):
        overall = {
            "metric": next(
                (r["value"] for r in metrics["rows"] if r["name"] == metrics["primary"]), None
            )
        }
        chart = svg.slices(slices, overall, str(metrics["primary"]))
    # one comparison per other version, however many reasons there are to compare
    reasons: dict[str, list[str]] = {}
    if previous is not None:
        reasons[previous.version] = ["the previous version"]
    for stage, holder in compared.items():
        reasons.setdefault(holder, []).append(f"in {stage} now")
    diffs = [
        {
            "label": f"{other} ({', '.join(why)})",
            "against": other,
            "diff": card_diff(cards.get(art.versions[other].commit), card, other),
        }
        for other, why in reasons.items()
    ]
    dvc = _d(_d(_d(card).get("lineage")).get("dvc"))
    model_sha = _d(_d(card).get("model_details")).get("sha256")
    if model_sha is None:
        model_sha = _d(files.get("models/model.json")).get("sha256")
    params = _d(dvc.get("params"))
    return {
        "title": f"{art.name} {v.version}",
        "name": art.name,
        "version": v.version,
        "commit": v.commit,
        "active": v.active,
        "stages_now": [s for s, h in holders.items() if h == v.version],
        "events": [event_row(classify(e)) for e in reversed(version_events(v))],
        "metrics": metrics,
        "slices": slices,
        "slices_chart": chart,
        "diffs": diffs,
        "lineage": {
            "data": sorted((str(k), str(x)) for k, x in _d(dvc.get("data")).items()),
            "model": sorted((str(k), str(x)) for k, x in _d(dvc.get("model")).items()),
            "params_sha": params.get("sha256"),
            "model_sha": model_sha,
        },
        "rollouts": [rollout_row(r) for r in rollouts],
        "has_card": has_card,
        "card_found": card is not None,
    }


def rollout_row(r: dict[str, Any]) -> dict[str, Any]:
    """A rollout as the page shows it: outcome, reason, and each step's analysis."""
    steps = []
    for s in r.get("steps") or []:
        if not isinstance(s, dict):
            continue
        verdict = _d(s.get("verdict"))
        steps.append(
            {
                "step": s.get("step"),
                "weight": s.get("weight"),
                "seconds": s.get("seconds"),
                "status": verdict.get("status") or s.get("outcome"),
                "reasons": [str(x) for x in (verdict.get("reasons") or [])][:20],
                "candidate": _d(s.get("candidate")).get("requests"),
                "baseline": _d(s.get("baseline")).get("requests"),
            }
        )
    return {
        "id": r.get("id"),
        "stage": r.get("stage"),
        "strategy": r.get("strategy"),
        "candidate": r.get("candidate"),
        "baseline": r.get("baseline"),
        "outcome": r.get("outcome"),
        "reason": r.get("reason"),
        "started": r.get("started"),
        "finished": r.get("finished"),
        "tag": r.get("tag"),
        "rollback_tag": r.get("rollback_tag"),
        "source": r.get("source", "local record"),
        "checks": [
            {
                "name": c.get("name") or c.get("check"),
                "status": c.get("status"),
                "reason": c.get("reason"),
            }
            for c in (r.get("checks") or [])
            if isinstance(c, dict)
        ][:30],
        "steps": steps,
    }


# ------------------------------------------------------------------- monitoring
def monitoring_context(points: list[Any]) -> dict[str, Any]:
    """Drift and quality results over time."""
    rows = []
    for p in points:
        d, q = p.drift or {}, p.quality or {}
        rows.append(
            {
                "commit": p.commit,
                "when": when(p.time),
                "subject": p.subject,
                "drift": bool(p.drift),
                "drift_detected": d.get("drift_detected"),
                "drift_share": _num(d.get("drift_share")),
                "drifted_columns": d.get("drifted_columns"),
                "columns": d.get("columns"),
                "quality": bool(p.quality),
                "passed": q.get("passed"),
                "rules_failed": q.get("rules_failed"),
                "rules_checked": q.get("rules_checked"),
            }
        )
    series = [(p.time, _num((p.drift or {}).get("drift_share"))) for p in reversed(points)]
    return {
        "title": "Monitoring",
        "rows": rows,
        "chart": charts.line_chart(series, "share of drifted columns"),
    }

"""One analysed step's window: what it is judged against, its verdict, and what the
deployment record keeps of it. Pure functions over the router's stats (JSON), used by
:class:`release.deploy.driver.Driver`.

- canary: the candidate's window against the baseline's; a window where the baseline got
  too few requests (the 100% step) is judged against the baseline's windows of the
  earlier canary steps (:func:`pooled_reference`);
- shadow: the mirrored comparison (:func:`release.deploy.judge.judge_shadow`);
- reference: counts the old version's requests before a blue/green switch;
- bake: after the switch the router's baseline slot is the candidate, judged against
  the old version's pre-switch window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.config import JudgeSettings
from release.deploy.judge import Sample, ShadowStats, Verdict, judge, judge_shadow
from release.deploy.plan import Step
from release.deploy.records import summary

MAX_REFERENCE = 20_000  # requests kept in the pooled reference of earlier canary steps


def step_verdict(
    step: Step,
    stats: Mapping[str, Any],
    *,
    reference: Sample | None,
    bake_reference: Sample | None,
    settings: JudgeSettings,
) -> tuple[Verdict, Sample, Sample]:
    """The verdict on one window of ``step``, with the candidate and baseline it judged."""
    cand = Sample.from_dict(stats["candidate"])
    base = Sample.from_dict(stats["baseline"])
    if step.kind == "reference":
        enough = base.requests >= step.min_requests
        verdict = Verdict(
            "pass" if enough else "inconclusive",
            [f"{base.requests} requests to the old version before the switch"],
            [],
        )
        return verdict, cand, base
    if step.kind == "bake":
        # After the switch the router's baseline slot is the candidate.
        cand, base = base, bake_reference or Sample()
        return judge(cand, base, min_requests=step.min_requests, settings=settings), cand, base
    if step.kind == "shadow":
        shadow = ShadowStats.from_dict(stats["shadow"])
        verdict = judge_shadow(
            shadow, cand, base, min_requests=step.min_requests, settings=settings
        )
        return verdict, cand, base
    ref = base
    if base.requests < step.min_requests and reference is not None:
        ref = base.merged(reference)
    return judge(cand, ref, min_requests=step.min_requests, settings=settings), cand, base


def baseline_trouble(server_alive: bool, health: Mapping[str, Any]) -> str:
    """Why the baseline cannot be judged against or rolled back to ("" when it can)."""
    if not server_alive:
        return "the baseline server process exited"
    baseline = health.get("baseline") or {}
    if not baseline.get("healthy", True):
        return "router health checks fail: " + str(baseline.get("last_error", ""))
    return ""


def pooled_reference(
    reference: Sample | None, step: Step, stats: Mapping[str, Any]
) -> Sample | None:
    """The baseline's windows of the canary steps so far (the last alone past
    ``MAX_REFERENCE`` requests), for a later step whose baseline gets too few."""
    if step.kind != "canary":
        return reference
    base = Sample.from_dict(stats["baseline"])
    pooled = base if reference is None else base.merged(reference)
    return base if pooled.requests > MAX_REFERENCE else pooled


def step_entry(
    step: Step, stats: Mapping[str, Any], verdict: Verdict, elapsed: float, outcome: str
) -> dict[str, Any]:
    """The record's entry for a finished step (a bake's variants named as judged)."""
    bake = step.kind == "bake"
    return {
        "step": step.label,
        "kind": step.kind,
        "weight": step.weight,
        "seconds": round(elapsed, 3),
        "candidate": summary(stats["baseline" if bake else "candidate"]),
        "baseline": summary(stats["candidate" if bake else "baseline"]),
        "retries": stats.get("retries", 0),
        "failed": stats.get("failed", 0),
        "health": stats.get("health"),
        "shadow": stats.get("shadow") if step.kind == "shadow" else None,
        "verdict": verdict.to_dict(),
        "outcome": outcome,
    }

"""Strategies as plans: an ordered list of steps the controller runs (pure, no I/O).

- ``direct``: pre-traffic checks, then switch all traffic to the candidate;
- ``canary``: checks, then one analysed step per ``release.deploy.canary.steps`` entry
  (weight, minimum requests, minimum and maximum duration), then switch;
- ``shadow``: checks, one analysed step where the candidate gets a mirrored copy of every
  request (answers compared, never returned), then switch;
- ``bluegreen``: checks (contract, golden set) with the candidate fully up but idle, an
  pre-switch window of the old version's traffic (until it has the bake's minimum of
  requests, at most the bake's duration), an atomic switch, then a bake window
  (``release.deploy.bluegreen.bake``) judged against that pre-switch window; the old
  version stays warm as standby, so a failed bake (or a later rollback) switches back
  at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from release.config import DeploySettings
from release.errors import UsageError

StepKind = Literal["checks", "canary", "shadow", "reference", "switch", "bake"]
STRATEGIES = ("canary", "shadow", "bluegreen", "direct")


@dataclass(frozen=True)
class Step:
    """One step of a rollout."""

    kind: StepKind
    weight: float = 0.0
    min_requests: int = 0
    min_duration: float = 0.0
    max_duration: float = 0.0

    @property
    def label(self) -> str:
        """Short name for displays and records."""
        if self.kind == "canary":
            return f"canary {self.weight:g}%"
        if self.kind == "reference":
            return "pre-switch window"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """A strategy's steps and what happens to the old version after the switch."""

    strategy: str
    steps: tuple[Step, ...]
    keep_standby: bool = False

    @property
    def analysed(self) -> bool:
        """True when some step measures traffic (canary, shadow or bake)."""
        return any(s.kind in ("canary", "shadow", "reference", "bake") for s in self.steps)

    @property
    def max_seconds(self) -> float:
        """Upper bound of the analysed steps' durations."""
        return sum(s.max_duration for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "strategy": self.strategy,
            "steps": [s.to_dict() for s in self.steps],
            "keep_standby": self.keep_standby,
        }


def make_plan(strategy: str, settings: DeploySettings, *, has_baseline: bool = True) -> Plan:
    """The plan for ``strategy``; without a baseline every strategy is a direct start."""
    if strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {strategy!r}", "use one of " + ", ".join(STRATEGIES))
    checks = Step("checks")
    switch = Step("switch", weight=100)
    if not has_baseline or strategy == "direct":
        return Plan(
            "direct" if has_baseline else f"{strategy} (first deployment: direct)", (checks, switch)
        )
    if strategy == "bluegreen":
        bake = settings.bluegreen.bake
        if bake.duration <= 0:
            return Plan("bluegreen", (checks, switch), keep_standby=True)
        # The old version's traffic just before the switch is what the bake is judged
        # against: up to the bake's duration to collect its minimum of requests.
        reference = Step("reference", 0, bake.min_requests, 0.0, bake.duration)
        baking = Step("bake", 100, bake.min_requests, bake.duration, bake.duration)
        return Plan("bluegreen", (checks, reference, switch, baking), keep_standby=True)
    if strategy == "shadow":
        s = settings.shadow
        shadow = Step("shadow", s.weight, s.min_requests, s.min_duration, s.max_duration)
        return Plan("shadow", (checks, shadow, switch))
    steps = [
        Step("canary", c.weight, c.min_requests, c.min_duration, c.max_duration)
        for c in settings.canary.steps
    ]
    if not steps:
        raise UsageError("release.deploy.canary.steps is empty", "add at least one canary step")
    return Plan("canary", (checks, *steps, switch))


def strategy_for(stage: str, settings: DeploySettings, override: str | None = None) -> str:
    """The strategy for ``stage``: the override, else params.yaml's, else direct."""
    if override:
        return override
    return settings.strategies.get(stage, "direct")

"""A rollout as an explicit state machine: a pure transition from (state, observation)
to (state, effects).

Phases: ``checks`` (preflight, candidate start, contract/smoke/golden before any
traffic), ``step`` (an analysed canary or shadow step), ``baking`` (blue/green after the
switch), then ``promoting``, ``holding`` (weights kept for a person to decide) or
``rolling_back``, and finally ``done`` or ``aborted``. The transition
never does I/O: the controller (:mod:`release.deploy.controller`) executes the effects it
returns, in order, and feeds back what the last one observed. Effects of ``promoting``,
``holding`` and ``rolling_back`` run to their end even when a signal arrives, so traffic and git are
never left half-way.
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass, replace
from typing import Literal

from release.deploy.plan import Plan, Step

Phase = Literal[
    "checks", "step", "baking", "promoting", "holding", "rolling_back", "done", "aborted"
]
Outcome = Literal["promoted", "rolled_back", "failed", "inconclusive", "aborted"]
# What happened to the candidate: traffic back and stopped, stopped (first deployment),
# or held (kept serving at its weight for a person or a rerun to decide).
Action = Literal["promoted", "rolled_back", "stopped", "held"]
CHECKS = ("preflight", "launch", "verify")
TERMINAL = ("done", "aborted")
ENDING = ("promoting", "holding", "rolling_back")


@dataclass(frozen=True)
class Context:
    """What the machine needs to know about this rollout (fixed while it runs)."""

    plan: Plan
    has_baseline: bool
    on_inconclusive: Literal["rollback", "hold"] = "rollback"


@dataclass(frozen=True)
class State:
    """Where the rollout is: phase, index (into CHECKS or the plan's steps), and whether
    all traffic already reached the candidate (blue/green's bake)."""

    phase: Phase = "checks"
    index: int = -1
    switched: bool = False
    outcome: Outcome | None = None
    reason: str = ""


# ------------------------------------------------------------------ observations
@dataclass(frozen=True)
class Begin:
    """The rollout starts."""


@dataclass(frozen=True)
class Checked:
    """One check of the ``checks`` phase ended (``failure`` says why it failed)."""

    failure: str | None = None


@dataclass(frozen=True)
class Measured:
    """One poll of an analysed step: the judge's status and the upstreams' health."""

    elapsed: float
    status: Literal["pass", "fail", "inconclusive"]
    reasons: tuple[str, ...] = ()
    candidate_alive: bool = True
    baseline_healthy: bool = True
    baseline_problem: str = ""
    # False when only comparisons of model behaviour fail: those decide at min_duration.
    urgent: bool = True


@dataclass(frozen=True)
class Interrupted:
    """SIGTERM or SIGINT reached the controller."""

    signum: int


@dataclass(frozen=True)
class Crashed:
    """An effect raised: the rollout cannot go on."""

    reason: str


@dataclass(frozen=True)
class Finished:
    """The last effect of ``promoting``, ``holding`` or ``rolling_back`` ran."""


Observation = Begin | Checked | Measured | Interrupted | Crashed | Finished


# ----------------------------------------------------------------------- effects
@dataclass(frozen=True)
class Preflight:
    """Deploy-time checks before anything starts (stage policy); observes Checked."""


@dataclass(frozen=True)
class Launch:
    """Start the candidate's server (and the router when a baseline exists); Checked."""


@dataclass(frozen=True)
class Verify:
    """Contract, smoke and golden-set checks against the idle candidate; Checked."""


@dataclass(frozen=True)
class Route:
    """Send ``weight`` % of inferences (split) or a mirror of all (shadow) to the candidate."""

    weight: float
    mode: Literal["split", "shadow"] = "split"


@dataclass(frozen=True)
class OpenWindow:
    """Start a new measurement window in the router."""


@dataclass(frozen=True)
class Measure:
    """Wait one poll interval, read the window and judge step ``index``; Measured."""

    index: int


@dataclass(frozen=True)
class SwitchToCandidate:
    """Atomic switch: the candidate becomes the router's baseline (old kept warm or not)."""

    keep_standby: bool


@dataclass(frozen=True)
class RouteToBaseline:
    """All traffic to the baseline: before the switch, drop the candidate from the router;
    after it (``switched``), switch back to the warm old version atomically."""

    switched: bool = False


@dataclass(frozen=True)
class StopCandidate:
    """Stop the candidate's server."""


@dataclass(frozen=True)
class WriteRollback:
    """A registry tag restoring the baseline version, with the reason in its message."""

    reason: str


@dataclass(frozen=True)
class Finish:
    """Close the record's entry; observes Finished."""

    outcome: Outcome
    reason: str
    action: Action


Effect = (
    Preflight
    | Launch
    | Verify
    | Route
    | OpenWindow
    | Measure
    | SwitchToCandidate
    | RouteToBaseline
    | StopCandidate
    | WriteRollback
    | Finish
)
_CHECK_EFFECTS: tuple[Effect, ...] = (Preflight(), Launch(), Verify())


# -------------------------------------------------------------------- transition
def transition(ctx: Context, state: State, obs: Observation) -> tuple[State, list[Effect]]:
    """The next state and the effects that lead to it."""
    if state.phase in TERMINAL:
        return state, []
    if isinstance(obs, Finished):
        if state.phase not in ENDING:
            raise ValueError(f"Finished observed in phase {state.phase}")
        return replace(state, phase="aborted" if state.outcome == "aborted" else "done"), []
    if state.phase in ENDING:
        # Their effects already run to the end; nothing may interrupt them.
        return state, []
    if isinstance(obs, Interrupted):
        return unwind(ctx, state, f"interrupted by {_signal_name(obs.signum)}", "aborted")
    if isinstance(obs, Crashed):
        return unwind(ctx, state, f"deployment aborted: {obs.reason}")
    if isinstance(obs, Begin):
        return State("checks", 0), [_CHECK_EFFECTS[0]]
    if isinstance(obs, Checked) and state.phase == "checks":
        if obs.failure:
            return unwind(ctx, state, obs.failure)
        if state.index + 1 < len(CHECKS):
            return replace(state, index=state.index + 1), [_CHECK_EFFECTS[state.index + 1]]
        return advance(ctx, state, _first_after_checks(ctx.plan))
    if isinstance(obs, Measured) and state.phase in ("step", "baking"):
        return _measured(ctx, state, obs)
    raise ValueError(f"{type(obs).__name__} cannot be observed in phase {state.phase}")


def advance(ctx: Context, state: State, index: int) -> tuple[State, list[Effect]]:
    """Enter plan step ``index`` (a switch promotes, or starts the bake that follows it)."""
    steps = ctx.plan.steps
    if index >= len(steps):
        return _promote(state, "all steps passed")
    step = steps[index]
    if step.kind == "reference":
        return State("step", index), [OpenWindow(), Measure(index)]
    if step.kind in ("canary", "shadow"):
        mode: Literal["split", "shadow"] = "shadow" if step.kind == "shadow" else "split"
        weight = 0 if mode == "shadow" else step.weight
        return State("step", index), [Route(weight, mode), OpenWindow(), Measure(index)]
    if step.kind == "switch":
        switch = SwitchToCandidate(keep_standby=ctx.plan.keep_standby and ctx.has_baseline)
        if index + 1 < len(steps) and steps[index + 1].kind == "bake" and ctx.has_baseline:
            return State("baking", index + 1, switched=True), [
                switch,
                OpenWindow(),
                Measure(index + 1),
            ]
        promoting, effects = _promote(state, "all steps passed")
        return promoting, [switch, *effects]
    # "checks" is handled before, and a bake without a switch before it has nothing to bake.
    return advance(ctx, state, index + 1)


def _measured(ctx: Context, state: State, obs: Measured) -> tuple[State, list[Effect]]:
    step = ctx.plan.steps[state.index]
    label = step.label
    if not state.switched and not obs.baseline_healthy:
        # Never judge against, or roll back to, a dead baseline: stop here and keep the
        # candidate serving (the router sends everything to whichever upstream answers).
        reason = f"baseline unhealthy: {obs.baseline_problem or 'failed health checks'}"
        return State("holding", state.index, outcome="failed", reason=reason), [
            Finish("failed", reason, "held")
        ]
    if not obs.candidate_alive:
        return unwind(ctx, state, f"{label}: candidate server process exited")
    if step.kind == "reference":
        # Only gathers the bake's reference: enough requests, or the time is up.
        if obs.status == "pass" or obs.elapsed >= step.max_duration:
            return advance(ctx, state, state.index + 1)
        return state, [Measure(state.index)]
    if obs.status == "fail" and (obs.urgent or obs.elapsed >= step.min_duration):
        return unwind(ctx, state, f"{label}: " + "; ".join(obs.reasons))
    if obs.status == "pass" and obs.elapsed >= step.min_duration:
        if state.phase == "baking":
            return _promote(state, f"all steps passed; baked {step.max_duration:g} s")
        return advance(ctx, state, state.index + 1)
    if obs.elapsed >= step.max_duration:
        reason = f"{label}: inconclusive at the time limit ({step.max_duration:g} s): " + "; ".join(
            obs.reasons
        )
        if ctx.on_inconclusive == "hold":
            return State("holding", state.index, state.switched, "inconclusive", reason), [
                Finish("inconclusive", reason, "held")
            ]
        return unwind(ctx, state, reason, "inconclusive")
    return state, [Measure(state.index)]


def unwind(
    ctx: Context, state: State, reason: str, outcome: Outcome | None = None
) -> tuple[State, list[Effect]]:
    """Traffic back to the baseline, candidate stopped, a rollback tag when there was a
    baseline to roll back to, and the entry closed."""
    effects: list[Effect] = []
    if ctx.has_baseline:
        effects.append(RouteToBaseline(switched=state.switched))
    effects.append(StopCandidate())
    if ctx.has_baseline:
        effects.append(WriteRollback(reason))
    final: Outcome = outcome or ("rolled_back" if ctx.has_baseline else "failed")
    effects.append(Finish(final, reason, "rolled_back" if ctx.has_baseline else "stopped"))
    return State("rolling_back", state.index, state.switched, final, reason), effects


def _promote(state: State, reason: str) -> tuple[State, list[Effect]]:
    return State("promoting", state.index, True, "promoted", reason), [
        Finish("promoted", reason, "promoted")
    ]


def _first_after_checks(plan: Plan) -> int:
    kinds = [s.kind for s in plan.steps]
    return kinds.index("checks") + 1 if "checks" in kinds else 0


def _signal_name(signum: int) -> str:
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def exit_code(outcome: str, action: str | None = None, signum: int | None = None) -> int:
    """The command's exit status: 0 when the stage serves the registry's version, 3 when a
    step was inconclusive and held, 128+N when signal N aborted it, else 1."""
    if outcome in ("promoted", "unchanged", "switched"):
        return 0
    if outcome == "aborted" and signum:
        return 128 + signum
    if outcome == "inconclusive" and action == "held":
        return 3
    return 1


__all__ = [
    "CHECKS",
    "Begin",
    "Checked",
    "Context",
    "Crashed",
    "Finish",
    "Finished",
    "Interrupted",
    "Launch",
    "Measure",
    "Measured",
    "OpenWindow",
    "Preflight",
    "Route",
    "RouteToBaseline",
    "State",
    "Step",
    "StopCandidate",
    "SwitchToCandidate",
    "Verify",
    "WriteRollback",
    "exit_code",
    "transition",
]

"""The rollout driver: runs the state machine's effects through injected interfaces.

:func:`release.deploy.machine.transition` decides; :class:`Driver` does: it executes each
effect with a :class:`~release.deploy.effects.ProcessLauncher`, a
:class:`~release.deploy.effects.RouterAdmin`, a :class:`~release.deploy.effects.RecordStore`
and a :class:`~release.deploy.effects.RegistryWriter`, judges the router's windows, and
turns signals into an :class:`~release.deploy.machine.Interrupted` observation at the next
safe point. While it runs, the record holds the controller's and every server's pid and
start time, so a killed controller is detected and reconciled later
(:mod:`release.deploy.recovery`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from release.deploy import machine as m
from release.deploy.effects import (
    ProcessLauncher,
    RecordStore,
    RegistryWriter,
    RouterAdmin,
    all_traffic_to,
)
from release.deploy.judge import Check, Sample, ShadowStats, Verdict, judge, judge_shadow
from release.deploy.plan import Step
from release.deploy.records import now, summary
from release.errors import DeployError, ReleaseError

MAX_REFERENCE = 20_000
Checks = Callable[[str, str | None], list[Check]]


@dataclass
class Edges:
    """The driver's injected interfaces and hooks."""

    launcher: ProcessLauncher
    store: RecordStore
    registry: RegistryWriter
    connect: Callable[[dict[str, Any]], RouterAdmin]
    preflight: Callable[[], list[Check]]
    checks: Checks
    emit: Callable[..., None]
    start_replay: Callable[[str], Any] | None = None  # router URL -> a started Replay
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


class Driver:
    """Runs one rollout of ``version`` (the record is the driver's to update)."""

    def __init__(
        self,
        ctx: m.Context,
        record: dict[str, Any],
        entry: dict[str, Any],
        version: str,
        edges: Edges,
        *,
        settings: Any,
        router_port: int,
        identity: dict[str, Any],
    ) -> None:
        self.ctx = ctx
        self.record = record
        self.entry = entry
        self.version = version
        self.edges = edges
        self.settings = settings  # DeploySettings
        self.router_port = router_port
        self.identity = identity
        self.signum: int | None = None
        self.current: dict[str, Any] | None = record.get("current")
        self.candidate: dict[str, Any] | None = None
        self.router: RouterAdmin | None = None
        self.reference: Sample | None = None
        self.bake_reference: Sample | None = None
        self.replay: Any = None
        self.window_started = 0.0
        self.last: tuple[Step, dict[str, Any], Verdict, float] | None = None
        self.state = m.State()

    # -- signals
    def interrupt(self, signum: int) -> None:
        """Called from a signal handler: abort at the next safe point."""
        self.signum = signum

    def cancelled(self) -> bool:
        """True once a signal asked the rollout to stop."""
        return self.signum is not None

    # -- loop
    def run(self) -> m.State:
        """Run the machine to a terminal state."""
        self.record["controller"] = self.identity
        self.save()
        state, effects = m.transition(self.ctx, self.state, m.Begin())
        while True:
            self.state = state
            observed: m.Observation | None = None
            for effect in effects:
                observed = self._execute(state, effect) or observed
            if state.phase in m.TERMINAL:
                return state
            if self.signum is not None and state.phase not in m.ENDING:
                observed = m.Interrupted(self.signum)
            if observed is None:
                raise RuntimeError(f"no observation after the effects of {state.phase}")
            state, effects = m.transition(self.ctx, state, observed)

    def _execute(self, state: m.State, effect: m.Effect) -> m.Observation | None:
        if not isinstance(effect, m.Measure):
            self._close_step()
        try:
            return self._do(effect)
        except Exception as exc:
            what = exc.one_line() if isinstance(exc, ReleaseError) else repr(exc)
            if state.phase in m.ENDING:
                # A rollback must finish every other effect; say what did not work.
                self.entry.setdefault("problems", []).append(f"{type(effect).__name__}: {what}")
                return m.Finished() if isinstance(effect, m.Finish) else None
            if self.cancelled():
                return m.Interrupted(self.signum or 15)
            return m.Crashed(what)

    def _do(self, effect: m.Effect) -> m.Observation | None:
        if isinstance(effect, m.Preflight):
            return self._record_checks(self.edges.preflight())
        if isinstance(effect, m.Launch):
            return self._launch()
        if isinstance(effect, m.Verify):
            assert self.candidate is not None
            base = self.current["server"]["url"] if self.current else None
            return self._record_checks(self.edges.checks(self.candidate["url"], base))
        if isinstance(effect, m.Route):
            self._route(effect)
            return None
        if isinstance(effect, m.OpenWindow):
            assert self.router is not None
            self.router.new_window()
            self.window_started = self.edges.clock()
            return None
        if isinstance(effect, m.Measure):
            return self._measure(self.ctx.plan.steps[effect.index])
        if isinstance(effect, m.SwitchToCandidate):
            self._switch(effect.keep_standby)
            return None
        if isinstance(effect, m.RouteToBaseline):
            self._to_baseline(effect.switched)
            return None
        if isinstance(effect, m.StopCandidate):
            if self.candidate is not None:
                self.edges.launcher.stop(self.candidate)
            self.record["candidate"] = None
            self.save()
            return None
        if isinstance(effect, m.WriteRollback):
            assert self.current is not None
            reason = f"release deploy rolled back {self.version}: {effect.reason}"
            self.entry["rollback_tag"] = self.edges.registry.rollback(
                self.current["version"], reason
            )
            return None
        if isinstance(effect, m.Finish):
            return self._finish(effect)
        raise TypeError(f"unknown effect {effect!r}")

    # -- effects
    def _record_checks(self, checks: list[Check]) -> m.Checked:
        from release.deploy.pretraffic import check_dict, failure

        for check in checks:
            self.entry["checks"].append(check_dict(check))
            self.edges.emit(
                event="check", check=check.name, status=check.status, reason=check.reason
            )
        self.save()
        return m.Checked(failure(checks))

    def _launch(self) -> m.Observation:
        try:
            self.candidate = self.edges.launcher.server(self.version, self.cancelled)
        except DeployError as exc:
            if self.cancelled():
                return m.Interrupted(self.signum or 15)
            return m.Checked(f"candidate server failed to start: {exc.what}")
        self.record["candidate"] = {"version": self.version, "server": self.candidate}
        self.save()
        if self.current is not None:
            self._ensure_router(self.current["server"]["url"], self.current["version"])
            # Replayed traffic from now on also gives the old version its pre-switch window
            # (what a blue/green bake is judged against).
            self._start_replay()
        return m.Checked(None)

    def _start_replay(self) -> None:
        if self.replay is None and self.edges.start_replay is not None and self.router:
            self.replay = self.edges.start_replay(self.router.url)

    def _ensure_router(self, url: str, version: str) -> RouterAdmin:
        info = self.record.get("router")
        if info and self.edges.launcher.alive(info):
            self.router = self.router or self.edges.connect(info)
            return self.router
        info = self.edges.launcher.router(self.router_port, url, version)
        self.record["router"] = info
        self.record["router_port"] = info["port"]
        self.save()
        self.router = self.edges.connect(info)
        return self.router

    def _route(self, effect: m.Route) -> None:
        assert self.router is not None and self.candidate is not None
        self.router.configure(
            candidate=self.candidate["url"],
            candidate_version=self.version,
            weight=effect.weight,
            mode=effect.mode,
        )
        self._start_replay()

    def _measure(self, step: Step) -> m.Observation:
        assert self.router is not None and self.candidate is not None
        deadline = self.edges.clock() + self.settings.poll_interval
        while self.edges.clock() < deadline:
            if self.cancelled():
                return m.Interrupted(self.signum or 15)
            self.edges.sleep(min(0.05, self.settings.poll_interval))
        elapsed = self.edges.clock() - self.window_started
        stats = self.router.stats()
        health = stats.get("health") or {}
        cand = Sample.from_dict(stats["candidate"])
        base = Sample.from_dict(stats["baseline"])
        judge_settings = self.settings.judge
        baseline_ok, problem = True, ""
        if step.kind == "reference":
            enough = base.requests >= step.min_requests
            verdict = Verdict(
                "pass" if enough else "inconclusive",
                [f"{base.requests} requests to the old version before the switch"],
                [],
            )
        elif step.kind == "bake":
            # After the switch the router's baseline slot is the candidate.
            cand, base = base, self.bake_reference or Sample()
            verdict = judge(cand, base, min_requests=step.min_requests, settings=judge_settings)
        elif step.kind == "shadow":
            shadow = ShadowStats.from_dict(stats["shadow"])
            verdict = judge_shadow(
                shadow, cand, base, min_requests=step.min_requests, settings=judge_settings
            )
        else:
            ref = base
            if base.requests < step.min_requests and self.reference is not None:
                ref = base.merged(self.reference)
            verdict = judge(cand, ref, min_requests=step.min_requests, settings=judge_settings)
        if step.kind != "bake":
            server = (self.current or {}).get("server")
            if not self.edges.launcher.alive(server):
                baseline_ok, problem = False, "the baseline server process exited"
            elif not (health.get("baseline") or {}).get("healthy", True):
                baseline_ok = False
                problem = "router health checks fail: " + str(
                    (health.get("baseline") or {}).get("last_error", "")
                )
        alive = self.edges.launcher.alive(self.candidate)
        self.last = (step, stats, verdict, elapsed)
        self.edges.emit(
            event="step",
            step=step.label,
            weight=step.weight,
            elapsed=elapsed,
            candidate_requests=cand.requests,
            baseline_requests=base.requests,
            retries=stats.get("retries", 0),
            verdict=verdict.status,
            reasons=verdict.reasons,
        )
        return m.Measured(
            elapsed, verdict.status, tuple(verdict.reasons), alive, baseline_ok, problem
        )

    def _close_step(self) -> None:
        """Store the step that just ended (its last window and verdict) in the record."""
        if self.last is None:
            return
        step, stats, verdict, elapsed = self.last
        self.last = None
        if step.kind == "canary":
            base = Sample.from_dict(stats["baseline"])
            self.reference = base if self.reference is None else base.merged(self.reference)
            if self.reference.requests > MAX_REFERENCE:
                self.reference = base
        outcome: str = verdict.status
        if verdict.status == "pass" and self.state.phase in ("rolling_back", "holding"):
            # The step ended for another reason: a signal, a dead process, the baseline.
            outcome = str(self.state.outcome)
        self.entry["steps"].append(
            {
                "step": step.label,
                "kind": step.kind,
                "weight": step.weight,
                "seconds": round(elapsed, 3),
                "candidate": summary(stats["baseline" if step.kind == "bake" else "candidate"]),
                "baseline": summary(stats["candidate" if step.kind == "bake" else "baseline"]),
                "retries": stats.get("retries", 0),
                "failed": stats.get("failed", 0),
                "health": stats.get("health"),
                "shadow": stats.get("shadow") if step.kind == "shadow" else None,
                "verdict": verdict.to_dict(),
                "outcome": outcome,
            }
        )
        self.save()

    def _switch(self, keep_standby: bool) -> None:
        assert self.candidate is not None
        if self.router is None:
            self._ensure_router(self.candidate["url"], self.version)
        assert self.router is not None
        if self.current is not None:
            # The old version's traffic before the switch: what a bake is judged against.
            self.bake_reference = Sample.from_dict(self.router.stats()["baseline"])
        warm = keep_standby and self.current is not None
        # A warm old version stays in the router at weight 0: inferences that fail on the
        # new one are retried there, so a bad bake costs clients nothing.
        self.router.configure(
            baseline=self.candidate["url"],
            baseline_version=self.version,
            candidate=self.current["server"]["url"] if warm and self.current else None,
            candidate_version=self.current["version"] if warm and self.current else None,
            weight=0,
            mode="split",
        )
        old_standby = self.record.get("standby")
        if old_standby:
            self.edges.launcher.stop(old_standby.get("server"))
        if keep_standby and self.current is not None:
            self.record["standby"] = self.current
        else:
            if self.current is not None:
                self.edges.launcher.stop(self.current.get("server"))
            self.record["standby"] = None
        self.record["current"] = {"version": self.version, "server": self.candidate}
        self.entry["switched"] = True
        self.save()

    def _to_baseline(self, switched: bool) -> None:
        if self.current is None:
            return
        if switched:
            # Atomic switch back to the old version, kept warm as standby.
            self.record["current"], self.record["standby"] = self.current, None
            self.entry["switched"] = False
        if self.router is None:
            return
        all_traffic_to(self.router, self.current["server"], self.current["version"])
        self.save()

    def _finish(self, effect: m.Finish) -> m.Finished:
        if self.replay is not None:
            self.entry["replay"] = self.replay.stop().to_dict()
            self.replay = None
        if effect.action != "held":
            self.record["candidate"] = None
        self.record["controller"] = None
        self.entry.update(
            outcome=effect.outcome, reason=effect.reason, action=effect.action, finished=now()
        )
        if self.signum is not None:
            self.entry["signal"] = self.signum
        self.edges.emit(
            event="done", outcome=effect.outcome, version=self.version, reason=effect.reason
        )
        self.save()
        return m.Finished()

    def save(self) -> None:
        """Write the record."""
        self.edges.store.save(self.record)

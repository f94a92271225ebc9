"""The rollout driver: runs the state machine's effects through injected interfaces.

:func:`release.deploy.machine.transition` decides; :class:`Driver` does: it executes each
effect with a :class:`~release.deploy.effects.ProcessLauncher`, a
:class:`~release.deploy.effects.RouterAdmin`, a :class:`~release.deploy.effects.RecordStore`
and a :class:`~release.deploy.effects.RegistryWriter`, judges the router's windows
(:mod:`release.deploy.step_window`), and turns signals into an
:class:`~release.deploy.machine.Interrupted` observation at the next safe point. The
router and who serves live in :class:`~release.deploy.traffic.Traffic`; what the rollout
writes down in :class:`~release.deploy.journal.Journal`. While it runs, the record holds
the controller's and every server's pid and start time, so a killed controller is
detected and reconciled later (:mod:`release.deploy.recovery`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from release.deploy import machine as m
from release.deploy.effects import ProcessLauncher, RecordStore, RegistryWriter, RouterAdmin
from release.deploy.journal import Journal
from release.deploy.judge import Check, Sample
from release.deploy.plan import Step
from release.deploy.step_window import baseline_trouble, pooled_reference, step_verdict
from release.deploy.traffic import Traffic
from release.errors import DeployError, ReleaseError

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
        self.identity = identity
        self.signum: int | None = None
        self.current: dict[str, Any] | None = record.get("current")
        self.candidate: dict[str, Any] | None = None
        self.traffic = Traffic(
            record,
            entry,
            edges.launcher,
            edges.connect,
            self.save,
            router_port=router_port,
            start_replay=edges.start_replay,
        )
        self.journal = Journal(record, entry, self.save, edges.emit)
        self.reference: Sample | None = None
        self.window_started = 0.0
        self.state = m.State()

    @property
    def router(self) -> RouterAdmin | None:
        """The rollout's router, once started or reconnected."""
        return self.traffic.router

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
            closed = self.journal.close_step(self.state)
            if closed is not None:
                self.reference = pooled_reference(self.reference, *closed)
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
            return self.journal.checks(self.edges.preflight())
        if isinstance(effect, m.Launch):
            return self._launch()
        if isinstance(effect, m.Verify):
            assert self.candidate is not None
            base = self.current["server"]["url"] if self.current else None
            return self.journal.checks(self.edges.checks(self.candidate["url"], base))
        if isinstance(effect, m.Route):
            assert self.candidate is not None
            self.traffic.route(self.candidate, self.version, effect.weight, effect.mode)
            return None
        if isinstance(effect, m.OpenWindow):
            assert self.router is not None
            self.router.new_window()
            self.window_started = self.edges.clock()
            return None
        if isinstance(effect, m.Measure):
            return self._measure(self.ctx.plan.steps[effect.index])
        if isinstance(effect, m.SwitchToCandidate):
            assert self.candidate is not None
            self.traffic.switch(self.candidate, self.version, effect.keep_standby)
            return None
        if isinstance(effect, m.RouteToBaseline):
            self.traffic.to_baseline(effect.switched)
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
            replayed = self.traffic.stop_replay()
            return self.journal.finish(effect, self.version, self.signum, replayed)
        raise TypeError(f"unknown effect {effect!r}")

    # -- effects
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
            self.traffic.ensure_router(self.current["server"]["url"], self.current["version"])
            # Replayed traffic from now on also gives the old version its pre-switch window
            # (what a blue/green bake is judged against).
            self.traffic.start_replay()
        return m.Checked(None)

    def _measure(self, step: Step) -> m.Observation:
        assert self.router is not None and self.candidate is not None
        deadline = self.edges.clock() + self.settings.poll_interval
        while self.edges.clock() < deadline:
            if self.cancelled():
                return m.Interrupted(self.signum or 15)
            self.edges.sleep(min(0.05, self.settings.poll_interval))
        elapsed = self.edges.clock() - self.window_started
        stats = self.router.stats()
        verdict, cand, base = step_verdict(
            step,
            stats,
            reference=self.reference,
            bake_reference=self.traffic.bake_reference,
            settings=self.settings.judge,
        )
        problem = ""
        if step.kind != "bake":
            server = (self.current or {}).get("server")
            alive_base = self.edges.launcher.alive(server)
            problem = baseline_trouble(alive_base, stats.get("health") or {})
        alive = self.edges.launcher.alive(self.candidate)
        self.journal.measured(step, stats, verdict, elapsed, (cand, base))
        return m.Measured(
            elapsed,
            verdict.status,
            tuple(verdict.reasons),
            alive,
            not problem,
            problem,
            urgent=verdict.urgent,
        )

    def save(self) -> None:
        """Write the record."""
        self.edges.store.save(self.record)

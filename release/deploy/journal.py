"""What a rollout writes down as it goes: each check's result, each step's last window and
verdict, and how it ended, in the deployment record's entry (saved at once) and as
progress events.

:class:`release.deploy.driver.Driver` executes the state machine's effects; the
:class:`Journal` records their outcomes, so a killed controller leaves a record that
says how far the rollout got.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from release.deploy import machine as m
from release.deploy.judge import Check, Sample, Verdict
from release.deploy.plan import Step
from release.deploy.pretraffic import check_dict, failure
from release.deploy.records import now
from release.deploy.step_window import step_entry


class Journal:
    """The record's entry for one rollout, written through ``save`` and ``emit``."""

    def __init__(
        self,
        record: dict[str, Any],
        entry: dict[str, Any],
        save: Callable[[], None],
        emit: Callable[..., None],
    ) -> None:
        self.record = record
        self.entry = entry
        self.save = save
        self.emit = emit
        self.last: tuple[Step, dict[str, Any], Verdict, float] | None = None

    def checks(self, checks: list[Check]) -> m.Checked:
        """Record a phase's checks; the observation they make (the first failure)."""
        for check in checks:
            self.entry["checks"].append(check_dict(check))
            self.emit(event="check", check=check.name, status=check.status, reason=check.reason)
        self.save()
        return m.Checked(failure(checks))

    def measured(
        self,
        step: Step,
        stats: dict[str, Any],
        verdict: Verdict,
        elapsed: float,
        judged: tuple[Sample, Sample],
    ) -> None:
        """One poll of ``step``: kept until the step ends, reported now."""
        self.last = (step, stats, verdict, elapsed)
        cand, base = judged
        self.emit(
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

    def close_step(self, state: m.State) -> tuple[Step, dict[str, Any]] | None:
        """Store the step that just ended (its last window and verdict); the step and its
        window, or None when no step was open."""
        if self.last is None:
            return None
        step, stats, verdict, elapsed = self.last
        self.last = None
        outcome: str = verdict.status
        if verdict.status == "pass" and state.phase in ("rolling_back", "holding"):
            # The step ended for another reason: a signal, a dead process, the baseline.
            outcome = str(state.outcome)
        self.entry["steps"].append(step_entry(step, stats, verdict, elapsed, outcome))
        self.save()
        return step, stats

    def finish(
        self,
        effect: m.Finish,
        version: str,
        signum: int | None,
        replayed: dict[str, Any] | None,
    ) -> m.Finished:
        """Close the entry: outcome, reason, action, the replay's counts, the signal."""
        if replayed is not None:
            self.entry["replay"] = replayed
        if effect.action != "held":
            self.record["candidate"] = None
        self.record["controller"] = None
        self.entry.update(
            outcome=effect.outcome, reason=effect.reason, action=effect.action, finished=now()
        )
        if signum is not None:
            self.entry["signal"] = signum
        self.emit(event="done", outcome=effect.outcome, version=version, reason=effect.reason)
        self.save()
        return m.Finished()

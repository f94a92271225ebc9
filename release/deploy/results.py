"""What a deployment is asked to do (:class:`DeployOptions`) and what it did."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from release.deploy.machine import exit_code

Progress = Callable[[dict[str, Any]], None]


class Launcher(Protocol):
    """Builds the command that serves one version on one port."""

    def command(self, name: str, version: str, port: int) -> list[str]:
        """The argv of a server for ``name@version`` on 127.0.0.1:``port``."""
        ...


@dataclass
class DeployOptions:
    """How to run one deployment."""

    strategy: str | None = None
    port: int | None = None
    replay: str | None = None
    rps: float = 20.0
    allow_schema_change: bool = False
    golden: bool = True
    smoke: bool = True
    launcher: Launcher | None = None
    progress: Progress | None = None
    push: str | None = None
    # Install SIGTERM/SIGINT handlers (main thread only) that abort the rollout cleanly.
    handle_signals: bool = True


@dataclass
class DeployResult:
    """What a deployment did."""

    name: str
    stage: str
    strategy: str
    # promoted | rolled_back | failed | inconclusive | aborted | unchanged | switched
    outcome: str
    version: str
    baseline: str | None
    reason: str
    router_url: str | None
    record: str
    rollback_tag: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    replay: dict[str, Any] | None = None
    action: str | None = None  # promoted | rolled_back | stopped | held
    signal: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the stage now serves the registry's version."""
        return self.outcome in ("promoted", "unchanged", "switched")

    @property
    def exit_code(self) -> int:
        """0 ok, 1 rolled back or failed, 3 inconclusive and held, 128+N aborted by signal N."""
        return exit_code(self.outcome, self.action, self.signal)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "stage": self.stage,
            "strategy": self.strategy,
            "outcome": self.outcome,
            "action": self.action,
            "version": self.version,
            "baseline": self.baseline,
            "reason": self.reason,
            "router_url": self.router_url,
            "record": self.record,
            "rollback_tag": self.rollback_tag,
            "signal": self.signal,
            "exit_code": self.exit_code,
            "steps": self.steps,
            "checks": self.checks,
            "replay": self.replay,
            "notes": self.notes,
        }

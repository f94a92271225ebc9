"""One deployment of an artifact in a stage: its record, its processes and its result."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from release.config import Settings
from release.deploy.effects import GtoRegistry, LocalProcesses, ServeLauncher
from release.deploy.records import load_record, now, record_path
from release.deploy.results import DeployOptions, DeployResult
from release.serve.body import request_limits


class StageRun:
    """One deployment of ``name`` in ``stage``: the record and the edges around it."""

    def __init__(
        self, repo: Path, settings: Settings, name: str, stage: str, version: str, state: Any
    ) -> None:
        self.repo, self.settings, self.name, self.stage = repo, settings, name, stage
        self.version, self.registry_state = version, state
        self.deploy = settings.release.deploy
        self.state_dir = repo / self.deploy.state_dir
        self.record = load_record(self.state_dir, name, stage)

    def emit(self, options: DeployOptions, **event: Any) -> None:
        if options.progress is not None:
            options.progress(event)

    def processes(self, options: DeployOptions) -> LocalProcesses:
        command = options.launcher or ServeLauncher(repo=str(self.repo))
        if isinstance(command, ServeLauncher):
            command.candidate = self.version  # its candidate_args apply to this version only
        return LocalProcesses(
            command=command,
            name=self.name,
            stage=self.stage,
            cwd=self.repo,
            log_dir=self.state_dir / self.name.replace("/", "__") / "logs",
            start_timeout=self.deploy.start_timeout,
            sticky_header=self.deploy.sticky_header,
            emit=lambda **e: self.emit(options, **e),
            max_body_bytes=request_limits(self.settings.serve).max_body_bytes,
        )

    def registry(self, options: DeployOptions) -> GtoRegistry:
        return GtoRegistry(self.repo, self.name, self.stage, options.push)

    def result(self, entry: dict[str, Any], tag: str | None = None) -> DeployResult:
        router = self.record.get("router")
        return DeployResult(
            name=self.name,
            stage=self.stage,
            strategy=str(entry.get("strategy", "")),
            outcome=str(entry.get("outcome")),
            version=self.version,
            baseline=entry.get("baseline"),
            reason=str(entry.get("reason", "")),
            router_url=router["url"] if router else None,
            record=str(record_path(self.state_dir, self.name, self.stage)),
            rollback_tag=tag or entry.get("rollback_tag"),
            steps=list(entry.get("steps", [])),
            checks=list(entry.get("checks", [])),
            replay=entry.get("replay"),
            action=entry.get("action"),
            signal=entry.get("signal"),
            notes=list(entry.get("notes", [])),
        )

    def entry(
        self, strategy: str, outcome: str = "running", keep: bool = True, **extra: Any
    ) -> dict[str, Any]:
        current = self.record.get("current")
        entry = {
            "id": uuid.uuid4().hex[:12],
            "strategy": strategy,
            "candidate": self.version,
            "baseline": current["version"] if current else None,
            "started": now(),
            "finished": None if outcome == "running" else now(),
            "outcome": outcome,
            "reason": "",
            "checks": [],
            "steps": [],
            **extra,
        }
        if keep:
            self.record["history"].append(entry)
        return entry

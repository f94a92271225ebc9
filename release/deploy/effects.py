"""The controller's edges as small interfaces, and their local implementations.

- :class:`ProcessLauncher`: start, stop and check model servers and the router;
- :class:`RouterAdmin`: the router's admin API (configure, stats, windows);
- :class:`RecordStore`: where the deployment record is written;
- :class:`RegistryWriter`: the registry rollback tag.

The controller receives these, so its logic is tested with in-memory fakes; the local
target uses processes on 127.0.0.1, HTTP, JSON files and GTO tags.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from release.deploy import processes
from release.deploy.records import save_record
from release.deploy.router import TOKEN_ENV
from release.errors import DeployError

Cancelled = Callable[[], bool]


class ProcessLauncher(Protocol):
    """Starts and stops the stage's processes."""

    def server(self, version: str, cancelled: Cancelled | None = None) -> dict[str, Any]:
        """Start a model server for ``version``; its record entry (pid, url, ...)."""
        ...

    def router(self, port: int, baseline_url: str, baseline_version: str) -> dict[str, Any]:
        """Start the stage's router on ``port``; its record entry (with the admin token)."""
        ...

    def alive(self, info: dict[str, Any] | None) -> bool:
        """True when the recorded process still runs."""
        ...

    def stop(self, info: dict[str, Any] | None) -> bool:
        """Stop a recorded process; True when one was stopped."""
        ...


class RouterAdmin(Protocol):
    """The router's admin API."""

    url: str

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change routing atomically."""
        ...

    def stats(self) -> dict[str, Any]:
        """The current window's measurements and the upstreams' health."""
        ...

    def new_window(self) -> dict[str, Any]:
        """Start a new window; return the old one."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class RecordStore(Protocol):
    """Where the deployment record is kept."""

    def save(self, record: dict[str, Any]) -> str:
        """Write the record; return where it is."""
        ...


class RegistryWriter(Protocol):
    """Writes what the registry must say after a rollback."""

    def rollback(self, to: str, reason: str) -> str:
        """Assign ``to`` to the stage again; return the tag written."""
        ...


def all_traffic_to(router: RouterAdmin, server: dict[str, Any], version: str, **extra: Any) -> None:
    """One atomic change: ``server`` serves everything, no candidate, split mode."""
    router.configure(
        baseline=server["url"],
        baseline_version=version,
        candidate=None,
        weight=0,
        mode="split",
        **extra,
    )


# ------------------------------------------------------------------ implementations
@dataclass
class ServeLauncher:
    """``release serve --model NAME@vX.Y.Z`` (``extra_args`` per version, e.g. ``--chaos``)."""

    repo: str = "."
    params: str | None = None
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    # Arguments for the candidate only (``release deploy --chaos``): set by the controller.
    candidate_args: list[str] = field(default_factory=list)
    candidate: str | None = None

    def command(self, name: str, version: str, port: int) -> list[str]:
        """The argv of a model server for ``name@version``."""
        cmd = [
            sys.executable,
            "-m",
            "release.cli",
            "serve",
            "--model",
            f"{name}@{version}",
            "--port",
            str(port),
            "--name",
            name,
            "--version-label",
            version,
            "--repo",
            self.repo,
        ]
        if self.params:
            cmd += ["--params", self.params]
        extra = list(self.extra_args.get(version, []))
        if self.candidate_args and version == self.candidate:
            extra += self.candidate_args
        return cmd + extra


@dataclass
class LocalProcesses:
    """Servers and routers as background processes on 127.0.0.1, logs in the state dir."""

    command: Any  # a release.deploy.results.Launcher
    name: str
    stage: str
    cwd: Path
    log_dir: Path
    start_timeout: float
    sticky_header: str | None = None
    emit: Callable[..., None] = lambda **_: None
    max_body_bytes: int | None = None  # the router's body cap (the servers' serve.max_body_mb)

    def server(self, version: str, cancelled: Cancelled | None = None) -> dict[str, Any]:
        """Start a model server for ``version`` on a free port."""
        port = processes.free_port()
        cmd = self.command.command(self.name, version, port)
        self.emit(event="start", what=f"server {self.name}@{version}", port=port)
        managed = processes.start(
            cmd,
            port=port,
            log_path=self.log_dir / f"{self.stage}-{version}.log",
            ready_path="/v2/health/ready",
            timeout=self.start_timeout,
            cwd=self.cwd,
            cancelled=cancelled,
        )
        self.emit(event="ready", what=f"server {self.name}@{version}", pid=managed.pid, port=port)
        return managed.to_dict()

    def router(self, port: int, baseline_url: str, baseline_version: str) -> dict[str, Any]:
        """Start the stage's router, with a fresh admin token."""
        token = secrets.token_hex(16)
        cmd = [
            sys.executable,
            "-m",
            "release.deploy.router_app",
            "--port",
            str(port),
            "--baseline",
            baseline_url,
            "--baseline-version",
            baseline_version,
        ]
        if self.sticky_header:
            cmd += ["--sticky-header", self.sticky_header]
        if self.max_body_bytes is not None:
            cmd += ["--max-body-bytes", str(self.max_body_bytes)]
        self.emit(event="start", what="router", port=port)
        managed = processes.start(
            cmd,
            port=port,
            log_path=self.log_dir / f"{self.stage}-router.log",
            ready_path="/v2/health/live",
            timeout=self.start_timeout,
            cwd=self.cwd,
            env={TOKEN_ENV: token},
        )
        return {**managed.to_dict(), "token": token}

    def alive(self, info: dict[str, Any] | None) -> bool:
        """True when the recorded process still runs its command."""
        return processes.alive(info)

    def stop(self, info: dict[str, Any] | None) -> bool:
        """SIGTERM, then SIGKILL."""
        return processes.stop(info)


class RouterClient:
    """The controller's side of the router's admin API, over HTTP."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        headers = {"x-release-token": token} if token else {}
        self.url = url
        self.client = httpx.Client(base_url=url, headers=headers, timeout=10.0, trust_env=False)

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        import httpx

        try:
            resp = self.client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise DeployError(f"router {self.url} unreachable: {exc}", "is it running?") from None
        if resp.status_code != 200:
            raise DeployError(f"router {path} answered {resp.status_code}: {resp.text}")
        data = resp.json()
        assert isinstance(data, dict)
        return data

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change routing atomically."""
        return self._call("POST", "/_router/config", changes)

    def stats(self) -> dict[str, Any]:
        """The current window's measurements and health."""
        return self._call("GET", "/_router/stats")

    def new_window(self) -> dict[str, Any]:
        """Start a new window."""
        return self._call("POST", "/_router/window")

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


@dataclass
class FileRecordStore:
    """The record as an atomically written JSON file under the state dir."""

    state_dir: Path

    def save(self, record: dict[str, Any]) -> str:
        """Write the record."""
        return str(save_record(self.state_dir, record))


@dataclass
class GtoRegistry:
    """Rollback tags through the registry API (GTO's format), pushed when asked."""

    repo: Path
    name: str
    stage: str
    push: str | None = None

    def rollback(self, to: str, reason: str) -> str:
        """Write (and push) the tag that assigns ``to`` to the stage again."""
        from release.registry.api import rollback

        # The version restored is the one that was serving: restoring it must not be refused
        # by its gates (it may have been forced in); the tag then records the override.
        return rollback(
            os.fspath(self.repo),
            self.name,
            self.stage,
            to=to,
            reason=reason[:500],
            push=self.push,
            force=True,
        )

"""The router's admin API: what the deploy controller reads and changes at runtime.

- ``GET /_router/state``: backends, weight, mode, upstream health;
- ``POST /_router/config``: change ``baseline``, ``candidate`` (null removes it),
  ``weight`` (0-100, % of inferences to the candidate), ``mode`` (``split`` or
  ``shadow``), versions, ``sticky_header``, in one atomic update;
- ``GET /_router/stats``: the current window's measurements and each upstream's health;
- ``POST /_router/window``: start a new window and return the old one.

Every call needs the header ``X-Release-Token`` when the router has a token.
"""

from __future__ import annotations

import hmac
import json
import os
from typing import Any

from release.deploy.measurements import Window
from release.deploy.router import TOKEN_HEADER, Router
from release.deploy.upstream import Backend, check_url

_CONFIG_KEYS = frozenset(
    {
        "baseline",
        "baseline_version",
        "candidate",
        "candidate_version",
        "weight",
        "mode",
        "sticky_header",
    }
)


class RouterAdmin:
    """The admin endpoints over one :class:`~release.deploy.router.Router`."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def handle(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        """(HTTP status, JSON payload) of one admin call."""
        token = self.router.token
        if token and not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), token):
            return 403, {"error": "admin token missing or wrong"}
        if path == "/_router/state" and method == "GET":
            return 200, self.state()
        if path == "/_router/stats" and method == "GET":
            return 200, self.stats()
        if path == "/_router/window" and method == "POST":
            return 200, self.new_window()
        if path == "/_router/config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                return 200, self.configure(changes)
            except ValueError as exc:
                return 400, {"error": str(exc)}
        return 404, {"error": f"unknown admin endpoint {method} {path}"}

    def state(self) -> dict[str, Any]:
        """Configuration, totals and health."""
        r = self.router
        return {
            "baseline": {"url": r.baseline.url, "version": r.baseline.version},
            "candidate": (
                {"url": r.candidate.url, "version": r.candidate.version} if r.candidate else None
            ),
            "weight": r.weight,
            "mode": r.mode,
            "sticky_header": r.sticky_header,
            "total_requests": r.total_requests,
            "total_failed": r.total_failed,
            "health": r.health_report(),
            "pid": os.getpid(),
        }

    def stats(self) -> dict[str, Any]:
        """The current window's measurements and the upstreams' health."""
        return {**self.router.window.to_dict(), "health": self.router.health_report()}

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a configuration change atomically (validated first, then assigned)."""
        r = self.router
        unknown = set(changes) - _CONFIG_KEYS
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        baseline, candidate = r.baseline, r.candidate
        if "baseline" in changes:
            baseline = Backend(check_url(changes["baseline"]), changes.get("baseline_version"))
        elif "baseline_version" in changes:
            baseline = Backend(baseline.url, changes["baseline_version"])
        if "candidate" in changes:
            url = changes["candidate"]
            candidate = (
                None if url is None else Backend(check_url(url), changes.get("candidate_version"))
            )
        weight = float(changes.get("weight", r.weight))
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be between 0 and 100, got {weight}")
        mode = changes.get("mode", r.mode)
        if mode not in ("split", "shadow"):
            raise ValueError(f"mode must be split or shadow, got {mode!r}")
        sticky = changes.get("sticky_header", r.sticky_header)
        r.baseline, r.candidate, r.weight, r.mode = baseline, candidate, weight, mode
        r.sticky_header = sticky.lower() if sticky else None
        return self.state()

    def new_window(self) -> dict[str, Any]:
        """Start a new measurement window; return the finished one."""
        old = self.router.window.to_dict()
        self.router.window = Window()
        return old

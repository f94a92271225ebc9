"""The traffic router's logic: split or mirror inferences between a baseline and a candidate.

The router runs as its own process on 127.0.0.1 (``python -m release.deploy.router_app``,
see :mod:`release.deploy.router_app` for the HTTP side, :mod:`release.deploy.router_admin`
for the admin endpoints); this module holds the routing state and the proxy path.

- Inference is split by weight (sticky by a request header when configured). Inference
  is idempotent, so one that fails on either upstream (5xx, refused, timeout) is retried
  once on the other: clients see no error while either upstream is healthy.
- Both upstreams are health-checked in the background (``GET /v2/health/ready`` every
  ``health_interval`` seconds); an upstream is unhealthy after two failed checks in a row
  or five failed inferences in a row. An inference meant for an unhealthy upstream goes
  to the other one when that one is healthy. The controller reads the health with the
  window's stats, so a dead baseline stops a rollout instead of hiding behind retries.
- In shadow mode every inference goes to the baseline, a copy goes to the candidate, and
  only the baseline's answer is returned (the candidate's when the baseline failed).
- Labels travel in the V2 request's ``parameters.labels`` (one per row); the router
  removes them before forwarding.
"""

from __future__ import annotations

import asyncio
import random
import re
import zlib
from typing import Any

from release.deploy.measurements import (
    Health,
    Measurements,
    Outputs,
    Window,
    parse_outputs,
    take_labels,
)
from release.deploy.router_upstreams import Answer, Upstreams
from release.deploy.upstream import Backend, check_url

__all__ = [
    "TOKEN_ENV",
    "TOKEN_HEADER",
    "Answer",
    "Backend",
    "Router",
    "check_url",
    "parse_outputs",
    "take_labels",
]

TOKEN_ENV = "RELEASE_ROUTER_TOKEN"  # noqa: S105 (a variable name, not a secret)
TOKEN_HEADER = "x-release-token"  # noqa: S105
_VERSIONED = re.compile(r"^/v2/models/[^/]+/versions/([^/]+)/infer$")


class Router:
    """Routing state and the proxy path, independent of the ASGI plumbing (the admin API
    is :mod:`release.deploy.router_admin`, the upstreams :mod:`release.deploy.router_upstreams`)."""

    def __init__(
        self,
        baseline: Backend,
        candidate: Backend | None = None,
        *,
        weight: float = 0.0,
        mode: str = "split",
        sticky_header: str | None = None,
        timeout: float = 10.0,
        token: str | None = None,
        seed: int | None = None,
        health_interval: float = 0.5,
    ) -> None:
        self.baseline = baseline
        self.candidate = candidate
        self.weight = weight
        self.mode = mode
        self.sticky_header = sticky_header.lower() if sticky_header else None
        self.timeout = timeout
        self.token = token
        self.window = Window()
        self.total_requests = 0
        self.total_failed = 0
        self.upstreams = Upstreams(timeout, health_interval)
        self._random = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle
    async def start(self) -> None:
        """Start the background health checks (connections are pooled lazily)."""
        await self.upstreams.start(lambda: (self.baseline, self.candidate))

    async def stop(self) -> None:
        """Stop the health checks, wait for mirrored requests, close the connections."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout)
        await self.upstreams.stop()

    # -- health
    def health(self, backend: Backend | None) -> Health:
        """The health record of ``backend`` (a fresh, healthy one when never checked)."""
        return self.upstreams.health(backend)

    def health_report(self) -> dict[str, Any]:
        """Health of the configured upstreams, for the controller."""
        return {
            "baseline": self.health(self.baseline).to_dict(),
            "candidate": self.health(self.candidate).to_dict() if self.candidate else None,
        }

    async def check_health(self) -> None:
        """Check every configured upstream once."""
        await self.upstreams.check_health((self.baseline, self.candidate))

    async def forward(
        self, backend: Backend, method: str, path: str, query: bytes, body: bytes
    ) -> Answer:
        """Send one request upstream; a refused connection or timeout is a failed answer."""
        return await self.upstreams.forward(backend, method, path, query, body)

    # -- routing
    def choose(self, headers: dict[str, str]) -> str:
        """'candidate' or 'baseline' for one inference, by weight (sticky when configured)."""
        if self.candidate is None or self.mode == "shadow" or self.weight <= 0:
            return "baseline"
        if self.weight >= 100:
            return "candidate"
        if self.sticky_header and headers.get(self.sticky_header):
            bucket = zlib.crc32(headers[self.sticky_header].encode()) % 10_000 / 100
        else:
            bucket = self._random.random() * 100
        return "candidate" if bucket < self.weight else "baseline"

    async def infer(
        self, path: str, query: bytes, body: bytes, headers: dict[str, str]
    ) -> tuple[Answer, str, bool]:
        """Route one inference: (answer, variant that answered, retried on the other?)."""
        self.total_requests += 1
        window = self.window
        body, labels = take_labels(body)
        match = _VERSIONED.match(path)
        if match:
            # An explicit version goes to the variant serving it, without measurements.
            version = match.group(1)
            target = self.baseline
            if self.candidate is not None and self.candidate.version == version:
                target = self.candidate
            answer = await self.forward(target, "POST", path, query, body)
            return answer, "candidate" if target is self.candidate else "baseline", False
        if self.mode == "shadow" and self.candidate is not None:
            return await self._shadow(window, path, query, body, labels)
        variant = self.choose(headers)
        if self.candidate is not None:
            # Send nothing to an upstream known to be down while the other one is up.
            chosen = self.candidate if variant == "candidate" else self.baseline
            other = self.baseline if variant == "candidate" else self.candidate
            if not self.health(chosen).healthy and self.health(other).healthy:
                variant = "baseline" if variant == "candidate" else "candidate"
        return await self._split(window, variant, path, query, body, labels)

    async def _split(
        self,
        window: Window,
        variant: str,
        path: str,
        query: bytes,
        body: bytes,
        labels: list[Any] | None,
    ) -> tuple[Answer, str, bool]:
        # Both upstreams as they are now: a reconfiguration while this request is in
        # flight (a rollback) must not take its retry away.
        baseline, candidate = self.baseline, self.candidate
        first = candidate if variant == "candidate" and candidate is not None else baseline
        other = baseline if first is candidate else candidate
        answer = await self.forward(first, "POST", path, query, body)
        self.upstreams.observe(first, answer)
        measured = window.candidate if first is candidate else window.baseline
        if (answer.ok and answer.status < 400) or other is None:
            self._record(measured, answer, labels)
            if not answer.ok:
                window.failed += 1
                self.total_failed += 1
            return answer, "candidate" if first is candidate else "baseline", False
        window.retries += 1
        fallback = await self.forward(other, "POST", path, query, body)
        self.upstreams.observe(other, fallback)
        if answer.ok and fallback.ok and fallback.status < 400:
            # The other upstream accepts what this one refused: this one's fault.
            answer = Answer(
                False, answer.status, answer.body, answer.content_type, answer.latency_ms
            )
        self._record(measured, answer, labels)
        if fallback.ok and fallback.status < 400:
            self._record(
                window.candidate if other is candidate else window.baseline, fallback, labels
            )
        elif not fallback.ok:
            window.failed += 1
            self.total_failed += 1
        return fallback, "candidate" if other is candidate else "baseline", True

    async def _shadow(
        self, window: Window, path: str, query: bytes, body: bytes, labels: list[Any] | None
    ) -> tuple[Answer, str, bool]:
        assert self.candidate is not None
        candidate = self.candidate
        mirror = asyncio.create_task(self.forward(candidate, "POST", path, query, body))
        answer = await self.forward(self.baseline, "POST", path, query, body)
        self.upstreams.observe(self.baseline, answer)
        base_out = self._record(window.baseline, answer, labels)
        if answer.ok:
            task = asyncio.create_task(
                self._finish_shadow(window, candidate, mirror, base_out, labels)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return answer, "baseline", False
        # The baseline failed: the mirrored answer is as good as any (idempotent).
        window.retries += 1
        mirrored = await mirror
        self.upstreams.observe(candidate, mirrored)
        self._record(window.candidate, mirrored, labels)
        if not mirrored.ok:
            window.failed += 1
            self.total_failed += 1
            return answer, "baseline", True
        return mirrored, "candidate", True

    def _record(
        self, measurements: Measurements, answer: Answer, labels: list[Any] | None
    ) -> Outputs | None:
        outputs = parse_outputs(answer.body) if answer.ok and answer.status < 400 else None
        measurements.add(
            ok=answer.ok,
            status=answer.status,
            latency_ms=answer.latency_ms,
            outputs=outputs,
            labels=labels,
        )
        return outputs

    async def _finish_shadow(
        self,
        window: Window,
        candidate: Backend,
        mirror: asyncio.Task[Answer],
        base_out: Outputs | None,
        labels: list[Any] | None,
    ) -> None:
        answer = await mirror
        self.upstreams.observe(candidate, answer)
        cand_out = self._record(window.candidate, answer, labels)
        if base_out is not None and cand_out is not None:
            window.shadow.add(base_out, cand_out)

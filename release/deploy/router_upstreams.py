"""The router's upstreams: pooled connections, health, and one request at a time.

Both upstreams are health-checked in the background (``GET /v2/health/ready`` every
``health_interval`` seconds); an upstream is unhealthy after two failed checks in a row
or five failed inferences in a row (:class:`~release.deploy.measurements.Health`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from release.deploy.measurements import Health
from release.deploy.upstream import Backend, UpstreamError, UpstreamPool


@dataclass
class Answer:
    """An upstream answer (or a failure to get one)."""

    ok: bool
    status: int
    body: bytes
    content_type: str
    latency_ms: float


class Upstreams:
    """Connections to the upstreams (one pool per URL) and what is known of their health."""

    def __init__(self, timeout: float = 10.0, health_interval: float = 0.5) -> None:
        self.timeout = timeout
        self.health_interval = health_interval
        self._pools: dict[str, UpstreamPool] = {}
        self._health: dict[str, Health] = {}
        self._checker: asyncio.Task[None] | None = None

    async def start(self, backends: Callable[[], Iterable[Backend | None]]) -> None:
        """Check ``backends()`` (the configured upstreams, as they are then) in the background."""
        if self.health_interval > 0:
            self._checker = asyncio.create_task(self._check_loop(backends))

    async def stop(self) -> None:
        """Stop the health checks and close the connections."""
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
        for pool in self._pools.values():
            pool.close()

    def _pool(self, url: str) -> UpstreamPool:
        pool = self._pools.get(url)
        if pool is None:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            pool = self._pools[url] = UpstreamPool(host.strip("[]"), int(port))
        return pool

    def health(self, backend: Backend | None) -> Health:
        """The health record of ``backend`` (a fresh, healthy one when never checked)."""
        if backend is None:
            return Health()
        return self._health.setdefault(backend.url, Health())

    async def check_health(self, backends: Iterable[Backend | None]) -> None:
        """Check every given upstream once."""
        for backend in backends:
            if backend is None:
                continue
            health = self.health(backend)
            try:
                resp = await self._pool(backend.url).request(
                    "GET", "/v2/health/ready", b"", timeout=min(self.timeout, 2.0)
                )
                ok, error = resp.status == 200, f"ready answered {resp.status}"
            except UpstreamError as exc:
                ok, error = False, str(exc)
            health.checked = time.time()
            if ok:
                health.failed_checks = 0
            else:
                health.failed_checks += 1
                health.last_error = error

    async def _check_loop(self, backends: Callable[[], Iterable[Backend | None]]) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            with contextlib.suppress(Exception):  # a check must never stop the loop
                await self.check_health(backends())

    def observe(self, backend: Backend, answer: Answer) -> None:
        """Count an inference's answer towards ``backend``'s health."""
        health = self.health(backend)
        if answer.ok:
            health.failed_inferences = 0
        else:
            health.failed_inferences += 1
            health.last_error = f"inference answered {answer.status}"

    async def forward(
        self, backend: Backend, method: str, path: str, query: bytes, body: bytes
    ) -> Answer:
        """Send one request upstream; a refused connection or timeout is a failed answer."""
        target = path + (("?" + query.decode("latin-1")) if query else "")
        start = time.perf_counter()
        try:
            resp = await self._pool(backend.url).request(method, target, body, timeout=self.timeout)
        except UpstreamError as exc:
            latency = (time.perf_counter() - start) * 1000
            error = {"error": f"upstream {backend.url} failed: {exc}"}
            return Answer(False, 502, json.dumps(error).encode(), "application/json", latency)
        latency = (time.perf_counter() - start) * 1000
        return Answer(
            resp.status < 500,
            resp.status,
            resp.body,
            resp.headers.get("content-type", "application/json"),
            latency,
        )

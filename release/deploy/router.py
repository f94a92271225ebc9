"""The traffic router: a small ASGI reverse proxy in front of a baseline and a candidate.

Run as its own process on 127.0.0.1 (``python -m release.deploy.router --port P
--baseline URL``); the deploy controller drives it through admin endpoints:

- ``GET /_router/state``: backends, weight, mode;
- ``POST /_router/config``: change ``baseline``, ``candidate`` (null removes it),
  ``weight`` (0-100, % of inferences to the candidate), ``mode`` (``split`` or
  ``shadow``), versions, ``sticky_header`` at runtime, in one atomic update;
- ``GET /_router/stats``: per-variant measurements of the current window (requests,
  errors, latencies, predictions, scores, correctness where requests carried labels)
  and, in shadow mode, the request-by-request comparison;
- ``POST /_router/window``: start a new window and return the old one.

Admin calls need the header ``X-Release-Token`` when the process was started with
``RELEASE_ROUTER_TOKEN`` in its environment. Inference (``POST .../infer``) is split by
weight (sticky by a request header when configured); an inference that fails on the
candidate (5xx, refused, timeout) is retried once on the baseline, so clients see no
error from a bad canary. In shadow mode every inference goes to the baseline, a copy goes
to the candidate, and only the baseline's answer is returned. Labels travel in the V2
request's ``parameters.labels`` (one per row); the router removes them before forwarding.
Everything else (health, metadata) goes to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import math
import os
import random
import re
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from release.deploy.judge import norm_label as _norm
from release.deploy.upstream import UpstreamError, UpstreamPool

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TOKEN_ENV = "RELEASE_ROUTER_TOKEN"  # noqa: S105 (a variable name, not a secret)
TOKEN_HEADER = "x-release-token"  # noqa: S105
MAX_SAMPLES = 50_000
PREDICTION_NAMES = frozenset(
    {"predict", "prediction", "predictions", "label", "labels", "class", "classes", "output-0"}
)
_VERSIONED = re.compile(r"^/v2/models/[^/]+/versions/([^/]+)/infer$")
_URL = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$")


# ---------------------------------------------------------------------- measurements
@dataclass
class Measurements:
    """One variant's window: counts, latencies and outputs (bounded lists)."""

    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    abs_errors: list[float] = field(default_factory=list)

    def add(
        self,
        *,
        ok: bool,
        status: int,
        latency_ms: float,
        outputs: Outputs | None,
        labels: list[Any] | None,
    ) -> None:
        """Record one request."""
        self.requests += 1
        if not ok:
            self.errors += 1
            return
        if 400 <= status < 500:
            self.client_errors += 1
            return
        if len(self.latencies_ms) < MAX_SAMPLES:
            self.latencies_ms.append(latency_ms)
        if outputs is None or len(self.predictions) >= MAX_SAMPLES:
            return
        self.predictions.extend(outputs.predictions)
        self.scores.extend(outputs.scores)
        if labels is not None and len(labels) == len(outputs.predictions):
            self.correct.extend(
                _norm(p) == _norm(y) for p, y in zip(outputs.predictions, labels, strict=True)
            )
            # Regression is judged by its error, not by exact matches (judge.check_error).
            self.abs_errors.extend(
                abs(float(p) - float(y))
                for p, y in zip(outputs.predictions, labels, strict=True)
                if _real(p) and _real(y)
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, read by :class:`release.deploy.judge.Sample`."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "client_errors": self.client_errors,
            "latencies_ms": self.latencies_ms,
            "predictions": self.predictions,
            "scores": self.scores,
            "correct": self.correct,
            "abs_errors": self.abs_errors,
        }


@dataclass
class ShadowComparison:
    """Mirrored answers compared row by row with the baseline's."""

    compared: int = 0
    agree: int = 0
    flips: dict[str, int] = field(default_factory=dict)
    max_proba_diff: float = 0.0
    sum_proba_diff: float = 0.0
    proba_rows: int = 0
    value_diffs: list[float] = field(default_factory=list)

    def add(self, base: Outputs, cand: Outputs) -> None:
        """Compare one request's answers."""
        if len(base.predictions) != len(cand.predictions):
            return
        for b, c in zip(base.predictions, cand.predictions, strict=True):
            self.compared += 1
            if _real(b) and _real(c) and len(self.value_diffs) < MAX_SAMPLES:
                self.value_diffs.append(abs(float(c) - float(b)))
            if _norm(b) == _norm(c):
                self.agree += 1
            else:
                key = f"{_norm(b)}->{_norm(c)}"
                self.flips[key] = self.flips.get(key, 0) + 1
        if base.probabilities and cand.probabilities:
            for pb, pc in zip(base.probabilities, cand.probabilities, strict=False):
                if len(pb) != len(pc):
                    continue
                diff = max((abs(x - y) for x, y in zip(pb, pc, strict=True)), default=0.0)
                self.max_proba_diff = max(self.max_proba_diff, diff)
                self.sum_proba_diff += diff
                self.proba_rows += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, read by :class:`release.deploy.judge.ShadowStats`."""
        return {
            "compared": self.compared,
            "agree": self.agree,
            "agreement": self.agree / self.compared if self.compared else None,
            "flips": dict(self.flips),
            "max_proba_diff": self.max_proba_diff,
            "mean_proba_diff": self.sum_proba_diff / self.proba_rows if self.proba_rows else 0.0,
            "value_diffs": self.value_diffs,
        }


@dataclass
class Window:
    """Everything measured since the last window start."""

    started: float = field(default_factory=time.time)
    baseline: Measurements = field(default_factory=Measurements)
    candidate: Measurements = field(default_factory=Measurements)
    shadow: ShadowComparison = field(default_factory=ShadowComparison)
    retries: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "started": self.started,
            "seconds": time.time() - self.started,
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
            "shadow": self.shadow.to_dict(),
            "retries": self.retries,
            "failed": self.failed,
        }


def _real(value: Any) -> bool:
    """A finite JSON number (not a bool): a regression output or label."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --------------------------------------------------------------------------- outputs
@dataclass
class Outputs:
    """Predictions parsed from a V2 inference response."""

    predictions: list[Any]
    probabilities: list[list[float]]
    scores: list[float]


def parse_outputs(body: bytes) -> Outputs | None:
    """Predictions, per-row probabilities and one score per row from a V2 response.

    The score is the last class's probability (binary) or the top probability; it is
    what the judge bins to compare prediction distributions.
    """
    try:
        data = json.loads(body)
        outputs = data["outputs"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(outputs, list):
        return None
    preds: list[Any] | None = None
    probas: list[list[float]] = []
    per_class: list[list[float]] = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        name = str(out.get("name", "")).lower()
        values = out.get("data")
        if not isinstance(values, list):
            continue
        shape = out.get("shape") or [len(values)]
        if name in PREDICTION_NAMES and preds is None:
            preds = list(values)
        elif "prob" in name:
            if len(shape) == 2 and shape[1] and len(values) == shape[0] * shape[1]:
                width = int(shape[1])
                probas = [
                    [float(x) for x in values[i : i + width]] for i in range(0, len(values), width)
                ]
            elif values and isinstance(values[0], list):
                probas = [[float(x) for x in row] for row in values]
            else:
                per_class.append([float(x) for x in values])
    if preds is None:
        return None
    if not probas and per_class and all(len(col) == len(preds) for col in per_class):
        probas = [list(row) for row in zip(*per_class, strict=True)]
    if probas and len(probas) != len(preds):
        probas = []
    scores = [row[-1] if len(row) == 2 else max(row) for row in probas if row]
    return Outputs(preds, probas, scores)


def take_labels(body: bytes) -> tuple[bytes, list[Any] | None]:
    """Remove ``parameters.labels`` from a V2 request; return the body to forward and labels."""
    if b'"labels"' not in body:
        return body, None
    try:
        data = json.loads(body)
    except ValueError:
        return body, None
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict) or "labels" not in params:
        return body, None
    labels = params.pop("labels")
    if not params:
        data.pop("parameters")
    labels_list = labels if isinstance(labels, list) else [labels]
    return json.dumps(data).encode(), labels_list


# ---------------------------------------------------------------------------- router
@dataclass
class Backend:
    """One upstream model server."""

    url: str
    version: str | None = None


@dataclass
class Answer:
    """An upstream answer (or a failure to get one)."""

    ok: bool
    status: int
    body: bytes
    content_type: str
    latency_ms: float


class Router:
    """Routing state and logic, independent of the ASGI plumbing."""

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
        self._random = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pools: dict[str, UpstreamPool] = {}

    # -- lifecycle
    async def start(self) -> None:
        """Nothing to open: upstream connections are pooled lazily, per backend."""

    async def stop(self) -> None:
        """Wait for mirrored requests, then close the pooled connections."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.timeout)
        for pool in self._pools.values():
            pool.close()

    def _pool(self, url: str) -> UpstreamPool:
        pool = self._pools.get(url)
        if pool is None:
            host, port = url.removeprefix("http://").rsplit(":", 1)
            pool = self._pools[url] = UpstreamPool(host.strip("[]"), int(port))
        return pool

    # -- admin
    def state(self) -> dict[str, Any]:
        """Configuration and totals."""
        return {
            "baseline": {"url": self.baseline.url, "version": self.baseline.version},
            "candidate": (
                {"url": self.candidate.url, "version": self.candidate.version}
                if self.candidate
                else None
            ),
            "weight": self.weight,
            "mode": self.mode,
            "sticky_header": self.sticky_header,
            "total_requests": self.total_requests,
            "total_failed": self.total_failed,
            "pid": os.getpid(),
        }

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a configuration change atomically (validated first, then assigned)."""
        allowed = {
            "baseline",
            "baseline_version",
            "candidate",
            "candidate_version",
            "weight",
            "mode",
            "sticky_header",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        baseline = self.baseline
        candidate = self.candidate
        if "baseline" in changes:
            baseline = Backend(_check_url(changes["baseline"]), changes.get("baseline_version"))
        elif "baseline_version" in changes:
            baseline = Backend(baseline.url, changes["baseline_version"])
        if "candidate" in changes:
            url = changes["candidate"]
            candidate = (
                None if url is None else Backend(_check_url(url), changes.get("candidate_version"))
            )
        weight = float(changes.get("weight", self.weight))
        if not 0 <= weight <= 100:
            raise ValueError(f"weight must be between 0 and 100, got {weight}")
        mode = changes.get("mode", self.mode)
        if mode not in ("split", "shadow"):
            raise ValueError(f"mode must be split or shadow, got {mode!r}")
        sticky = changes.get("sticky_header", self.sticky_header)
        self.baseline, self.candidate, self.weight, self.mode = baseline, candidate, weight, mode
        self.sticky_header = sticky.lower() if sticky else None
        return self.state()

    def new_window(self) -> dict[str, Any]:
        """Start a new measurement window; return the finished one."""
        old = self.window.to_dict()
        self.window = Window()
        return old

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

    async def infer(
        self, path: str, query: bytes, body: bytes, headers: dict[str, str]
    ) -> tuple[Answer, str, bool]:
        """Route one inference: (answer, variant that answered, retried on baseline?)."""
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
            mirror = asyncio.create_task(self.forward(self.candidate, "POST", path, query, body))
            answer = await self.forward(self.baseline, "POST", path, query, body)
            base_out = self._record(window.baseline, answer, labels)
            task = asyncio.create_task(self._finish_shadow(window, mirror, base_out, labels))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if not answer.ok:
                window.failed += 1
                self.total_failed += 1
            return answer, "baseline", False
        variant = self.choose(headers)
        if variant == "candidate" and self.candidate is not None:
            answer = await self.forward(self.candidate, "POST", path, query, body)
            if answer.ok and answer.status < 400:
                self._record(window.candidate, answer, labels)
                return answer, "candidate", False
            window.retries += 1
            fallback = await self.forward(self.baseline, "POST", path, query, body)
            if answer.ok and fallback.ok and fallback.status < 400:
                # The baseline accepts what the candidate refused: the candidate's fault.
                answer = Answer(
                    False, answer.status, answer.body, answer.content_type, answer.latency_ms
                )
            self._record(window.candidate, answer, labels)
            if not fallback.ok:
                window.failed += 1
                self.total_failed += 1
            return fallback, "baseline", True
        answer = await self.forward(self.baseline, "POST", path, query, body)
        self._record(window.baseline, answer, labels)
        if not answer.ok:
            window.failed += 1
            self.total_failed += 1
        return answer, "baseline", False

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
        mirror: asyncio.Task[Answer],
        base_out: Outputs | None,
        labels: list[Any] | None,
    ) -> None:
        answer = await mirror
        cand_out = self._record(window.candidate, answer, labels)
        if base_out is not None and cand_out is not None:
            window.shadow.add(base_out, cand_out)


def _check_url(url: Any) -> str:
    """Only plain-HTTP loopback upstreams: the router never proxies to other hosts."""
    if not isinstance(url, str) or not _URL.match(url.rstrip("/")):
        raise ValueError(f"backend URL must be http://127.0.0.1:PORT, got {url!r}")
    return url.rstrip("/")


# ------------------------------------------------------------------------------ ASGI
class RouterApp:
    """The ASGI application around a :class:`Router`."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query: bytes = scope.get("query_string", b"")
        if path.startswith("/_router/"):
            status, payload = self._admin(method, path, body, headers)
            await _respond(send, status, json.dumps(payload).encode(), "application/json")
            return
        if path == "/v2/health/live":
            await _respond(send, 200, b'{"live": true}', "application/json")
            return
        if method == "POST" and path.endswith("/infer"):
            answer, variant, retried = await self.router.infer(path, query, body, headers)
            extra = [(b"x-release-variant", variant.encode())]
            if retried:
                extra.append((b"x-release-retried", b"1"))
            await _respond(send, answer.status, answer.body, answer.content_type, extra)
            return
        answer = await self.router.forward(self.router.baseline, method, path, query, body)
        await _respond(send, answer.status, answer.body, answer.content_type)

    def _admin(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, Any]:
        token = self.router.token
        if token and not hmac.compare_digest(headers.get(TOKEN_HEADER, ""), token):
            return 403, {"error": "admin token missing or wrong"}
        if path == "/_router/state" and method == "GET":
            return 200, self.router.state()
        if path == "/_router/stats" and method == "GET":
            return 200, self.router.window.to_dict()
        if path == "/_router/window" and method == "POST":
            return 200, self.router.new_window()
        if path == "/_router/config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("expected a JSON object")
                return 200, self.router.configure(changes)
            except ValueError as exc:
                return 400, {"error": str(exc)}
        return 404, {"error": f"unknown admin endpoint {method} {path}"}

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.router.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.router.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> None:
    """Run the router on 127.0.0.1 until SIGTERM."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m release.deploy.router")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--baseline-version")
    parser.add_argument("--candidate")
    parser.add_argument("--candidate-version")
    parser.add_argument("--weight", type=float, default=0.0)
    parser.add_argument("--mode", choices=("split", "shadow"), default="split")
    parser.add_argument("--sticky-header")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        router = Router(
            Backend(_check_url(args.baseline), args.baseline_version),
            Backend(_check_url(args.candidate), args.candidate_version) if args.candidate else None,
            weight=args.weight,
            mode=args.mode,
            sticky_header=args.sticky_header,
            timeout=args.timeout,
            token=os.environ.get(TOKEN_ENV) or None,
        )
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    config = uvicorn.Config(
        RouterApp(router),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)

    async def run() -> None:
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"router ready on http://127.0.0.1:{args.port}", flush=True)
        await serving

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()

"""The model server's ASGI app: Open Inference Protocol (KServe V2) REST over Starlette.

Endpoints: ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2``,
``GET /v2/models/{name}[/versions/{v}]`` (metadata), ``GET .../ready``,
``POST /v2/models/{name}[/versions/{v}]/infer`` and ``GET /metrics``. Every error is
``{"error": "..."}``: 4xx for anything the client sent wrong, 5xx only for the server's
own failures (and for chaos rules a team injects to rehearse a rollback).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from release import __version__
from release.serve.batching import MicroBatcher
from release.serve.body import RequestLimits
from release.serve.chaos import ERROR_MESSAGE, Chaos, ChaosEngine
from release.serve.large import RequestPath, protocol_error
from release.serve.metrics import CONTENT_TYPE, ServingMetrics
from release.serve.protocol import PROTOCOL_VERSION, InferRequest, ProtocolError
from release.serve.runner import ModelRunner, Prediction

log = logging.getLogger("release.serve")

MAX_BODY_BYTES = RequestLimits.max_body_bytes  # the default; `serve.max_body_mb` sets it


@dataclass(frozen=True)
class Faults:
    """Shorthand for the two oldest chaos rules (``errors`` and ``latency``); see
    :mod:`release.serve.chaos` for all of them."""

    error_rate: float = 0.0
    delay_ms: float = 0.0
    seed: int | None = None

    def as_chaos(self) -> Chaos:
        """The same faults as chaos rules."""
        return Chaos(error_rate=self.error_rate, latency_ms=self.delay_ms, seed=self.seed)


@dataclass(frozen=True)
class BatchOptions:
    """Micro-batching knobs (from ``release.deploy.server`` in params.yaml)."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    threads: int = 1


def error(status: int, message: str) -> JSONResponse:
    """The protocol's error body: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status)


class ModelServer:
    """Request handlers for one served model; holds its batcher, metrics and faults."""

    def __init__(
        self,
        runner: ModelRunner,
        *,
        batch: BatchOptions | None = None,
        metrics: ServingMetrics | None = None,
        faults: Faults | None = None,
        limits: RequestLimits | None = None,
        chaos: Chaos | None = None,
    ) -> None:
        self.runner = runner
        self.schema = runner.schema
        batch = batch or BatchOptions()
        self.metrics = metrics or ServingMetrics(
            self.schema.name, self.schema.version, classifier=self.schema.is_classifier
        )
        self.chaos = chaos or (faults.as_chaos() if faults else Chaos())
        self.engine = ChaosEngine(self.chaos, self.schema.classes) if self.chaos.active else None
        self.batcher: MicroBatcher[InferRequest, Prediction] = MicroBatcher(
            self._predict_batch,
            max_batch_size=batch.max_batch_size,
            max_wait_ms=batch.max_wait_ms,
            threads=batch.threads,
            on_batch=self.metrics.observe_batch,
        )
        self.ready = False
        self.requests = RequestPath(self.schema, limits, runner=runner, metrics=self.metrics)

    def _predict_batch(self, requests: list[InferRequest]) -> list[Prediction | BaseException]:
        """One batch on the worker thread; its scores go to the prediction histogram."""
        results = self.runner.predict_batch(requests)
        for result in results:
            if isinstance(result, Prediction):
                self.metrics.observe_scores(result.proba)
        return results

    # ------------------------------------------------------------------ lifespan
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Start the batcher with the event loop; stop it (draining) on shutdown."""
        await self.batcher.start()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            await self.batcher.stop()
            self.requests.close()  # the large-request worker process stops with us

    # ------------------------------------------------------------------ handlers
    async def live(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"live": True})

    async def server_ready(self, request: Request) -> Response:
        """Readiness: the model is loaded and the batcher runs."""
        ready = self.ready and self.batcher.running
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def server_metadata(self, request: Request) -> Response:
        """Server metadata (name, version, extensions)."""
        return JSONResponse(
            {
                "name": "release",
                "version": __version__,
                "protocol_version": PROTOCOL_VERSION,
                "extensions": [],
                "models": [{"name": self.schema.name, "versions": [self.schema.version]}],
            }
        )

    async def model_metadata(self, request: Request) -> Response:
        """Model metadata from the model's input schema."""
        problem = self._check_target(request)
        if problem is not None:
            return problem
        return JSONResponse(self.schema.metadata())

    async def model_ready(self, request: Request) -> Response:
        """Model readiness."""
        problem = self._check_target(request)
        if problem is not None:
            return problem
        ready = self.ready and self.batcher.running
        return JSONResponse(
            {"name": self.schema.name, "ready": ready}, status_code=200 if ready else 503
        )

    async def infer(self, request: Request) -> Response:
        """Inference: decode, queue for a batched prediction, answer this request's rows."""
        start = time.perf_counter()
        status = 500
        self.metrics.in_flight.inc()
        try:
            response = await self._infer(request)
            status = response.status_code
            return response
        finally:
            self.metrics.in_flight.dec()
            self.metrics.observe_request(status, time.perf_counter() - start)

    async def _infer(self, request: Request) -> Response:
        problem = self._check_target(request)
        if problem is not None:
            return problem
        decision = await self.engine.begin() if self.engine is not None else None
        if decision is not None and decision.error:
            return error(500, ERROR_MESSAGE)
        if not self.ready or not self.batcher.running:
            return error(503, "the model is not ready; retry shortly")
        try:
            response = await self.requests.answer(
                request, self.batcher, self.metrics.observe_unknown
            )
            if decision is not None and decision.rewrites and self.engine is not None:
                # chaos that changes answers (flip, constant) rewrites the encoded body
                changed = self.engine.change_body(bytes(response.body), decision)
                response = Response(changed, media_type="application/json")
            return response
        except ProtocolError as exc:
            return protocol_error(exc)
        except RuntimeError as exc:
            if not self.batcher.running:
                return error(503, "the server is shutting down; retry on another replica")
            log.exception("inference failed")
            return error(500, f"inference failed: {exc}")
        except Exception as exc:
            log.exception("inference failed")
            return error(500, f"inference failed: {type(exc).__name__}: {exc}")

    async def metrics_endpoint(self, request: Request) -> Response:
        """Prometheus text exposition of this server's registry."""
        return Response(self.metrics.render(), media_type=CONTENT_TYPE)

    # ------------------------------------------------------------------ helpers
    def _check_target(self, request: Request) -> Response | None:
        name = request.path_params.get("name")
        if name != self.schema.name:
            return error(404, f"unknown model {name!r}; this server serves {self.schema.name!r}")
        version = request.path_params.get("version")
        if version is not None and version != self.schema.version:
            return error(
                404,
                f"unknown version {version!r} of model {name!r}; this server serves "
                f"{self.schema.version!r}",
            )
        return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code)
    return error(exc.status_code, f"{message or exc.detail}: {request.method} {request.url.path}")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error(500, f"internal server error: {type(exc).__name__}")


def create_app(server: ModelServer) -> Starlette:
    """The Starlette app serving ``server``'s model."""
    model = "/v2/models/{name}"
    versioned = model + "/versions/{version}"
    routes = [
        Route("/v2/health/live", server.live, methods=["GET"]),
        Route("/v2/health/ready", server.server_ready, methods=["GET"]),
        Route("/v2", server.server_metadata, methods=["GET"]),
        Route(model + "/infer", server.infer, methods=["POST"]),
        Route(versioned + "/infer", server.infer, methods=["POST"]),
        Route(model, server.model_metadata, methods=["GET"]),
        Route(versioned, server.model_metadata, methods=["GET"]),
        Route(model + "/ready", server.model_ready, methods=["GET"]),
        Route(versioned + "/ready", server.model_ready, methods=["GET"]),
        Route("/metrics", server.metrics_endpoint, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {HTTPException: _http_error, Exception: _server_error}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=server.lifespan)

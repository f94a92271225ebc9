"""Large requests share the server fairly with small ones.

A single-row request costs microseconds to parse and a few milliseconds to predict; a
10 MB one costs seconds of Python. Three sizes, three paths:

- up to ``inline_bytes`` (64 KB): parsed and decoded on the event loop (microseconds);
- up to ``serial_bytes`` (1 MB): parsed and decoded on a thread (with
  :func:`~release.serve.body.parse_large`, which hands the GIL back often), predicted
  through the batcher; such requests do not wait for one another, nor for a large one;
- over ``serial_bytes``: the whole request, from parse to rendered answer, goes to the
  large-request worker process (:mod:`release.serve.offload`), one at a time, which
  bounds memory as before (parsed columns take about ten times their body). Held in
  this process, its Python shared one GIL with the loop and the predict thread and
  stretched single-row p99 about six times; in its own process it shares nothing, and
  this process only relays bytes and records the worker's counts. A model that cannot
  be pickled (and a server built without a runner) keeps the old path: decode on a
  thread, predict in slices of ``chunk_rows`` behind the small requests, and render
  the answer off the loop in pieces.

The thresholds stay where they were: below 1 MB the thread path costs tens of
milliseconds, less than the round trip to a busy worker that may be minutes into a
10 MB request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from release.serve.batching import MicroBatcher
from release.serve.body import ByteBudget, RequestLimits, parse_bounded, read_body
from release.serve.metrics import ServingMetrics
from release.serve.offload import LargeWorker, WorkerUnusable
from release.serve.offload_worker import Reply
from release.serve.protocol import InferRequest, ProtocolError, Schema, decode_infer, encode_infer
from release.serve.render import render_json as render_json
from release.serve.runner import ModelRunner, Prediction


class RequestPath:
    """Read, decode, predict and answer one inference request within ``limits``.

    With a ``runner``, requests over ``serial_bytes`` are answered by a worker process
    holding a copy of it; ``metrics`` then records what the worker counted.
    """

    def __init__(
        self,
        schema: Schema,
        limits: RequestLimits | None = None,
        *,
        runner: ModelRunner | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.schema = schema
        self.limits = limits or RequestLimits()
        # One large request at a time from decode to answer: with the buffer budget,
        # this bounds memory (parsed columns take about ten times their body).
        self._large = asyncio.Semaphore(1)
        self.buffers = ByteBudget(self.limits.buffer_budget_bytes)
        self.worker = LargeWorker(runner, self.limits) if runner is not None else None
        self.metrics = metrics

    async def answer(
        self,
        request: Request,
        batcher: MicroBatcher[InferRequest, Prediction],
        on_unknown: Callable[[dict[str, int]], None] | None = None,
    ) -> Response:
        """The V2 answer to ``request``, or a ProtocolError (413, 503 or 400)."""
        limits = self.limits
        try:
            if self.worker is not None and _declared(request) > limits.serial_bytes:
                self.worker.prestart()  # while the body arrives
            body = await read_body(request, limits.max_body_bytes, self.buffers)
            if len(body) <= limits.inline_bytes:
                payload = parse_bounded(body, limits.max_depth)
                decoded = decode_infer(payload, self.schema, limits.unknown_category)
                return await self._finish(batcher, decoded, on_unknown)
            large = len(body) > limits.serial_bytes  # a medium body is not queued
            async with self._large if large else contextlib.nullcontext():
                if large and self.worker is not None and self.worker.usable:
                    try:
                        reply = await asyncio.to_thread(self.worker.exchange, body)
                    except WorkerUnusable:
                        pass  # the model does not pickle: answered here, as before
                    else:
                        return await self._relay(reply, on_unknown)
                decoded = await asyncio.to_thread(self._decode_large, body)
                body = b""  # the columns replace it; free the text before predicting
                return await self._finish(batcher, decoded, on_unknown)
        finally:
            self.buffers.give(request)

    async def _relay(
        self, reply: Reply, on_unknown: Callable[[dict[str, int]], None] | None
    ) -> Response:
        """The worker's answer, after recording what it counted as this process would."""
        if on_unknown is not None and reply.unknown:
            on_unknown(reply.unknown)
        metrics = self.metrics
        if metrics is not None:
            for rows in reply.calls:
                metrics.observe_batch(rows)
            proba, step = reply.proba, self.limits.chunk_rows
            if proba is not None:
                for start in range(0, len(proba), step):
                    metrics.observe_scores(proba[start : start + step])  # a millisecond each
                    await asyncio.sleep(0)
        reply.raise_error()
        assert reply.body is not None
        return Response(reply.body, media_type="application/json")

    def close(self) -> None:
        """Stop the large-request worker (the server is stopping)."""
        if self.worker is not None:
            self.worker.close()

    async def _finish(
        self,
        batcher: MicroBatcher[InferRequest, Prediction],
        decoded: InferRequest,
        on_unknown: Callable[[dict[str, int]], None] | None,
    ) -> Response:
        if on_unknown is not None and decoded.unknown:
            on_unknown(decoded.unknown)
        prediction = await self.predict(batcher, decoded)
        return await self.respond(decoded, prediction)

    def _decode_large(self, body: bytes) -> InferRequest:
        payload = parse_bounded(body, self.limits.max_depth, large=True)
        return decode_infer(payload, self.schema, self.limits.unknown_category)

    async def predict(
        self, batcher: MicroBatcher[InferRequest, Prediction], decoded: InferRequest
    ) -> Prediction:
        """Predict through the batcher; a large request one slice at a time."""
        step = self.limits.chunk_rows
        if decoded.rows <= step:
            return await batcher.submit(decoded, decoded.rows)
        import numpy as np

        labels: list[Any] = []
        probas: list[Any] = []
        for start in range(0, decoded.rows, step):
            stop = min(start + step, decoded.rows)
            part = decoded.part(start, stop)
            answer = await batcher.submit(part, part.rows)
            labels.append(answer.labels)
            probas.append(answer.proba)
        proba = None if probas[0] is None else np.concatenate(probas)
        return Prediction(np.concatenate(labels), proba)

    async def respond(self, decoded: InferRequest, prediction: Prediction) -> Response:
        """The V2 answer; rendered on a worker thread in pieces when it is large."""
        if decoded.rows <= self.limits.chunk_rows:
            return JSONResponse(
                encode_infer(self.schema, decoded, prediction.labels, prediction.proba)
            )
        body = await asyncio.to_thread(self._render, decoded, prediction)
        return Response(body, media_type="application/json")

    def _render(self, decoded: InferRequest, prediction: Prediction) -> bytes:
        content = encode_infer(self.schema, decoded, prediction.labels, prediction.proba)
        return render_json(content).encode("utf-8")


def _declared(request: Request) -> int:
    """The body size the client declared (0 when it did not, or sent nonsense)."""
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() and len(length) < 20 else 0


def protocol_error(exc: ProtocolError) -> JSONResponse:
    """The ``{"error": ...}`` answer; a 413 or 503 closes the connection (body left unread)."""
    response = JSONResponse({"error": exc.message}, status_code=exc.status)
    if exc.status in (413, 503):
        response.headers["connection"] = "close"
    if exc.status == 503:
        response.headers["retry-after"] = "1"
    return response

"""Large requests share the server fairly with small ones.

A single-row request costs microseconds to parse and a few milliseconds to predict; a
10 MB one costs hundreds of milliseconds at each step. So a large request is parsed and
checked on a worker thread (one request over ``serial_bytes`` at a time, which bounds
the memory its parsed columns take, about ten times its body),
predicted in slices of ``chunk_rows`` rows that queue behind the small requests already
waiting, and its answer is rendered off the loop in pieces. Small requests take the
direct path and pay nothing for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from release.serve.batching import MicroBatcher
from release.serve.body import ByteBudget, RequestLimits, parse_bounded, read_body
from release.serve.protocol import InferRequest, ProtocolError, Schema, decode_infer, encode_infer
from release.serve.runner import Prediction

_PIECE = 8192  # list elements per json.dumps call when rendering off the loop


class RequestPath:
    """Read, decode, predict and answer one inference request within ``limits``."""

    def __init__(self, schema: Schema, limits: RequestLimits | None = None) -> None:
        self.schema = schema
        self.limits = limits or RequestLimits()
        # One large request at a time from decode to answer: with the buffer budget,
        # this bounds memory (parsed columns take about ten times their body).
        self._large = asyncio.Semaphore(1)
        self.buffers = ByteBudget(self.limits.buffer_budget_bytes)

    async def answer(
        self,
        request: Request,
        batcher: MicroBatcher[InferRequest, Prediction],
        on_unknown: Callable[[dict[str, int]], None] | None = None,
    ) -> Response:
        """The V2 answer to ``request``, or a ProtocolError (413, 503 or 400)."""
        limits = self.limits
        try:
            body = await read_body(request, limits.max_body_bytes, self.buffers)
            if len(body) <= limits.inline_bytes:
                payload = parse_bounded(body, limits.max_depth)
                decoded = decode_infer(payload, self.schema, limits.unknown_category)
                return await self._finish(batcher, decoded, on_unknown)
            large = len(body) > limits.serial_bytes  # a medium body is not queued
            async with self._large if large else contextlib.nullcontext():
                decoded = await asyncio.to_thread(self._decode_large, body)
                body = b""  # the columns replace it; free the text before predicting
                return await self._finish(batcher, decoded, on_unknown)
        finally:
            self.buffers.give(request)

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
            part = InferRequest(
                id=decoded.id,
                columns={name: values[start:stop] for name, values in decoded.columns.items()},
                rows=stop - start,
                outputs=decoded.outputs,
            )
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


def render_json(value: Any) -> str:
    """Compact JSON like Starlette's, with long lists encoded a piece at a time.

    Each ``json.dumps`` call holds the GIL; pieces of a few thousand elements keep every
    hold to about a millisecond so the event loop keeps answering.
    """
    if isinstance(value, dict):
        items = (f"{_dumps(str(k))}:{render_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list) and len(value) > _PIECE:
        pieces = (_dumps(value[i : i + _PIECE])[1:-1] for i in range(0, len(value), _PIECE))
        return "[" + ",".join(pieces) + "]"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[" + ",".join(render_json(v) for v in value) + "]"
    return _dumps(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def protocol_error(exc: ProtocolError) -> JSONResponse:
    """The ``{"error": ...}`` answer; a 413 or 503 closes the connection (body left unread)."""
    response = JSONResponse({"error": exc.message}, status_code=exc.status)
    if exc.status in (413, 503):
        response.headers["connection"] = "close"
    if exc.status == 503:
        response.headers["retry-after"] = "1"
    return response

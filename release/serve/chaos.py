"""Chaos for rehearsals: make a model server misbehave on purpose, so a team can watch a
canary roll back before it trusts one.

``release serve --chaos RULE`` (repeatable); ``@N`` starts a rule after the first N
inference requests (default 0, at once):

- ``crash@N``: the process exits abruptly (no answer, exit code 70) on inference N+1;
- ``errors=RATE[@N]``: a share RATE (0-1) of inferences answer HTTP 500;
- ``latency=MS[@N]``: every inference waits MS more milliseconds;
- ``flip[@N]``: every prediction flipped (binary: the other class; else the next class),
  probabilities permuted to match;
- ``constant=CLASS[@N]``: every row predicted as CLASS (probability 1 for it);
- ``seed=S``: seed of the error draws, for repeatable rehearsals.

Only inference (``POST .../infer``) is affected: health and metadata keep answering, as
they do when a real model goes bad. ``release serve`` applies the rules inside its
inference handler (so its ``/metrics`` count the injected errors); any other ASGI app can
be wrapped in :class:`ChaosMiddleware`, which is how the test suite's servers misbehave,
through exactly these rules.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from release.errors import UsageError

CRASH_EXIT = 70
ERROR_MESSAGE = "injected fault (--chaos errors)"
PREDICTION_OUTPUTS = frozenset({"predict", "prediction", "predictions", "label", "labels"})
_RULE = re.compile(r"^(crash|errors|latency|flip|constant|seed)(?:=([^@]+))?(?:@(\d+))?$")

Message = dict[str, Any]


@dataclass(frozen=True)
class Chaos:
    """The rules: each is None (off) or (value, after N requests)."""

    crash_after: int | None = None
    error_rate: float = 0.0
    errors_after: int = 0
    latency_ms: float = 0.0
    latency_after: int = 0
    flip_after: int | None = None
    constant: Any = None
    constant_after: int = 0
    seed: int | None = None
    rules: tuple[str, ...] = field(default=())

    @property
    def active(self) -> bool:
        """True when any rule is set."""
        return bool(
            self.crash_after is not None
            or self.error_rate > 0
            or self.latency_ms > 0
            or self.flip_after is not None
            or self.constant is not None
        )

    def describe(self) -> str:
        """The rules as given, for the server's start line."""
        return ", ".join(self.rules) or "none"


def parse_chaos(rules: Sequence[str]) -> Chaos:
    """Build :class:`Chaos` from ``--chaos`` rules; UsageError on a malformed one."""
    chaos = Chaos(rules=tuple(rules))
    for rule in rules:
        match = _RULE.match(rule.strip())
        if not match:
            raise UsageError(
                f"--chaos {rule!r} is not a rule",
                "use crash@N, errors=RATE[@N], latency=MS[@N], flip[@N], constant=CLASS[@N] "
                "or seed=S",
            )
        kind, value, after_text = match.groups()
        after = int(after_text or 0)
        try:
            chaos = _apply(chaos, kind, value, after)
        except ValueError:
            raise UsageError(f"--chaos {rule!r} has an invalid value", _HELP[kind]) from None
    return chaos


_HELP = {
    "crash": "crash@N takes no value",
    "errors": "errors=RATE takes a rate between 0 and 1",
    "latency": "latency=MS takes milliseconds >= 0",
    "flip": "flip takes no value",
    "constant": "constant=CLASS takes a class label",
    "seed": "seed=S takes an integer and no @N",
}


def _apply(chaos: Chaos, kind: str, value: str | None, after: int) -> Chaos:
    if kind in ("crash", "flip"):
        if value is not None:
            raise ValueError(kind)
        if kind == "crash":
            return replace(chaos, crash_after=after)
        return replace(chaos, flip_after=after)
    if value is None:
        raise ValueError(kind)
    if kind == "errors":
        rate = float(value)
        if not 0 <= rate <= 1:
            raise ValueError(kind)
        return replace(chaos, error_rate=rate, errors_after=after)
    if kind == "latency":
        ms = float(value)
        if ms < 0:
            raise ValueError(kind)
        return replace(chaos, latency_ms=ms, latency_after=after)
    if kind == "constant":
        return replace(chaos, constant=_label(value), constant_after=after)
    if after:
        raise ValueError(kind)
    return replace(chaos, seed=int(value))


def _label(text: str) -> Any:
    """A class label from the command line: an integer when it looks like one."""
    try:
        return int(text)
    except ValueError:
        return text


@dataclass(frozen=True)
class Decision:
    """What chaos does to one inference."""

    error: bool = False
    flip: bool = False
    constant: bool = False

    @property
    def rewrites(self) -> bool:
        """True when the answer's predictions must change."""
        return self.flip or self.constant


class ChaosEngine:
    """Applies :class:`Chaos` to a server's inferences, counting them."""

    def __init__(self, chaos: Chaos, classes: Sequence[Any] | None = None) -> None:
        self.chaos = chaos
        self.classes = list(classes) if classes else None
        self.count = 0
        self._random = random.Random(chaos.seed)

    async def begin(self) -> Decision:
        """Count one inference; crash or wait when a rule says so; what else to do."""
        self.count += 1
        n, c = self.count, self.chaos
        if c.crash_after is not None and n > c.crash_after:
            os._exit(CRASH_EXIT)  # a crash, not a shutdown: no answer, no cleanup
        if c.latency_ms > 0 and n > c.latency_after:
            await asyncio.sleep(c.latency_ms / 1000)
        error = c.error_rate > 0 and n > c.errors_after and self._random.random() < c.error_rate
        return Decision(
            error=error,
            flip=c.flip_after is not None and n > c.flip_after,
            constant=c.constant is not None and n > c.constant_after,
        )

    def change_body(self, body: bytes, decision: Decision) -> bytes:
        """A V2 response body with its predictions changed."""
        try:
            data = json.loads(body)
        except ValueError:
            return body
        return json.dumps(self.change(data, decision)).encode()

    def change(self, data: Any, decision: Decision) -> Any:
        """A V2 response (parsed) with its predictions changed in place."""
        outputs = data.get("outputs") if isinstance(data, dict) else None
        for out in outputs if isinstance(outputs, list) else []:
            if not isinstance(out, dict) or not isinstance(out.get("data"), list):
                continue
            name = str(out.get("name", "")).lower()
            if name in PREDICTION_OUTPUTS:
                out["data"] = [self._predict(v, decision.constant) for v in out["data"]]
            elif "prob" in name:
                out["data"] = self._probabilities(out, decision.constant)
        return data

    def _predict(self, value: Any, constant: bool) -> Any:
        if constant:
            return self.chaos.constant
        classes = self.classes
        if classes and value in classes:
            return classes[(classes.index(value) + 1) % len(classes)]
        if isinstance(value, bool):
            return not value
        if value in (0, 1):
            return 1 - int(value)
        return value

    def _probabilities(self, out: dict[str, Any], constant: bool) -> list[Any]:
        values = list(out["data"])
        shape = out.get("shape") or []
        width = int(shape[1]) if len(shape) == 2 and shape[1] else 0
        if not width or len(values) % width:
            return values
        rows = [values[i : i + width] for i in range(0, len(values), width)]
        if constant:
            classes = self.classes or list(range(width))
            hot = classes.index(self.chaos.constant) if self.chaos.constant in classes else None
            if hot is None or hot >= width:
                return values
            rows = [[1.0 if j == hot else 0.0 for j in range(width)] for _ in rows]
        else:
            # Class i's probability moves to class i+1, as its prediction does.
            rows = [[row[(j - 1) % width] for j in range(width)] for row in rows]
        return [x for row in rows for x in row]


class ChaosMiddleware:
    """ASGI middleware applying :class:`Chaos` to any app's inference requests."""

    def __init__(self, app: Any, chaos: Chaos, classes: Sequence[Any] | None = None) -> None:
        self.app = app
        self.engine = ChaosEngine(chaos, classes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/infer")
        ):
            await self.app(scope, receive, send)
            return
        decision = await self.engine.begin()
        if decision.error:
            await _send_json(send, 500, {"error": ERROR_MESSAGE})
            return
        if not decision.rewrites:
            await self.app(scope, receive, send)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200:
            body = self.engine.change_body(body, decision)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _send_json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

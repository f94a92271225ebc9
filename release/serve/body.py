"""Request bodies within bounds: a streaming size cap and JSON with a nesting limit.

The cap counts bytes as they arrive, so ``Transfer-Encoding: chunked`` cannot slip past
it the way a ``Content-Length`` check alone can: reading stops at the cap with a 413 and
the connection is closed (the rest of the body is never read). Nesting is measured on
the raw bytes before parsing, so 200,000 ``[`` cost a vectorised scan and a 400, never a
recursion error.

``json.loads`` holds the GIL for the whole document, so parsing a large body on a thread
of the serving process would stall the event loop for the parse's full 150 ms (10 MB).
:func:`parse_large` calls back into Python for every number, which lets the interpreter
hand the GIL to the event loop every switch interval: the parse is about half as fast,
and small requests keep their latency. Bodies over ``serial_bytes`` are parsed in the
large-request worker process instead (:mod:`release.serve.offload`), which shares no GIL
with the loop and so parses with plain ``json.loads`` (``yielding=False``): the same
values and the same errors, twice as fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect, Request

from release.serve.protocol import ProtocolError, UnknownCategory

MIB = 1024 * 1024


@dataclass(frozen=True)
class RequestLimits:
    """Bounds on one inference request (``serve`` in params.yaml)."""

    max_body_bytes: int = 16 * MIB
    max_depth: int = 32  # a V2 request needs 5 levels; parameters may add a few
    inline_bytes: int = 64 * 1024  # smaller bodies are parsed on the loop (microseconds)
    serial_bytes: int = MIB  # larger bodies wait for one another (see release.serve.large)
    chunk_rows: int = 1024  # larger requests are predicted in slices of this many rows
    buffer_budget_bytes: int = 48 * MIB  # all bodies being received at once, together
    unknown_category: UnknownCategory = "error"


class ByteBudget:
    """Bytes of request bodies held in memory across all connections, with a ceiling.

    The per-request cap alone lets a hundred concurrent uploads hold a hundred caps;
    past the budget a request is refused with a 503 (retry) instead.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._held: dict[int, int] = {}

    def take(self, owner: object, size: int) -> bool:
        """Reserve ``size`` more bytes for ``owner``; False when over the budget."""
        if self.used + size > self.limit:
            return False
        self.used += size
        self._held[id(owner)] = self._held.get(id(owner), 0) + size
        return True

    def give(self, owner: object) -> None:
        """Return everything ``owner`` holds."""
        self.used -= self._held.pop(id(owner), 0)


def request_limits(serve: Any) -> RequestLimits:
    """The limits from the settings' ``serve`` section (``release.config.ServeSettings``)."""
    body = int(serve.max_body_mb) * MIB
    return RequestLimits(
        max_body_bytes=body,
        buffer_budget_bytes=max(3 * body, RequestLimits.buffer_budget_bytes),
        max_depth=int(serve.max_depth),
        unknown_category=serve.unknown_category,
    )


def too_large(limit: int) -> ProtocolError:
    """The 413 for a body over ``limit`` bytes."""
    return ProtocolError(
        413, f"the request body exceeds {limit} bytes; send fewer rows per request"
    )


async def read_body(request: Request, limit: int, budget: ByteBudget | None = None) -> bytes:
    """The request body, refused with a 413 as soon as more than ``limit`` bytes arrive.

    With a ``budget``, the bytes are reserved as they arrive (the caller gives them back
    with ``budget.give(request)``); a 503 when the server holds too many bodies already.
    """
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            if budget is not None and not budget.take(request, len(chunk)):
                raise ProtocolError(
                    503, "the server is receiving too many large requests; retry shortly"
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise ProtocolError(400, "the client closed the connection mid-body") from None
    return b"".join(chunks)


def nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets in strings ignored)."""
    if b"[" not in body and b"{" not in body:
        return 0
    import numpy as np

    raw = np.frombuffer(body, dtype=np.uint8)
    quote = raw == ord('"')
    if b"\\" in body:  # an escaped quote (odd run of backslashes before it) opens nothing
        candidates = np.flatnonzero(quote[1:] & (raw[:-1] == ord("\\"))) + 1
        for q in candidates.tolist():
            run = 0
            while q - run - 1 >= 0 and body[q - run - 1] == 0x5C:
                run += 1
            if run % 2:
                quote[q] = False
    inside = np.bitwise_xor.accumulate(quote.view(np.uint8))  # 1 within a string's quotes
    outside = inside == 0
    opening = ((raw == ord("[")) | (raw == ord("{"))) & outside
    closing = ((raw == ord("]")) | (raw == ord("}"))) & outside
    positions = np.flatnonzero(opening | closing)
    if positions.size == 0:
        return 0
    steps = np.where(opening[positions], 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max())


def check_depth(body: bytes, max_depth: int) -> None:
    """A 400 when the JSON nests deeper than ``max_depth``."""
    if body.count(b"[") + body.count(b"{") <= max_depth:  # cannot nest deeper: skip the scan
        return
    depth = nesting_depth(body)
    if depth > max_depth:
        raise ProtocolError(
            400,
            f"the request body nests {depth} levels deep; at most {max_depth} are allowed "
            "(a V2 request needs 5)",
        )


def _float(text: str) -> float:
    return float(text)


def _int(text: str) -> int:
    return int(text)


def parse_large(body: bytes) -> Any:
    """``json.loads`` that yields the GIL while it works (for a worker thread)."""
    return json.loads(body, parse_float=_float, parse_int=_int, parse_constant=_reject)


def parse_bounded(
    body: bytes, max_depth: int, *, large: bool = False, yielding: bool = True
) -> Any:
    """Parse a JSON request body within the nesting limit, or raise a 400.

    A ``large`` body has its depth measured on the bytes first, then is parsed with
    :func:`parse_large` (``yielding``, on a thread of the serving process) or with plain
    ``json.loads`` (in a process of its own, where there is no event loop to yield to).
    """
    if not body:
        raise ProtocolError(400, "the request body is empty; send a JSON inference request")
    if large:
        check_depth(body, max_depth)
    try:
        if large:
            return parse_large(body) if yielding else json.loads(body, parse_constant=_reject)
        # A small body is parsed first and its depth measured on the result: the byte scan
        # costs more than the parse itself on every single-row request.
        value = json.loads(body, parse_constant=_reject)
        if _deeper_than(value, max_depth):
            check_depth(body, max_depth)
        return value
    except RecursionError:  # a small body deeper than the parser's own limit
        check_depth(body, max_depth)
        raise ProtocolError(400, "the request body nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if not large:  # the depth error comes first, as for a large body
            check_depth(body, max_depth)
        text = str(exc)
        text = text if len(text) <= 200 else text[:197] + "..."
        raise ProtocolError(400, f"the request body is not valid JSON: {text}") from None


def _deeper_than(value: Any, limit: int) -> bool:
    """True when arrays and objects in ``value`` nest more than ``limit`` levels."""
    if not isinstance(value, list | dict):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, level + 1) for c in children if isinstance(c, list | dict))
    return False


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send null for a missing value")

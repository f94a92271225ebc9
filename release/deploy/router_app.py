"""The router process: HTTP plumbing and admin endpoints around the routing logic.

Run on 127.0.0.1 (``python -m release.deploy.router_app --port P --baseline URL``); the
deploy controller drives it through the admin endpoints under ``/_router/``
(:mod:`release.deploy.router_admin`), which need the header ``X-Release-Token`` when the
process was started with ``RELEASE_ROUTER_TOKEN`` in its environment. ``POST .../infer``
is routed by the :class:`Router`; everything else (health, metadata) goes to the baseline.

Every request body is read through ``release serve``'s streaming cap
(:func:`release.serve.body.read_body`): past ``--max-body-bytes`` the answer is a 413 and
the connection is closed, whether the body declared its length or came chunked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request

from release.deploy.router import TOKEN_ENV, Backend, Router, check_url
from release.deploy.router_admin import RouterAdmin
from release.serve.body import RequestLimits, read_body
from release.serve.protocol import ProtocolError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RouterApp:
    """The ASGI application around a :class:`Router`."""

    def __init__(self, router: Router, max_body_bytes: int = RequestLimits.max_body_bytes) -> None:
        self.router = router
        self.admin = RouterAdmin(router)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            # The same streaming cap as ``release serve``: bytes are counted as they
            # arrive (chunked bodies too), so memory stays bounded.
            body = await read_body(Request(scope, receive), self.max_body_bytes)
        except ProtocolError as exc:
            payload = json.dumps({"error": exc.message}).encode()
            close = [(b"connection", b"close")]  # the rest of the body is never read
            await _respond(send, exc.status, payload, "application/json", close)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query: bytes = scope.get("query_string", b"")
        if path.startswith("/_router/"):
            status, payload = self.admin.handle(method, path, body, headers)
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

    parser = argparse.ArgumentParser(prog="python -m release.deploy.router_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--baseline-version")
    parser.add_argument("--candidate")
    parser.add_argument("--candidate-version")
    parser.add_argument("--weight", type=float, default=0.0)
    parser.add_argument("--mode", choices=("split", "shadow"), default="split")
    parser.add_argument("--sticky-header")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--health-interval", type=float, default=0.5)
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=RequestLimits.max_body_bytes,
        help="413 for a request body larger than this (serve.max_body_mb of the servers)",
    )
    args = parser.parse_args(argv)
    try:
        router = Router(
            Backend(check_url(args.baseline), args.baseline_version),
            Backend(check_url(args.candidate), args.candidate_version) if args.candidate else None,
            weight=args.weight,
            mode=args.mode,
            sticky_header=args.sticky_header,
            timeout=args.timeout,
            health_interval=args.health_interval,
            token=os.environ.get(TOKEN_ENV) or None,
        )
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
    config = uvicorn.Config(
        RouterApp(router, max_body_bytes=args.max_body_bytes),
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

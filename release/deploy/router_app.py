"""The router process: HTTP plumbing and admin endpoints around the routing logic.

Run on 127.0.0.1 (``python -m release.deploy.router_app --port P --baseline URL``); the
deploy controller drives it through admin endpoints:

- ``GET /_router/state``: backends, weight, mode, upstream health;
- ``POST /_router/config``: change ``baseline``, ``candidate`` (null removes it),
  ``weight`` (0-100, % of inferences to the candidate), ``mode`` (``split`` or
  ``shadow``), versions, ``sticky_header`` at runtime, in one atomic update;
- ``GET /_router/stats``: per-variant measurements of the current window (requests,
  errors, latencies, predictions, scores, correctness where requests carried labels),
  the shadow comparison, and each upstream's health;
- ``POST /_router/window``: start a new window and return the old one.

Admin calls need the header ``X-Release-Token`` when the process was started with
``RELEASE_ROUTER_TOKEN`` in its environment. ``POST .../infer`` is routed by the
:class:`Router`; everything else (health, metadata) goes to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from release.deploy.router import TOKEN_ENV, TOKEN_HEADER, Backend, Router, check_url

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


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
            return 200, self.router.stats()
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

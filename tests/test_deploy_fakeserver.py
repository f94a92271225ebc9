"""A tiny V2 model server for router tests (no tests here): real HTTP, real process.

Feature ``x`` (FP64); predicts 1 when x > 0.5 with probabilities [1 - x, x]. It
misbehaves through exactly the chaos rules users get from ``release serve --chaos``
(``--chaos errors=0.5``, ``--chaos latency=300``, ``--chaos flip``, ``--chaos crash@N``,
...: :mod:`release.serve.chaos`). Run: ``python tests/test_deploy_fakeserver.py
--port P --version V [--chaos RULE ...]``; it prints ``ready on http://127.0.0.1:P``
when it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from release.serve.chaos import ChaosMiddleware, parse_chaos


def make_app(
    name: str = "model",
    version: str = "v1",
    *,
    chaos: Sequence[str] = (),
    feature: str = "x",
    fail_nth: int = 0,
) -> Any:
    served = [0]  # inference calls so far (for one transient fault at call fail_nth)

    async def live(request: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    async def meta(request: Request) -> JSONResponse:
        if request.path_params["name"] != name:
            return JSONResponse({"error": "unknown model"}, status_code=404)
        return JSONResponse(
            {
                "name": name,
                "versions": [version],
                "platform": "fake",
                "inputs": [{"name": feature, "datatype": "FP64", "shape": [-1]}],
                "outputs": [{"name": "predict", "datatype": "INT64", "shape": [-1]}],
            }
        )

    async def infer(request: Request) -> JSONResponse:
        if request.path_params["name"] != name:
            return JSONResponse({"error": "unknown model"}, status_code=404)
        served[0] += 1
        if fail_nth and served[0] == fail_nth:
            return JSONResponse({"error": "injected transient fault"}, status_code=500)
        body = await request.json()
        if "parameters" in body and "labels" in body["parameters"]:
            return JSONResponse({"error": "labels leaked to the server"}, status_code=400)
        inputs = {t["name"]: t["data"] for t in body["inputs"]}
        if feature not in inputs:
            return JSONResponse({"error": f"missing input {feature}"}, status_code=400)
        xs = [min(1.0, max(0.0, float(v))) for v in inputs[feature]]
        preds = [int(v > 0.5) for v in xs]
        probas = []
        for v in xs:
            probas += [1 - v, v]
        return JSONResponse(
            {
                "model_name": name,
                "model_version": version,
                "outputs": [
                    {"name": "predict", "datatype": "INT64", "shape": [len(xs)], "data": preds},
                    {
                        "name": "probabilities",
                        "datatype": "FP64",
                        "shape": [len(xs), 2],
                        "data": probas,
                    },
                ],
            }
        )

    app = Starlette(
        routes=[
            Route("/v2/health/live", live),
            Route("/v2/health/ready", ready),
            Route("/v2/models/{name}", meta),
            Route("/v2/models/{name}/infer", infer, methods=["POST"]),
            Route("/v2/models/{name}/versions/{v}/infer", infer, methods=["POST"]),
        ]
    )
    return ChaosMiddleware(app, parse_chaos(chaos), classes=[0, 1]) if chaos else app


class ThreadServer:
    """Run an app with uvicorn in a background thread of the test process."""

    def __init__(self, app: Any, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="model")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--chaos", action="append", default=[])
    parser.add_argument("--feature", default="x")
    parser.add_argument("--fail-nth", type=int, default=0)
    args = parser.parse_args()
    app = make_app(
        args.name, args.version, chaos=args.chaos, feature=args.feature, fail_nth=args.fail_nth
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        print(f"ready on http://127.0.0.1:{args.port}", flush=True)
        await task

    asyncio.run(run())


if __name__ == "__main__":
    main()

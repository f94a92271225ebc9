"""Router benchmark: what the traffic router costs, and a bounded soak through it.

Targets, each a separate process on 127.0.0.1, driven by one lean asyncio HTTP/1.1
keep-alive load generator (one connection per concurrent user, single-row requests):

- ``backend``: the upstream alone (a bare uvicorn endpoint answering a V2-shaped
  response, or ``release serve --model PATH`` with ``--model``);
- ``router``: the same upstream behind ``python -m release.deploy.router_app`` (split mode,
  all traffic to the baseline, measurements on);
- ``router canary 50%``: two upstreams, half the traffic to each;
- ``router shadow``: every request mirrored to a second upstream.

Prints a table with medians of ``--repeats`` runs, the router's p50 overhead against the
upstream alone (goal: <= 2 ms at concurrency 1), and with ``--soak S`` a soak of S seconds
(at most 600) through the router: errors (goal 0) and the router's RSS every few seconds
(goal: flat). Writes ``bench/results/router.json``.

    .venv/bin/python bench/router.py [--duration 5] [--repeats 3] [--soak 60] [--model models]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from release.deploy import processes  # noqa: E402
from release.deploy.router import TOKEN_ENV  # noqa: E402

TOKEN = "bench-token"
GOAL_OVERHEAD_MS = 2.0

UPSTREAM = """
import sys, uvicorn
BODY = (b'{"model_name":"model","model_version":"v1","outputs":['
        b'{"name":"predict","datatype":"INT64","shape":[1],"data":[1]},'
        b'{"name":"probabilities","datatype":"FP64","shape":[1,2],"data":[0.25,0.75]}]}')
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

REQUEST = json.dumps(
    {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.7]}]}
).encode()


async def _user(
    port: int, path: str, body: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not status_line.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


def load(port: int, path: str, body: bytes, concurrency: int, duration: float) -> dict[str, Any]:
    """Closed-loop load for ``duration`` seconds (after a short warm-up)."""
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> None:
        warm: list[float] = []
        await asyncio.gather(
            *(_user(port, path, body, time.perf_counter() + 0.5, warm, []) for _ in range(2))
        )
        stop_at = time.perf_counter() + duration
        await asyncio.gather(
            *(_user(port, path, body, stop_at, latencies, errors) for _ in range(concurrency))
        )

    asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "errors": len(errors),
        "rps": n / duration,
        "p50_ms": 1000 * statistics.median(latencies) if n else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (n - 1))] if n else float("nan"),
    }


def start_upstream(work: Path, model: str | None) -> processes.Managed:
    port = processes.free_port()
    if model:
        cmd = [
            sys.executable,
            "-m",
            "release.cli",
            "serve",
            "--model",
            model,
            "--port",
            str(port),
            "--name",
            "model",
            "--version-label",
            "v1",
        ]
        ready = "/v2/health/ready"
    else:
        script = work / "upstream.py"
        script.write_text(UPSTREAM)
        cmd = [sys.executable, str(script), str(port)]
        ready = "/v2/health/live" if model else "/"
    return processes.start(
        cmd,
        port=port,
        log_path=work / f"upstream-{port}.log",
        ready_path=ready,
        timeout=120,
        cwd=ROOT,
    )


def start_router(work: Path, baseline: str, *extra: str) -> processes.Managed:
    port = processes.free_port()
    cmd = [
        sys.executable,
        "-m",
        "release.deploy.router_app",
        "--port",
        str(port),
        "--baseline",
        baseline,
        *extra,
    ]
    return processes.start(
        cmd,
        port=port,
        log_path=work / "router.log",
        ready_path="/v2/health/live",
        timeout=60,
        env={TOKEN_ENV: TOKEN},
    )


def reset_window(router: processes.Managed) -> None:
    """Drop the router's measurements (as the controller does at every step)."""
    import httpx

    httpx.post(
        f"{router.url}/_router/window",
        headers={"x-release-token": TOKEN},
        timeout=30,
        trust_env=False,
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def median_runs(
    port: int, concurrency: int, duration: float, repeats: int, router: processes.Managed | None
) -> dict[str, Any]:
    runs = []
    for _ in range(repeats):
        if router is not None:
            reset_window(router)
        runs.append(load(port, "/v2/models/model/infer", REQUEST, concurrency, duration))
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds (<= 600)")
    parser.add_argument("--model", default=None, help="serve this model as the upstream")
    args = parser.parse_args()
    work = ROOT / "bench" / "results" / "router-work"
    work.mkdir(parents=True, exist_ok=True)
    started: list[processes.Managed] = []
    results: dict[str, Any] = {"rows": {}}
    try:
        a = start_upstream(work, args.model)
        b = start_upstream(work, args.model)
        started += [a, b]
        plain = start_router(work, a.url)
        canary = start_router(work, a.url, "--candidate", b.url, "--weight", "50")
        shadow = start_router(work, a.url, "--candidate", b.url, "--mode", "shadow")
        started += [plain, canary, shadow]
        targets = [
            ("upstream alone", a.port, None),
            ("router", plain.port, plain),
            ("router canary 50%", canary.port, canary),
            ("router shadow", shadow.port, shadow),
        ]
        for concurrency in (1, 16):
            for label, port, router in targets:
                row = median_runs(port, concurrency, args.duration, args.repeats, router)
                results["rows"][f"{label} @{concurrency}"] = row
        print(f"{'target':30} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for label, row in results["rows"].items():
            print(
                f"{label:30} {row['rps']:8.0f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
                f"{row['errors']:7.0f}"
            )
        rows = results["rows"]
        overhead = rows["router @1"]["p50_ms"] - rows["upstream alone @1"]["p50_ms"]
        results["p50_overhead_ms"] = overhead
        verdict = "meets" if overhead <= GOAL_OVERHEAD_MS else "misses"
        print(
            f"router p50 overhead at concurrency 1: {overhead:.2f} ms "
            f"({verdict} the goal of {GOAL_OVERHEAD_MS} ms)"
        )
        if args.soak > 0:
            seconds = min(args.soak, 600.0)
            samples = []
            errors = requests = 0
            chunk = 5.0
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                row = load(
                    plain.port,
                    "/v2/models/model/infer",
                    REQUEST,
                    16,
                    min(chunk, end - time.monotonic()),
                )
                errors += row["errors"]
                requests += row["requests"]
                reset_window(plain)  # the controller starts a window every step
                samples.append(round(rss_mb(plain.pid), 1))
            results["soak"] = {
                "seconds": seconds,
                "requests": requests,
                "errors": errors,
                "router_rss_mb": samples,
            }
            print(
                f"soak {seconds:.0f} s through the router: {requests} requests, "
                f"{errors} errors, router RSS MB {samples[0]} -> {samples[-1]} "
                f"(max {max(samples)})"
            )
    finally:
        for managed in started:
            processes.stop(managed)
    out = ROOT / "bench" / "results" / "router.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Serving benchmark: `release serve`, `mlflow models serve` and MLServer, side by side.

Every server runs as its own process on 127.0.0.1, on the same model and the same
single-row requests, driven by the same load generator (a lean asyncio HTTP/1.1
keep-alive client, one connection per concurrent user, in this process) at the same
concurrency. The peers run from virtualenvs this script creates once under
``~/.cache/release-bench/<peer>-<version>`` (pip, pinned versions, the same
scikit-learn as ours so the pickled pipeline loads); a peer that cannot be installed
or started is skipped with a note. Each round starts every server fresh, so the cold
start (process spawn to the first successful single-row prediction) and the load figures
come from the same runs; the table shows medians over the rounds.

Also measured:

- an empty uvicorn endpoint (the load generator's ceiling: it must be far above every
  server, or the generator is the bottleneck);
- ``release serve`` single-row latency while another client keeps a 10 MB request in
  flight back to back (issue 16: large requests must not stall small ones). The server
  answers them in its large-request worker process, which starts with the first one;
  the measured window opens once that first answer is back (its time, worker start
  included, is printed as "first"), so the row shows the steady state;
- ``release serve`` without micro-batching (``--max-batch-size 1``, not in ``--quick``).

MLServer runs with ``parallel_workers: 0`` (its default parallel workers crash at start
here); `mlflow models serve` with ``--env-manager local`` and its default workers; every
server gets ``OMP_NUM_THREADS=1``. MLflow's answer holds the labels only; ours and
MLServer's are V2 answers (ours with probabilities too).

    .venv/bin/python bench/serving.py [--rounds 3] [--duration 10] [--concurrency 16]
                                      [--quick] [--peers mlflow,mlserver] [--only release]

``--only release`` measures only ``release serve`` and its 10 MB row (no empty endpoint,
no peers, no variant without batching): the quick loop while working on the server.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")
CACHE = Path(os.environ.get("RELEASE_BENCH_CACHE", Path.home() / ".cache" / "release-bench"))
GOALS = {"p99_ms": 50.0, "cold_start_s": 1.0, "p99_in_flight_ms": 50.0}
LARGE_BYTES = 10_000_000
NAME = "bench-model"

EMPTY_APP = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="httptools", ws="none",
            access_log=False, log_level="warning", lifespan="off")
"""

# Run inside the MLflow virtualenv: wrap the pickled pipeline as an MLflow model.
MLFLOW_SAVE = """
import sys, joblib, mlflow.sklearn
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2], serialization_format="pickle")
"""


def peer_specs() -> dict[str, dict[str, Any]]:
    """The peers: their pinned packages (with our scikit-learn, so the pickle loads)."""
    import sklearn

    sk = f"scikit-learn=={sklearn.__version__}"
    return {
        "mlflow": {"version": "3.17.2", "packages": ["mlflow==3.17.2", sk]},
        "mlserver": {
            "version": "1.7.1",
            "packages": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", sk],
        },
    }


# ------------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(port: int, path: str, body: bytes, timeout: float = 5.0) -> int:
    """One POST on a fresh connection; its status (0 when refused or broken)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        conn.close()


class Server:
    """A server process; ``cold_s`` is spawn to its first successful prediction."""

    def __init__(
        self, argv: list[str], port: int, path: str, probe: bytes, cwd: Path, timeout: float = 180
    ) -> None:
        self.port, self.path = port, path
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log")  # noqa: SIM115
        start = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=server_env(Path(argv[0]).parent),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.cold_s = self.cold_cpu_s = float("nan")
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                break
            if post(port, path, probe, timeout=10) == 200:
                self.cold_s = time.perf_counter() - start
                self.cold_cpu_s = self.cpu_seconds()
                return
            time.sleep(0.01)
        self.log.seek(0)
        tail = self.log.read()[-1500:].decode(errors="replace")
        self.stop()
        raise RuntimeError(f"{' '.join(argv[:3])} did not answer a prediction: {tail}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its children (MLflow's workers)."""
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            total = 0.0
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
            return total
        except psutil.Error:
            return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def server_env(bin_dir: Path = BIN) -> dict[str, str]:
    """The environment of every server: its own bin first on PATH, one OpenMP thread."""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["OMP_NUM_THREADS"] = "1"
    return env


# ---------------------------------------------------------------------------- load
async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line[15:])
        elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return int(status_line.split()[1]) if status_line else 0


async def _user(
    port: int, path: str, bodies: list[bytes], offset: int, window: tuple[float, float], out: Any
) -> None:
    warm_until, stop_at = window
    latencies, statuses = out
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    i = offset
    try:
        while time.perf_counter() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            t0 = time.perf_counter()
            writer.write((head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
            try:
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
            if t0 >= warm_until:
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(time.perf_counter() - t0)
            if status == 0:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


def load(
    port: int,
    path: str,
    bodies: list[bytes],
    concurrency: int,
    duration: float,
    warmup: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` users on keep-alive connections for ``duration``."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    marks: dict[str, float] = {}

    async def mark(at: float, key: str) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        if cpu is not None:
            marks[key] = cpu()

    async def main() -> None:
        start = time.perf_counter()
        window = (start + warmup, start + warmup + duration)
        users = (
            _user(port, path, bodies, k * 7, window, (latencies, statuses))
            for k in range(concurrency)
        )
        await asyncio.gather(*users, mark(window[0], "start"), mark(window[1], "stop"))

    asyncio.run(main())
    latencies.sort()
    n = len(latencies)
    cpu_ms = 1000 * (marks["stop"] - marks["start"]) / n if n and "stop" in marks else float("nan")
    return {
        "requests": n,
        "errors": n - statuses.get(200, 0),
        "rps": n / duration,
        "p50_ms": 1000 * statistics.median(latencies) if n else float("nan"),
        "p99_ms": 1000 * latencies[int(0.99 * (n - 1))] if n else float("nan"),
        "cpu_ms_per_request": cpu_ms,
    }


class InFlight:
    """A client that keeps one large request in flight, back to back, on its own thread."""

    def __init__(self, port: int, path: str, body: bytes) -> None:
        self.port, self.path, self.body = port, path, body
        self.seconds: list[float] = []
        self.statuses: dict[int, int] = {}
        self.first = threading.Event()  # set once the first large request is answered
        self.first_s = float("nan")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            status = post(self.port, self.path, self.body, timeout=300)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if not self.first.is_set():  # not in the median: it starts the worker process
                self.first_s = time.perf_counter() - t0
                self.first.set()
            else:
                self.seconds.append(time.perf_counter() - t0)

    def stop(self) -> dict[str, Any]:
        """Stop after the request in flight; its summary."""
        self._stop.set()
        self._thread.join(300)
        median = statistics.median(self.seconds) if self.seconds else float("nan")
        return {
            "requests": len(self.seconds),
            "statuses": self.statuses,
            "median_s": median,
            "first_s": self.first_s,
        }


# ------------------------------------------------------------------- model and data
def find_model(work: Path) -> tuple[Path, Path]:
    """(project dir, models dir): a copy of ./models when there, else train the default."""
    here = Path.cwd()
    project = work / "project"
    project.mkdir()
    if (here / "models" / "model.skops").is_file() and (here / "models" / "model.json").is_file():
        # a private copy: the workspace's models/ may be rewritten while we measure
        shutil.copytree(here / "models", project / "models")
        test = here / "data" / "prepared" / "test.parquet"
        if test.is_file():
            (project / "data" / "prepared").mkdir(parents=True)
            shutil.copy(test, project / "data" / "prepared" / "test.parquet")
        return project, project / "models"
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    for argv in (["data", "prepare"], ["train"]):
        print(f"  running release {' '.join(argv)} in {project} ...", flush=True)
        subprocess.run([RELEASE, *argv], cwd=project, check=True, env=server_env())
    return project, project / "models"


def table_rows(project: Path, features: list[dict[str, Any]], n: int = 256) -> list[dict]:
    """Rows of the test split (or synthetic ones), values as JSON types."""
    test = project / "data" / "prepared" / "test.parquet"
    rows: list[dict[str, Any]] = []
    if test.is_file():
        import pandas as pd

        rows = pd.read_parquet(test).head(n).to_dict("records")
    if not rows:
        rows = [
            {
                f["name"]: float(i % 50)
                if f["kind"] == "numeric"
                else (f.get("categories") or ["x"])[0]
                for f in features
            }
            for i in range(n)
        ]
    clean = []
    for row in rows:
        out: dict[str, Any] = {}
        for f in features:
            value = row.get(f["name"])
            if value is None or (isinstance(value, float) and value != value):
                out[f["name"]] = None
            else:
                out[f["name"]] = float(value) if f["kind"] == "numeric" else str(value)
        clean.append(out)
    return clean


def v2_body(features: list[dict[str, Any]], row: dict[str, Any], mlserver: bool) -> bytes:
    """One single-row V2 request, one input per column (MLServer: its pandas codec)."""
    inputs = []
    for f in features:
        numeric = f["kind"] == "numeric"
        tensor: dict[str, Any] = {
            "name": f["name"],
            "datatype": "FP64" if numeric else "BYTES",
            "shape": [1],
            "data": [row[f["name"]]],
        }
        if mlserver and not numeric:
            tensor["parameters"] = {"content_type": "str"}
        inputs.append(tensor)
    request: dict[str, Any] = {"inputs": inputs}
    if mlserver:
        request["parameters"] = {"content_type": "pd"}
    return json.dumps(request).encode()


def mlflow_body(features: list[dict[str, Any]], row: dict[str, Any]) -> bytes:
    names = [f["name"] for f in features]
    split = {"columns": names, "data": [[row[name] for name in names]]}
    return json.dumps({"dataframe_split": split}).encode()


def large_body(features: list[dict[str, Any]], target: int = LARGE_BYTES) -> bytes:
    """One V2 request of about ``target`` bytes: one input per column, many rows."""
    import random

    rng = random.Random(0)

    def column(f: dict[str, Any], rows: int) -> dict[str, Any]:
        if f["kind"] == "numeric":
            data: list[Any] = [round(rng.uniform(0, 1000), 2) for _ in range(rows)]
        else:
            data = [rng.choice(f.get("categories") or ["x"]) for _ in range(rows)]
        kind = "FP64" if f["kind"] == "numeric" else "BYTES"
        return {"name": f["name"], "datatype": kind, "shape": [rows], "data": data}

    probe = json.dumps({"inputs": [column(f, 1000) for f in features]}).encode()
    rows = max(1, int(1000 * target / len(probe)))
    return json.dumps({"inputs": [column(f, rows) for f in features]}).encode()


# -------------------------------------------------------------------------- peers
def peer_venv(peer: str, spec: dict[str, Any]) -> tuple[Path | None, str]:
    """The peer's virtualenv, created once; (None, why) when it cannot be installed."""
    venv = CACHE / f"{peer}-{spec['version']}"
    marker = venv / ".release-bench-installed"
    wanted = " ".join(spec["packages"])
    if marker.is_file() and marker.read_text() == wanted:
        return venv, f"{peer} {spec['version']} from {venv}"
    print(f"  installing {wanted} into {venv} (once) ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", *spec["packages"]],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            shutil.rmtree(venv, ignore_errors=True)
            return None, f"{peer} skipped: `{' '.join(argv[:4])}` failed: {last[0][:200]}"
    marker.write_text(wanted)
    return venv, f"{peer} {spec['version']} installed into {venv}"


def prepare_peers(models: Path, work: Path, wanted: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Install the peers and write their model folders; (launchers, notes)."""
    from release.serve.loader import load as load_model

    launchers: dict[str, Any] = {}
    notes: list[str] = []
    if not wanted:
        return launchers, notes
    specs = peer_specs()
    pickled = work / "model.joblib"
    import joblib

    joblib.dump(load_model(str(models)).pipeline, pickled)
    for peer in wanted:
        venv, note = peer_venv(peer, specs[peer])
        notes.append(note)
        if venv is None:
            continue
        folder = work / peer
        if peer == "mlflow":
            python = str(venv / "bin" / "python")
            made = subprocess.run(
                [python, "-c", MLFLOW_SAVE, str(pickled), str(folder)],
                capture_output=True,
                text=True,
                env=server_env(),
            )
            if made.returncode != 0:
                notes[-1] = f"mlflow skipped: saving the model failed: {made.stderr[-300:]}"
                continue
            launchers[peer] = (venv, folder)
        else:
            folder.mkdir()
            shutil.copy(pickled, folder / "model.joblib")
            settings = {
                "name": NAME,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
            (folder / "model-settings.json").write_text(json.dumps(settings))
            launchers[peer] = (venv, folder)
    return launchers, notes


def mlserver_folder(folder: Path, port: int) -> None:
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,  # the default parallel workers crash at start here
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings))


# ---------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh starts of every server")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not measured")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--peers", default="mlflow,mlserver", help="comma list; '' for none")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s, fewer variants")
    parser.add_argument(
        "--only",
        choices=["all", "release"],
        default="all",
        help="release: only `release serve` and its 10 MB row (no peers)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup = 2, 4.0, 1.0
    if args.only == "release":
        args.peers = ""
    return args


def main() -> int:
    args = parse_args()
    wanted = [p for p in args.peers.split(",") if p]
    for peer in wanted:
        if peer not in ("mlflow", "mlserver"):
            sys.exit(f"--peers: unknown peer {peer!r} (use mlflow, mlserver)")
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        project, models = find_model(work)
        features = json.loads((models / "model.json").read_text())["features"]
        rows = table_rows(project, features)
        ours_bodies = [v2_body(features, row, mlserver=False) for row in rows]
        bodies = {
            "release serve": ours_bodies,
            "release serve, no batching": ours_bodies,
            "release serve, 10 MB request in flight": ours_bodies,
            "mlflow models serve": [mlflow_body(features, row) for row in rows],
            "MLServer (sklearn)": [v2_body(features, row, mlserver=True) for row in rows],
            "empty uvicorn endpoint": ours_bodies,
        }
        launchers, notes = prepare_peers(models, work, wanted)
        v2 = f"/v2/models/{NAME}/infer"

        def targets() -> list[tuple[str, Callable[[int], list[str]], str]]:
            ours = [RELEASE, "serve", "--model", str(models), "--name", NAME, "--port"]
            found: list[tuple[str, Callable[[int], list[str]], str]] = [
                ("empty uvicorn endpoint", lambda p: [sys.executable, "-c", EMPTY_APP, str(p)], v2),
                ("release serve", lambda p: [*ours, str(p)], v2),
            ]
            if args.only == "release":
                return found[1:]
            if not args.quick:
                found.append(
                    (
                        "release serve, no batching",
                        lambda p: [*ours, str(p), "--max-batch-size", "1"],
                        v2,
                    )
                )
            if "mlflow" in launchers:
                venv, folder = launchers["mlflow"]
                cmd = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(folder)]
                cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p"]
                found.append(("mlflow models serve", lambda p: [*cmd, str(p)], "/invocations"))
            if "mlserver" in launchers:
                venv, folder = launchers["mlserver"]

                def mlserver(p: int) -> list[str]:
                    mlserver_folder(folder, p)
                    return [str(venv / "bin" / "mlserver"), "start", str(folder)]

                found.append(("MLServer (sklearn)", mlserver, v2))
            return found

        big = large_body(features)
        print(f"model: {models}; {len(rows)} distinct rows; c={args.concurrency}\n", flush=True)
        for round_no in range(1, args.rounds + 1):
            for label, argv, path in targets():
                port = free_port()
                print(f"  round {round_no}: {label} ...", flush=True)
                try:
                    server = Server(argv(port), port, path, bodies[label][0], project)
                except RuntimeError as exc:
                    notes.append(f"{label} failed to start: {exc}")
                    continue
                measure = functools.partial(
                    load, port, path, concurrency=args.concurrency, duration=args.duration,
                    warmup=args.warmup, cpu=server.cpu_seconds,
                )  # fmt: skip
                try:
                    stats = measure(bodies[label])
                    stats["cold_start_s"] = server.cold_s
                    stats["cold_start_cpu_s"] = server.cold_cpu_s
                    runs.setdefault(label, []).append(stats)
                    if label == "release serve":
                        label = "release serve, 10 MB request in flight"
                        sender = InFlight(port, path, big)
                        sender.first.wait(300)  # the worker process has started and answered
                        time.sleep(0.2)  # the second large request is in flight
                        stats = measure(bodies[label])
                        stats["large"] = sender.stop()
                        runs.setdefault(label, []).append(stats)
                finally:
                    server.stop()
    report(args, runs, notes, len(big))
    return 0


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if key in r and r[key] == r[key]]
    return statistics.median(values) if values else float("nan")


def report(
    args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], notes: list[str], big: int
) -> None:
    """Print the table of medians and the ratios; write bench/results/serving.json."""
    keys = ("rps", "p50_ms", "p99_ms", "errors", "cold_start_s", "cold_start_cpu_s")
    keys += ("cpu_ms_per_request",)
    medians = {label: {k: median_of(rs, k) for k in keys} for label, rs in runs.items()}
    print(
        f"\nmedians over {args.rounds} rounds; c={args.concurrency}, single-row requests, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up\n"
    )
    header = (
        f"{'server':40} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'cold s':>7} "
        f"{'cold cpu s':>10} {'cpu ms/req':>10}"
    )
    print(header)
    print("-" * len(header))
    for label, m in medians.items():
        print(
            f"{label:40} {m['rps']:8.0f} {m['p50_ms']:8.1f} {m['p99_ms']:8.1f} "
            f"{m['errors']:7.0f} {m['cold_start_s']:7.2f} {m['cold_start_cpu_s']:10.2f} "
            f"{m['cpu_ms_per_request']:10.2f}"
        )
    ours = medians.get("release serve")
    print()
    if ours:
        for peer in ("mlflow models serve", "MLServer (sklearn)"):
            theirs = medians.get(peer)
            if theirs:
                print(
                    f"release serve vs {peer}: {ours['rps'] / theirs['rps']:.1f}x rps, "
                    f"p99 {theirs['p99_ms'] / ours['p99_ms']:.1f}x lower, "
                    f"cold start {theirs['cold_start_s'] / ours['cold_start_s']:.1f}x faster"
                )
        empty = medians.get("empty uvicorn endpoint")
        if empty:
            fastest = max(
                m["rps"] for label, m in medians.items() if label != "empty uvicorn endpoint"
            )
            headroom = empty["rps"] / fastest
            verdict = "not the bottleneck" if headroom >= 3 else "MAY BE THE BOTTLENECK"
            print(
                f"load generator: {empty['rps']:.0f} rps against an empty endpoint, "
                f"{headroom:.1f}x the fastest server ({verdict})"
            )
    in_flight = runs.get("release serve, 10 MB request in flight")
    if in_flight:
        large = [r["large"] for r in in_flight]
        print(
            f"10 MB in flight: {sum(x['requests'] for x in large)} requests of {big / 1e6:.1f} MB "
            f"(statuses {[x['statuses'] for x in large]}), median "
            f"{statistics.median(x['median_s'] for x in large):.2f} s each; the first of each "
            f"server (worker start included, not measured) "
            f"{statistics.median(x['first_s'] for x in large):.2f} s"
        )
    for note in notes:
        print(f"note: {note}")
    print(
        f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared "
        "machine shrinks rps and stretches p99; cpu ms/req varies much less)"
    )
    if ours:
        checks = [
            ("p99 <= 50 ms", ours["p99_ms"] <= GOALS["p99_ms"]),
            ("cold start <= 1 s", ours["cold_start_s"] <= GOALS["cold_start_s"]),
            ("zero errors", ours["errors"] == 0),
        ]
        if in_flight:
            p99 = medians["release serve, 10 MB request in flight"]["p99_ms"]
            checks.append(("p99 <= 50 ms with 10 MB in flight", p99 <= GOALS["p99_in_flight_ms"]))
        print("goals: " + ", ".join(f"{n} {'PASS' if ok else 'FAIL'}" for n, ok in checks))
    out = ROOT / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"args": vars(args), "medians": medians, "runs": runs, "notes": notes}
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())

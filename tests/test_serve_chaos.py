"""Chaos rules (``release serve --chaos``): parsing, and each rule on a real server."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from test_deploy_fakeserver import ThreadServer, make_app

from release.deploy import processes
from release.errors import UsageError
from release.serve.chaos import CRASH_EXIT, parse_chaos

FAKE = str(Path(__file__).with_name("test_deploy_fakeserver.py"))


def infer(url: str, x: float = 0.9) -> httpx.Response:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [x]}]}
    return httpx.post(f"{url}/v2/models/model/infer", json=body, timeout=10)


def test_rules_parse_and_bad_rules_say_how():
    chaos = parse_chaos(["crash@40", "errors=0.5@10", "latency=300", "flip@5", "seed=3"])
    assert chaos.crash_after == 40 and chaos.error_rate == 0.5 and chaos.errors_after == 10
    assert chaos.latency_ms == 300 and chaos.flip_after == 5 and chaos.seed == 3
    assert chaos.active and "errors=0.5@10" in chaos.describe()
    assert parse_chaos(["constant=1"]).constant == 1
    assert parse_chaos(["constant=yes"]).constant == "yes"
    assert not parse_chaos([]).active
    for bad in ("boom", "errors=2", "errors", "latency=-1", "flip=3", "seed=1@4"):
        with pytest.raises(UsageError, match="--chaos"):
            parse_chaos([bad])


def test_errors_latency_flip_and_constant_after_n_requests():
    rules = ["errors=1.0@2", "latency=150@1"]
    with ThreadServer(make_app(chaos=rules), processes.free_port()) as server:
        assert infer(server.url).status_code == 200  # the first request: no rule yet
        start = time.perf_counter()
        assert infer(server.url).status_code == 200
        assert time.perf_counter() - start >= 0.15
        answer = infer(server.url)
        assert answer.status_code == 500 and "injected" in answer.json()["error"]
        # Health and metadata keep answering.
        assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200
    with ThreadServer(make_app(chaos=["flip@1"]), processes.free_port()) as server:
        assert infer(server.url, 0.9).json()["outputs"][0]["data"] == [1]
        flipped = infer(server.url, 0.9).json()["outputs"]
        assert flipped[0]["data"] == [0]
        assert flipped[1]["data"] == pytest.approx([0.9, 0.1])
    with ThreadServer(make_app(chaos=["constant=0"]), processes.free_port()) as server:
        out = infer(server.url, 0.9).json()["outputs"]
        assert out[0]["data"] == [0] and out[1]["data"] == [1.0, 0.0]


def test_crash_after_n_requests_exits_the_process(tmp_path: Path):
    port = processes.free_port()
    cmd = [sys.executable, FAKE, "--port", str(port), "--chaos", "crash@2"]
    server = processes.start(
        cmd, port=port, log_path=tmp_path / "log", ready_path="/v2/health/ready", timeout=20
    )
    try:
        assert [infer(server.url).status_code for _ in range(2)] == [200, 200]
        with pytest.raises(httpx.HTTPError):
            infer(server.url)
        child = processes._CHILDREN[server.pid]
        assert child.wait(10) == CRASH_EXIT
    finally:
        processes.stop(server)


def test_release_serve_refuses_a_bad_rule(tmp_path: Path):
    out = subprocess.run(
        [sys.executable, "-m", "release.cli", "serve", "--chaos", "explode", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode != 0 and "Error: --chaos 'explode' is not a rule" in out.stderr

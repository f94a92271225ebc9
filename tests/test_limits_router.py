"""The router's own body cap (issue 16): a real router process in front of a real backend
refuses a body over ``--max-body-bytes`` with a 413 while it streams (chunked too), and
its memory stays flat however much the client keeps sending."""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from test_deploy_fakeserver import ThreadServer, make_app

from release.deploy import processes

CAP = 1024 * 1024
MIB = 1024 * 1024


@pytest.fixture
def router(tmp_path: Path):
    with ThreadServer(make_app(version="v1"), processes.free_port()) as base:
        port = processes.free_port()
        cmd = [sys.executable, "-m", "release.deploy.router_app", "--port", str(port)]
        cmd += ["--baseline", base.url, "--max-body-bytes", str(CAP)]
        managed = processes.start(
            cmd,
            port=port,
            log_path=tmp_path / "router.log",
            ready_path="/v2/health/live",
            timeout=20,
        )
        try:
            yield managed
        finally:
            processes.stop(managed)


def _chunked_flood(port: int, total: int) -> tuple[bytes, int]:
    """POST a chunked body of up to ``total`` bytes; stop when the server answers or
    closes. Returns (what the server said, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = (
        f"POST /v2/models/model/infer HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    sock.sendall(head.encode())
    chunk = 64 * 1024
    frame = f"{chunk:x}\r\n".encode() + b"[" + b" " * (chunk - 1) + b"\r\n"
    sent, answer = 0, b""
    try:
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            sock.sendall(frame)
            sent += chunk
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        sock.settimeout(5)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        answer += sock.recv(65536) if b"\r\n\r\n" in answer else b""
    except (TimeoutError, ConnectionResetError):
        pass
    sock.close()
    return answer, sent


def test_a_chunked_body_over_the_cap_is_413_and_memory_stays_flat(router) -> None:
    proc = psutil.Process(router.pid)
    ok = httpx.post(
        f"{router.url}/v2/models/model/infer",
        json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [0.5]}]},
    )
    assert ok.status_code == 200, ok.text  # under the cap: routed as before
    before = proc.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        answer, sent = _chunked_flood(router.port, 256 * MIB)
    finally:
        done.set()
        sampler.join()
    status_line = answer.split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, answer[:300]
    assert b"connection: close" in answer.lower()
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert f"exceeds {CAP} bytes".encode() in body
    assert sent < 256 * MIB  # the router stopped listening long before the end
    assert peak[0] - before < 64 * MIB, (before, peak[0])
    assert proc.is_running()  # and it still routes
    again = httpx.get(f"{router.url}/v2/health/live")
    assert again.status_code == 200


def test_a_declared_length_over_the_cap_is_refused_before_the_body(router) -> None:
    big = json.dumps({"inputs": [], "pad": " " * (CAP + 10)}).encode()
    answer = httpx.post(f"{router.url}/v2/models/model/infer", content=big)
    assert answer.status_code == 413
    assert answer.json() == {
        "error": f"the request body exceeds {CAP} bytes; send fewer rows per request"
    }
    admin = httpx.post(f"{router.url}/_router/config", content=big)
    assert admin.status_code == 413  # the admin API is behind the same cap

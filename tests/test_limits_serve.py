"""A real ``release serve`` under hostile bodies: a 1 GB chunked upload, a large request.

The server is a subprocess on a port it picks; the client is a raw socket, so the
chunked body streams from a generator and never exists in the test's memory either.
"""

from __future__ import annotations

import http.client
import json
import random
import select
import socket
import threading
import time
from pathlib import Path

import pytest
from serve_support import ServeProcess, column_inputs, sample_rows, train_model

GIB = 1024 * 1024 * 1024
CHUNK = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("limits-serve")
    train_model(work / "models")
    proc = ServeProcess(["--model", str(work / "models"), "--port", "0"], cwd=work)
    assert proc.url is not None, proc.stderr()
    yield proc
    assert proc.stop() == 0


def _address(proc: ServeProcess) -> tuple[str, int]:
    assert proc.url is not None
    host, port = proc.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def _send_chunked(address: tuple[str, int], total: int, deadline: float) -> tuple[bytes, int]:
    """Stream ``total`` bytes as chunks until the server answers; (answer, bytes sent)."""
    sock = socket.create_connection(address, timeout=10)
    sock.sendall(
        b"POST /v2/models/model/infer HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = f"{CHUNK:x}\r\n".encode() + b"[" + b"1," * (CHUNK // 2 - 1) + b"1\r\n"
    sent = 0
    answer = b""
    try:
        while sent < total and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += CHUNK
        sock.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        sock.close()
    return answer, sent


def test_a_1gb_chunked_body_is_refused_with_flat_memory(server: ServeProcess) -> None:
    pid = server.proc.pid
    baseline = _rss_kb(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(_rss_kb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        answer, sent = _send_chunked(_address(server), GIB, started + 60)
    finally:
        done.set()
        sampler.join()
    print(f"sent {sent >> 20} MiB; RSS {baseline >> 10} MB before, peak {max(peak) >> 10} MB")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"exceeds" in answer and b"connection: close" in answer.lower()
    assert sent < GIB // 4  # refused at the cap, not after reading the gigabyte
    assert time.monotonic() - started < 60
    assert max(peak) < 300 * 1024, f"RSS peaked at {max(peak) // 1024} MB"
    # the server still answers afterwards
    conn = http.client.HTTPConnection(*_address(server), timeout=30)
    conn.request("GET", "/v2/health/ready")
    assert conn.getresponse().status == 200


def test_a_declared_1gb_body_is_refused_before_it_is_sent(server: ServeProcess) -> None:
    sock = socket.create_connection(_address(server), timeout=30)
    sock.sendall(
        b"POST /v2/models/model/infer HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {GIB}\r\n\r\n".encode()
    )
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer


def _large_body(rows: int) -> bytes:
    rng = random.Random(3)
    data = {
        "age": [rng.randint(18, 80) for _ in range(rows)],
        "income": [round(rng.gauss(5e4, 1.5e4), 2) for _ in range(rows)],
        "credit_score": [round(rng.gauss(650, 80), 1) for _ in range(rows)],
        "region": [rng.choice(["north", "south", "east", "west"]) for _ in range(rows)],
        "employment_type": [rng.choice(["salaried", "unemployed"]) for _ in range(rows)],
    }
    types = {"age": "INT64", "region": "BYTES", "employment_type": "BYTES"}
    inputs = [
        {"name": k, "datatype": types.get(k, "FP64"), "shape": [rows], "data": v}
        for k, v in data.items()
    ]
    return json.dumps({"inputs": inputs}).encode()


@pytest.mark.slow
def test_a_large_request_does_not_stall_single_rows(server: ServeProcess) -> None:
    host, port = _address(server)
    big = _large_body(40_000)
    small = json.dumps({"inputs": column_inputs(sample_rows(1))}).encode()
    result: dict[str, float] = {}

    def post_big() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        start = time.perf_counter()
        conn.request("POST", "/v2/models/model/infer", big)
        response = conn.getresponse()
        body = json.loads(response.read())
        result["seconds"] = time.perf_counter() - start
        result["status"] = response.status
        result["rows"] = len(body["outputs"][0]["data"])

    thread = threading.Thread(target=post_big)
    conn = http.client.HTTPConnection(host, port, timeout=120)
    latencies: list[float] = []
    thread.start()
    while thread.is_alive():
        start = time.perf_counter()
        conn.request("POST", "/v2/models/model/infer", small)
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        latencies.append(time.perf_counter() - start)
    thread.join()
    latencies.sort()
    print(f"{len(latencies)} single rows, max {max(latencies):.3f} s; large {result}")
    assert result["status"] == 200 and result["rows"] == 40_000
    # Before: the parse and one 40,000-row prediction blocked every other request for
    # the big one's whole duration. Now single rows interleave with its slices.
    assert len(latencies) >= 5, (latencies, result)
    assert max(latencies) < result["seconds"] / 2, (max(latencies), result)

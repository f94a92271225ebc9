"""Large requests answered by the worker process: the same bytes, errors and counts as the
serving process's own path; small requests answered meanwhile; a killed worker costs one
503 and is replaced; no worker outlives its server.

The in-process tests set ``serial_bytes`` to 0 so that every request takes the large
path, once through a real worker process and once on the serving process's threads.
The others run ``release serve`` as a subprocess and find its worker with psutil.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from serve_support import ServeProcess, column_inputs, sample_rows, train_model
from test_limits_matrix import V2_CASES, _post_all
from test_limits_serve import _large_body

WORKER_MODULE = "release.serve.offload_worker"
COUNTED = ("model_requests_total", "model_batch_size", "model_prediction_score")
COUNTED += ("model_unknown_categories_total",)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("offload-model")
    train_model(out)
    return out


def _pair(model: Path, **limits: Any) -> tuple[Any, Any]:
    """(a server whose large requests go to a worker, one that answers them itself)."""
    from release.serve.body import RequestLimits
    from release.serve.commands import build_server

    settings = RequestLimits(inline_bytes=0, serial_bytes=0, chunk_rows=3, **limits)
    remote = build_server(str(model), version_label="v1.0.0", limits=settings)
    local = build_server(str(model), version_label="v1.0.0", limits=settings)
    local.requests.worker = None
    return remote, local


def _post_each(server: Any, bodies: list[Any]) -> list[httpx.Response]:
    return _post_all((server, None), bodies)  # one lifespan: one worker for all of them


def _counted(server: Any) -> list[str]:
    text = server.metrics.render().decode()
    lines = text.splitlines()
    return [line for line in lines if line.startswith(COUNTED) and "_created{" not in line]


def _same(remote: list[httpx.Response], local: list[httpx.Response]) -> None:
    for ours, theirs in zip(remote, local, strict=True):
        assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
        assert ours.content == theirs.content
        for header in ("content-type", "content-length", "connection", "retry-after"):
            assert ours.headers.get(header) == theirs.headers.get(header), header


def _rows(n: int, **column: Any) -> dict[str, Any]:
    inputs = column_inputs(sample_rows(n, seed=n))
    for tensor in inputs:
        if tensor["name"] in column:
            tensor["data"][-1] = column[tensor["name"]]
    return {"id": f"r{n}", "inputs": inputs}


def test_every_request_answers_the_same_through_the_worker(model: Path) -> None:
    remote, local = _pair(model)
    bodies = [body for _, body, _, _ in V2_CASES] + [_rows(10), _rows(7, region="mars")]
    bodies.append({**_rows(9), "outputs": [{"name": "predict"}]})
    answers = _post_each(remote, bodies)
    _same(answers, _post_each(local, bodies))
    assert remote.requests.worker.starts == 1  # one worker answered them all
    assert remote.requests.worker.pid is None  # and stopped with the server
    assert [a.status_code for a in answers[-3:]] == [200, 400, 200]
    assert len(answers[-3].json()["outputs"][1]["data"]) == 20  # 10 rows, 4 slices
    assert _counted(remote) == _counted(local)


def test_unknown_categories_under_warn_are_counted_as_before(model: Path) -> None:
    remote, local = _pair(model, unknown_category="warn")
    bodies = [_rows(8, region="mars"), _rows(5, employment_type="astronaut"), b"{oops"]
    answers = _post_each(remote, bodies)
    _same(answers, _post_each(local, bodies))
    assert [a.status_code for a in answers] == [200, 200, 400]
    counted = _counted(remote)
    assert counted == _counted(local)
    assert any('column="region"' in line and line.endswith(" 1.0") for line in counted)


def test_a_model_failure_in_the_worker_is_raised_as_it_was() -> None:
    from release.serve.body import RequestLimits
    from release.serve.offload_worker import answer
    from release.serve.protocol import Feature, Schema

    class Broken(Exception):  # a local class: the server cannot unpickle it
        pass

    class Runner:  # a model that fails: the worker reports the failure, not a crash
        schema = Schema("m", "v1", "binary", (Feature("x", "numeric", "float64"),), (0, 1))

        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def predict_batch(self, requests: list[Any]) -> list[Any]:
            return [self.exc]

    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [2], "data": [1, 2]}]})
    for exc in (ValueError("bad weights"), Broken("no leaves")):
        reply = answer(body.encode(), Runner(exc), RequestLimits())
        assert reply.calls == [2] and reply.body is None
        with pytest.raises(Exception) as raised:
            reply.raise_error()
        assert type(raised.value).__name__ == type(exc).__name__
        assert str(raised.value) == str(exc)


# ----------------------------------------------------------- real servers, real kills
def _address(proc: ServeProcess) -> tuple[str, int]:
    assert proc.url is not None
    host, port = proc.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _post(address: tuple[str, int], body: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=120)
    try:
        conn.request("POST", "/v2/models/model/infer", body)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _worker(proc: ServeProcess) -> psutil.Process | None:
    for child in psutil.Process(proc.proc.pid).children():
        try:
            if WORKER_MODULE in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _when_busy(worker: psutil.Process, timeout: float = 60) -> None:
    """Wait until the idle worker starts working (it received a body)."""
    idle = _cpu(worker)
    deadline = time.monotonic() + timeout
    while _cpu(worker) < idle + 0.05:
        assert time.monotonic() < deadline, "the worker never started on the request"
        time.sleep(0.01)


def _in_flight(address: tuple[str, int], body: bytes) -> tuple[threading.Thread, dict]:
    result: dict[str, Any] = {}

    def send() -> None:
        try:
            result["status"], result["headers"], result["body"] = _post(address, body)
        except (OSError, http.client.HTTPException) as exc:  # the server was killed
            result["status"], result["error"] = 0, exc

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, result


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def server(model: Path):
    proc = ServeProcess(["--model", str(model), "--port", "0"], cwd=model)
    assert proc.url is not None, proc.stderr()
    yield proc
    worker = _worker(proc)
    assert proc.stop() == 0
    assert worker is None or _gone(worker.pid, 5), "the worker outlived its server"


BIG = _large_body(60_000)  # about 5 MB: over serial_bytes (1 MB), a second or so of work


@pytest.mark.slow
def test_small_requests_are_answered_while_the_worker_decodes(server: ServeProcess) -> None:
    address = _address(server)
    status, _, first = _post(address, BIG)  # starts the worker
    assert status == 200 and len(json.loads(first)["outputs"][0]["data"]) == 60_000
    worker = _worker(server)
    assert worker is not None
    small = json.dumps({"inputs": column_inputs(sample_rows(1))}).encode()
    thread, result = _in_flight(address, BIG)
    _when_busy(worker)
    answered = 0
    while thread.is_alive() and answered < 5:  # the big one is still in the worker
        assert _post(address, small)[0] == 200
        answered += 1
    thread.join(120)
    assert answered == 5, "single rows waited for the large request"
    assert result["status"] == 200 and result["body"] == first


@pytest.mark.slow
def test_a_killed_worker_fails_its_request_with_503_and_is_replaced(
    server: ServeProcess,
) -> None:
    address = _address(server)
    assert _post(address, BIG)[0] == 200  # the worker runs (started here or before)
    worker = _worker(server)
    assert worker is not None
    thread, result = _in_flight(address, BIG)
    _when_busy(worker)
    worker.send_signal(signal.SIGKILL)
    thread.join(120)
    assert result["status"] == 503, result
    error = json.loads(result["body"])["error"]
    assert "worker stopped (killed by SIGKILL)" in error and "retry" in error, error
    assert result["headers"].get("retry-after") == "1"
    deadline = time.monotonic() + 60  # a new worker starts without waiting for a request
    while (replacement := _worker(server)) is None or replacement.pid == worker.pid:
        assert time.monotonic() < deadline, "no new worker"
        time.sleep(0.05)
    status, _, body = _post(address, BIG)
    assert status == 200 and len(json.loads(body)["outputs"][0]["data"]) == 60_000


@pytest.mark.slow
def test_no_worker_outlives_a_killed_server(model: Path) -> None:
    proc = ServeProcess(["--model", str(model), "--port", "0"], cwd=model)
    assert proc.url is not None
    address = _address(proc)
    assert _post(address, BIG)[0] == 200
    worker = _worker(proc)
    assert worker is not None
    # Busy with a request of several seconds, the worker reads nothing from its pipe:
    # it has to notice by itself that its parent is gone, well before it would finish.
    thread, result = _in_flight(address, _large_body(150_000))
    _when_busy(worker)
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait()
    assert _gone(worker.pid, 1.5), "the worker outlived its killed server"
    thread.join(10)
    assert result["status"] == 0


def test_a_stuck_worker_gets_a_503_after_its_timeout_and_is_replaced(model: Path) -> None:
    from release.serve.commands import build_server
    from release.serve.offload import LargeWorker
    from release.serve.protocol import ProtocolError

    server = build_server(str(model), version_label="v1.0.0")
    worker = LargeWorker(server.runner, server.requests.limits)
    worker.reply_timeout_s = 1.0
    body = json.dumps({"inputs": column_inputs(sample_rows(3))}).encode()
    try:
        assert worker.exchange(body).body is not None
        stuck = worker.pid
        assert stuck is not None
        os.kill(stuck, signal.SIGSTOP)  # alive, silent
        with pytest.raises(ProtocolError) as caught:
            worker.exchange(body)
        assert caught.value.status == 503
        assert "did not answer within 1 s" in caught.value.message
        assert _gone(stuck, 10), "the stuck worker is killed, not left behind"
        assert worker.exchange(body).body is not None  # a new worker answers
        assert worker.pid not in (None, stuck)
    finally:
        worker.close()

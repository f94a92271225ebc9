"""``release serve`` as a real process on 127.0.0.1: ready line, HTTP, SIGTERM, refusals."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import time

import httpx
import pytest
from serve_support import (
    ENV,
    RELEASE,
    ServeProcess,
    column_inputs,
    free_port,
    make_registry,
    sample_rows,
    train_model,
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "models"
    train_model(out)
    return out


@pytest.mark.slow
def test_serve_answers_real_http_and_stops_on_sigterm(model_dir, tmp_path):
    port = free_port()
    params = tmp_path / "serve-params.yaml"
    params.write_text("release:\n  deploy:\n    server: {max_batch_size: 8, max_wait_ms: 1}\n")
    server = ServeProcess(
        [
            "--model",
            str(model_dir),
            "--port",
            str(port),
            "--version-label",
            "v3.1.0",
            "--params",
            str(params),
        ],
        tmp_path,
    )
    try:
        assert server.url == f"http://127.0.0.1:{port}", (server.lines, server.stderr())
        assert "batch <= 8 rows, wait <= 1.0 ms" in server.lines[0]
        df = sample_rows(32, seed=4)
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/v2/health/live").json() == {"live": True}
            assert client.get("/v2/health/ready").json() == {"ready": True}
            assert client.get("/v2").json()["models"] == [{"name": "model", "versions": ["v3.1.0"]}]
            assert client.get("/v2/models/model/versions/v3.1.0").status_code == 200
            assert client.get("/v2/models/model/ready").status_code == 200
            whole = client.post(
                "/v2/models/model/infer", json={"id": "all", "inputs": column_inputs(df)}
            ).json()
            probabilities = whole["outputs"][1]["data"]
            bad = client.post("/v2/models/model/infer", content=b"[1, 2")
            assert bad.status_code == 400 and "error" in bad.json()
            assert client.post("/v2/models/x/infer", json={}).status_code == 404

        # 32 concurrent single-row clients, each on its own connection, get their own row
        def one(i: int) -> tuple[int, list[float]]:
            with httpx.Client(base_url=server.url, timeout=10) as client:
                answer = client.post(
                    "/v2/models/model/versions/v3.1.0/infer",
                    json={"id": str(i), "inputs": column_inputs(df.iloc[i : i + 1])},
                )
                body = answer.json()
                assert answer.status_code == 200 and body["id"] == str(i)
                return i, body["outputs"][1]["data"]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for i, proba in pool.map(one, range(32)):
                assert proba == pytest.approx(probabilities[2 * i : 2 * i + 2])

        metrics = httpx.get(server.url + "/metrics").text
        assert 'model_requests_total{model="model",status="200",version="v3.1.0"}' in metrics
        assert "process_start_time_seconds" in metrics
        # the 32-row request runs alone; no micro-batch exceeds the configured 8 rows
        le8 = [
            ln for ln in metrics.splitlines() if ln.startswith('model_batch_size_bucket{le="8.0"')
        ]
        count = [ln for ln in metrics.splitlines() if ln.startswith("model_batch_size_count")]
        assert float(count[0].rsplit(" ", 1)[1]) - float(le8[0].rsplit(" ", 1)[1]) == 1
    finally:
        status = server.stop()
    assert status == 0, server.stderr()
    assert server.lines[-1] == "stopped"


@pytest.mark.slow
def test_serve_a_registered_version_from_git_and_dvc(tmp_path):
    made = make_registry(tmp_path, {"v1.0.0": 0, "v1.1.0": 3})
    server = ServeProcess(
        ["--model", "model@v1.0.0", "--repo", str(made["repo"]), "--port", "0"], tmp_path
    )
    try:
        assert server.url is not None, (server.lines, server.stderr())
        meta = httpx.get(server.url + "/v2/models/model").json()
        assert meta["versions"] == ["v1.0.0"]
        df = sample_rows(3)
        answer = httpx.post(
            server.url + "/v2/models/model/versions/v1.0.0/infer",
            json={"inputs": column_inputs(df)},
        )
        assert answer.status_code == 200, answer.text
    finally:
        assert server.stop() == 0


def test_sha256_mismatch_refuses_to_serve(model_dir, tmp_path):
    meta = json.loads((model_dir / "model.json").read_text())
    bad_dir = tmp_path / "models"
    bad_dir.mkdir()
    (bad_dir / "model.skops").write_bytes((model_dir / "model.skops").read_bytes())
    (bad_dir / "model.json").write_text(json.dumps({**meta, "sha256": "a" * 64}))
    proc = subprocess.run(
        [RELEASE, "serve", "--model", str(bad_dir), "--port", "0"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "ready on" not in proc.stdout
    assert "sha256" in proc.stderr and proc.stderr.startswith("Error: ")


def test_port_in_use_is_a_usage_error_and_fault_flags_are_hidden(model_dir, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [RELEASE, "serve", "--model", str(model_dir), "--port", str(port)],
            capture_output=True,
            text=True,
            env=ENV,
            cwd=tmp_path,
            timeout=120,
        )
    assert proc.returncode == 2 and "cannot listen" in proc.stderr
    help_text = subprocess.run(
        [RELEASE, "serve", "--help"], capture_output=True, text=True, env=ENV, check=True
    ).stdout
    assert "--model" in help_text and "--fault" not in help_text


@pytest.mark.slow
def test_sigterm_drains_requests_in_flight(model_dir, tmp_path):
    server = ServeProcess(
        ["--model", str(model_dir), "--port", "0", "--fault-delay-ms", "400"], tmp_path
    )
    assert server.url is not None, server.stderr()
    body = {"inputs": column_inputs(sample_rows(1))}

    def one(_: int) -> int:
        return httpx.post(server.url + "/v2/models/model/infer", json=body, timeout=10).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(one, i) for i in range(4)]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until all four are inside the server
            metrics = httpx.get(server.url + "/metrics").text
            if 'model_in_flight_requests{model="model"' in metrics and any(
                line.startswith("model_in_flight_requests{") and line.endswith(" 4.0")
                for line in metrics.splitlines()
            ):
                break
            time.sleep(0.02)
        server.proc.terminate()
        codes = [f.result() for f in futures]
    assert codes == [200, 200, 200, 200]
    # One SIGTERM, then wait: a second one (ServeProcess.stop) could land while Python
    # finalizes, when it has already restored the default action (death by SIGTERM).
    assert server.proc.wait(15) == 0


@pytest.mark.slow
def test_fault_flags_make_a_real_server_fail_and_slow(model_dir, tmp_path):
    server = ServeProcess(
        [
            "--model",
            str(model_dir),
            "--port",
            "0",
            "--fault-error-rate",
            "1",
            "--fault-delay-ms",
            "100",
        ],
        tmp_path,
    )
    try:
        assert server.url is not None, server.stderr()
        answer = httpx.post(
            server.url + "/v2/models/model/infer", json={"inputs": column_inputs(sample_rows(1))}
        )
        assert answer.status_code == 500 and "injected" in answer.json()["error"]
        assert answer.elapsed.total_seconds() >= 0.1
        assert httpx.get(server.url + "/v2/health/ready").status_code == 200
    finally:
        assert server.stop() == 0

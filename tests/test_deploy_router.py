"""The router as a real process in front of real Starlette backends on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from test_deploy_fakeserver import ThreadServer, make_app

from release.deploy import processes
from release.deploy.router import TOKEN_ENV, parse_outputs, take_labels

TOKEN = "t0ken"


def request(xs, labels=None):
    body = {"inputs": [{"name": "x", "shape": [len(xs)], "datatype": "FP64", "data": xs}]}
    if labels is not None:
        body["parameters"] = {"labels": labels}
    return body


@pytest.fixture
def start_router(tmp_path: Path):
    started = []

    def start(baseline: str, *extra: str) -> tuple[str, httpx.Client]:
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
        managed = processes.start(
            cmd,
            port=port,
            log_path=tmp_path / "router.log",
            ready_path="/v2/health/live",
            timeout=20,
            env={TOKEN_ENV: TOKEN},
        )
        started.append(managed)
        admin = httpx.Client(base_url=managed.url, headers={"x-release-token": TOKEN})
        return managed.url, admin

    yield start
    for managed in started:
        processes.stop(managed)
        assert not processes.alive(managed)


def send(url: str, n: int, *, headers=None, labels=False) -> list[httpx.Response]:
    out = []
    with httpx.Client(base_url=url) as client:
        for i in range(n):
            x = (i % 10) / 10 + 0.05
            body = request([x], [int(x > 0.5)] if labels else None)
            out.append(client.post("/v2/models/model/infer", json=body, headers=headers or {}))
    return out


def test_weighted_split_and_measurements(start_router):
    with (
        ThreadServer(make_app(version="v1"), processes.free_port()) as base,
        ThreadServer(make_app(version="v2"), processes.free_port()) as cand,
    ):
        url, admin = start_router(base.url, "--candidate", cand.url, "--weight", "30")
        responses = send(url, 200, labels=True)
        assert all(r.status_code == 200 for r in responses)
        variants = [r.headers["x-release-variant"] for r in responses]
        share = variants.count("candidate") / len(variants)
        assert 0.15 < share < 0.45
        stats = admin.get("/_router/stats").json()
        assert stats["candidate"]["requests"] == variants.count("candidate")
        assert stats["baseline"]["requests"] == variants.count("baseline")
        assert len(stats["candidate"]["latencies_ms"]) == stats["candidate"]["requests"]
        # Labels reached the router, not the servers (the fake answers 400 if they leak).
        assert all(stats["baseline"]["correct"])
        assert len(stats["baseline"]["correct"]) == stats["baseline"]["requests"]
        assert len(stats["baseline"]["scores"]) == stats["baseline"]["requests"]
        # Metadata and readiness go to the baseline.
        meta = httpx.get(f"{url}/v2/models/model").json()
        assert meta["versions"] == ["v1"]
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        # A new window starts from zero and returns the old one.
        old = admin.post("/_router/window").json()
        assert old["baseline"]["requests"] == stats["baseline"]["requests"]
        assert admin.get("/_router/stats").json()["baseline"]["requests"] == 0


def test_weights_change_at_runtime_and_sticky_header(start_router):
    with (
        ThreadServer(make_app(version="v1"), processes.free_port()) as base,
        ThreadServer(make_app(version="v2"), processes.free_port()) as cand,
    ):
        url, admin = start_router(base.url)
        assert {r.headers["x-release-variant"] for r in send(url, 20)} == {"baseline"}
        state = admin.post(
            "/_router/config",
            json={
                "candidate": cand.url,
                "candidate_version": "v2",
                "weight": 100,
            },
        ).json()
        assert state["weight"] == 100 and state["candidate"]["version"] == "v2"
        assert {r.headers["x-release-variant"] for r in send(url, 20)} == {"candidate"}
        admin.post("/_router/config", json={"weight": 50, "sticky_header": "x-user"})
        for user in ("alice", "bob", "carol", "dave"):
            seen = {r.headers["x-release-variant"] for r in send(url, 8, headers={"x-user": user})}
            assert len(seen) == 1, user
        # An explicit version goes to the variant serving it.
        with httpx.Client(base_url=url) as client:
            r = client.post("/v2/models/model/versions/v2/infer", json=request([0.9]))
            assert r.json()["model_version"] == "v2"
        # Bad changes are refused and change nothing.
        bad = admin.post("/_router/config", json={"weight": 150})
        assert bad.status_code == 400 and "weight" in bad.json()["error"]
        bad = admin.post("/_router/config", json={"candidate": "http://example.com:80"})
        assert bad.status_code == 400
        assert admin.get("/_router/state").json()["weight"] == 50
        # Admin needs the token.
        assert httpx.get(f"{url}/_router/state").status_code == 403


def test_failed_candidate_inference_is_retried_on_baseline(start_router):
    with (
        ThreadServer(make_app(version="v1"), processes.free_port()) as base,
        ThreadServer(make_app(version="v2", chaos=["errors=1.0"]), processes.free_port()) as cand,
    ):
        url, admin = start_router(base.url, "--candidate", cand.url, "--weight", "50")
        responses = send(url, 60)
        assert [r.status_code for r in responses] == [200] * 60
        stats = admin.get("/_router/stats").json()
        assert stats["candidate"]["errors"] == stats["candidate"]["requests"] > 0
        assert stats["retries"] == stats["candidate"]["requests"]
        assert stats["failed"] == 0
        assert any(r.headers.get("x-release-retried") == "1" for r in responses)


def test_dead_candidate_is_retried_on_baseline(start_router):
    with ThreadServer(make_app(version="v1"), processes.free_port()) as base:
        dead = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens here
        url, admin = start_router(base.url, "--candidate", dead, "--weight", "100")
        responses = send(url, 10)
        assert [r.status_code for r in responses] == [200] * 10
        stats = admin.get("/_router/stats").json()
        # Five failures in a row mark it unhealthy: the rest go straight to the baseline.
        assert stats["candidate"]["errors"] == 5 and stats["retries"] == 5
        assert stats["baseline"]["requests"] == 10
        assert stats["health"]["candidate"]["healthy"] is False
        assert stats["health"]["baseline"]["healthy"] is True


def test_dead_baseline_is_retried_on_candidate_and_reported_unhealthy(start_router):
    with ThreadServer(make_app(version="v2"), processes.free_port()) as cand:
        dead = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens here
        url, admin = start_router(dead, "--candidate", cand.url, "--weight", "10")
        responses = send(url, 20)
        assert [r.status_code for r in responses] == [200] * 20
        assert {r.json()["model_version"] for r in responses} == {"v2"}
        import time

        time.sleep(1.5)  # two failed health checks (every 0.5 s)
        health = admin.get("/_router/stats").json()["health"]
        assert health["baseline"]["healthy"] is False
        assert health["baseline"]["failed_checks"] >= 2
        assert "connect" in health["baseline"]["last_error"]
        assert health["candidate"]["healthy"] is True
        # Shadow mode: the mirrored answer stands in for the dead baseline's.
        admin.post("/_router/config", json={"mode": "shadow"})
        responses = send(url, 5)
        assert [r.status_code for r in responses] == [200] * 5


def test_shadow_mirrors_and_compares(start_router):
    with (
        ThreadServer(make_app(version="v1"), processes.free_port()) as base,
        ThreadServer(make_app(version="v2"), processes.free_port()) as same,
        ThreadServer(make_app(version="v3", chaos=["flip"]), processes.free_port()) as wrong,
    ):
        url, admin = start_router(base.url, "--candidate", same.url, "--mode", "shadow")
        responses = send(url, 30)
        assert {r.json()["model_version"] for r in responses} == {"v1"}
        stats = admin.get("/_router/stats").json()
        assert stats["shadow"]["compared"] == 30
        assert stats["shadow"]["agreement"] == 1.0
        assert stats["shadow"]["max_proba_diff"] == 0.0
        admin.post("/_router/config", json={"candidate": wrong.url})
        admin.post("/_router/window")
        responses = send(url, 30)
        assert {r.json()["model_version"] for r in responses} == {"v1"}  # never the shadow's
        import time

        time.sleep(0.3)
        shadow = admin.get("/_router/stats").json()["shadow"]
        assert shadow["agreement"] == 0.0
        assert sum(shadow["flips"].values()) == 30
        assert shadow["max_proba_diff"] > 0.5


def test_parse_outputs_and_labels():
    body = (
        b'{"outputs": [{"name": "predict", "shape": [2], "data": [0, 1]},'
        b'{"name": "probabilities", "shape": [2, 2], "data": [0.9, 0.1, 0.2, 0.8]}]}'
    )
    out = parse_outputs(body)
    assert out is not None
    assert out.predictions == [0, 1]
    assert out.probabilities == [[0.9, 0.1], [0.2, 0.8]]
    assert out.scores == [0.1, 0.8]
    assert parse_outputs(b"not json") is None
    stripped, labels = take_labels(b'{"inputs": [], "parameters": {"labels": [1]}}')
    assert labels == [1] and b"labels" not in stripped and b"parameters" not in stripped
    assert take_labels(b'{"inputs": []}') == (b'{"inputs": []}', None)


def test_candidate_refusing_what_baseline_accepts_counts_as_candidate_error(start_router):
    with (
        ThreadServer(make_app(version="v1"), processes.free_port()) as base,
        ThreadServer(make_app(version="v2", feature="y"), processes.free_port()) as cand,
    ):
        url, admin = start_router(base.url, "--candidate", cand.url, "--weight", "100")
        responses = send(url, 10)
        assert [r.status_code for r in responses] == [200] * 10
        stats = admin.get("/_router/stats").json()
        assert stats["candidate"]["errors"] == 10 and stats["retries"] == 10
        # A request both refuse is the client's fault: its 4xx comes back, no error counted.
        admin.post("/_router/window")
        with httpx.Client(base_url=url) as client:
            r = client.post(
                "/v2/models/model/infer",
                json={"inputs": [{"name": "z", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            )
        assert r.status_code == 400
        stats = admin.get("/_router/stats").json()
        assert stats["candidate"]["errors"] == 0 and stats["candidate"]["client_errors"] == 1

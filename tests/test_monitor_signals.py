"""Golden signals from a real Prometheus endpoint served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    make_wsgi_app,
)

from release.config import Settings
from release.errors import CheckFailed, DataError, UsageError
from release.monitor.signals import (
    check_signals,
    deployment_url,
    golden_signals,
    histogram_quantile,
    measure,
    metrics_url,
    parse_metrics,
)

RELEASE = str(Path(sys.executable).with_name("release"))
BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class FakeServer:
    """A model server's metrics: the names and labels the serving part exposes."""

    def __init__(self, *, html: bool = False):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "model_requests_total", "r", ("model", "version", "status"), registry=self.registry
        )
        self.duration = Histogram(
            "model_request_duration_seconds",
            "d",
            ("model", "version"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "model_in_flight_requests", "i", ("model", "version"), registry=self.registry
        )
        ProcessCollector(registry=self.registry)
        app = make_wsgi_app(self.registry)
        if html:

            def app(environ, start_response):
                start_response("200 OK", [("Content-Type", "text/html")])
                return [b"<html><body>hello</body></html>"]

        self.httpd = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/metrics"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, n, *, seconds=0.004, status="200", version="v1.0.0"):
        for _ in range(n):
            self.requests.labels("model", version, status).inc()
            self.duration.labels("model", version).observe(seconds)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def cli(*args, cwd):
    return subprocess.run(
        [RELEASE, "monitor", "signals", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_histogram_quantile_interpolates_like_promql():
    buckets = [(0.1, 50.0), (0.2, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)
    assert histogram_quantile(0.99, [(0.1, 10.0), (float("inf"), 20.0)]) == 0.1
    assert histogram_quantile(0.5, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_signals_from_a_live_endpoint(server):
    server.serve(900, seconds=0.004)
    server.serve(100, seconds=0.04, version="v1.1.0")
    server.serve(5, status="500")
    server.serve(7, status="400")
    server.in_flight.labels("model", "v1.0.0").set(3)
    report = measure(server.url, Settings().monitor.signals)
    s = report.signals
    assert s.requests == 1012 and s.server_errors == 5 and s.client_errors == 7
    assert s.error_rate == pytest.approx(5 / 1012)
    assert 2.5 <= s.p50_ms <= 5.0
    assert 25 <= s.p99_ms <= 50
    assert s.in_flight == 3
    assert s.memory_mb and s.memory_mb > 1 and s.cpu_seconds is not None
    assert {(v["model"], v["version"]) for v in s.versions} == {
        ("model", "v1.0.0"),
        ("model", "v1.1.0"),
    }
    v11 = next(v for v in s.versions if v["version"] == "v1.1.0")
    assert 25 <= v11["p50_ms"] <= 50
    assert report.verdict == "pass"


def test_breaches_and_inconclusive(server):
    settings = Settings().monitor.signals
    assert measure(server.url, settings).verdict == "inconclusive"
    server.serve(90)
    server.serve(10, status="503")
    report = measure(server.url, settings)
    assert report.verdict == "breach"
    assert [c.name for c in report.checks if not c.passed] == ["error_rate"]
    server.serve(2000, seconds=0.4)
    failed = {c.name for c in measure(server.url, settings).checks if not c.passed}
    assert {"p50_ms", "p99_ms"} <= failed


def test_window_measures_only_the_window(server):
    server.serve(500, status="500")  # old errors, before the window

    def later():
        time.sleep(0.2)
        server.serve(300)

    t = threading.Thread(target=later)
    t.start()
    report = measure(server.url, Settings().monitor.signals, window=0.6)
    t.join()
    s = report.signals
    assert s.requests == 300 and s.server_errors == 0
    assert s.window_seconds and s.window_seconds >= 0.6
    assert s.rps == pytest.approx(300 / s.window_seconds)
    assert report.verdict == "pass"


def test_cli_pass_and_breach(server, tmp_path):
    (tmp_path / "params.yaml").write_text("{}\n")
    server.serve(100)
    ok = cli("--url", server.url, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("PASS") and "p99_ms" in ok.stdout
    as_json = json.loads(cli("--url", server.url, "--json", cwd=tmp_path).stdout)
    assert as_json["verdict"] == "pass" and as_json["signals"]["requests"] == 100
    server.serve(50, status="500")
    bad = cli("--url", server.url, cwd=tmp_path)
    assert bad.returncode == 1
    assert "Error: golden signals breach: error_rate" in bad.stderr


def test_cli_deployment_record(server, tmp_path):
    state = tmp_path / "deploy-state"
    (tmp_path / "params.yaml").write_text(
        f"release:\n  deploy:\n    state_dir: {state}\nmonitor:\n  signals:\n    min_requests: 10\n"
    )
    missing = cli("--deployment", "model", "prod", cwd=tmp_path)
    assert missing.returncode == 2 and "no deployment record" in missing.stderr
    (state / "model").mkdir(parents=True)
    base = server.url.removesuffix("/metrics")
    record = {"name": "model", "stage": "prod", "current": {"server": {"url": base}}}
    (state / "model" / "prod.json").write_text(json.dumps(record))
    server.serve(5)
    few = cli("--deployment", "model", "prod", cwd=tmp_path)
    assert few.returncode == 1 and "inconclusive" in few.stderr
    server.serve(20)
    assert cli("--deployment", "model", "prod", cwd=tmp_path).returncode == 0
    (state / "model" / "prod.json").write_text(json.dumps({"stage": "prod"}))
    nourl = cli("--deployment", "model", "prod", cwd=tmp_path)
    assert nourl.returncode == 2 and "names no serving url" in nourl.stderr
    assert cli("--deployment", "../x", "prod", cwd=tmp_path).returncode == 2
    both = cli("--url", server.url, "--deployment", "model", "prod", cwd=tmp_path)
    assert both.returncode == 2 and "exactly one" in both.stderr


def test_unreachable_and_not_prometheus(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CheckFailed, match="cannot read metrics"):
        measure(f"http://127.0.0.1:{port}/metrics", Settings().monitor.signals)
    html = FakeServer(html=True)
    try:
        with pytest.raises(DataError, match="Prometheus text format"):
            measure(html.url, Settings().monitor.signals)
    finally:
        html.close()


def test_url_and_record_validation(tmp_path):
    assert metrics_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000/metrics"
    assert metrics_url("http://h:1/custom") == "http://h:1/custom"
    with pytest.raises(UsageError):
        metrics_url("file:///etc/passwd")
    with pytest.raises(UsageError):
        deployment_url(tmp_path, "../etc", "prod")
    with pytest.raises(UsageError):
        deployment_url(tmp_path, "model", "prod/../../x")
    # a slash in a GTO name is stored as "__", as the deploy records do
    (tmp_path / "team__model").mkdir()
    (tmp_path / "team__model" / "prod.json").write_text('{"url": "http://127.0.0.1:9/"}')
    assert deployment_url(tmp_path, "team/model", "prod") == "http://127.0.0.1:9/metrics"


def test_check_signals_is_pure():
    samples = parse_metrics(
        'model_requests_total{model="m",version="v1",status="200"} 10\n'
        'model_in_flight_requests{model="m",version="v1"} 100\n'
    )
    report = check_signals(golden_signals(samples), Settings().monitor.signals)
    assert report.verdict == "breach"
    assert [c.name for c in report.checks if not c.passed] == ["in_flight"]
    assert next(c for c in report.checks if c.name == "p99_ms").note == "not exposed"

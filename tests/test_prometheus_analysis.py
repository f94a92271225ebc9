"""The rendered AnalysisTemplate's PromQL against a real Prometheus scraping a real
``release serve``, compared with what the local canary judge computes from the same traffic.

The server answers with known faults (``--chaos errors=0.2``, a known share of malformed
requests answered 400) and a known latency (``--chaos latency=150``). The client records
each answer as the router does (:class:`release.deploy.measurements.Measurements`), the
judge's checks turn that into an error rate and latency quantiles, and every metric of the
rendered template (whatever queries the renderer produces: they are read from the file,
not written here) is evaluated against Prometheus and compared with the judge's number.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes_support import settings as cluster_settings
from prometheus_support import Prometheus, prometheus_binary
from serve_support import ServeProcess, column_inputs, free_port, sample_rows, train_model

from release.config import Settings
from release.deploy import kubernetes as k8s
from release.deploy.judge import check_errors, check_latency
from release.deploy.measurements import Measurements, parse_outputs
from release.deploy.verdict import Sample
from release.serve.metrics import LATENCY_BUCKETS

NAME, VERSION = "model", "v1.0.0"
# Mid-bucket (100-250 ms): the client's own overhead on a busy machine stays in the bucket.
LATENCY_MS = 150.0
CLIENTS = 8
ERROR_RATE = 0.2
BAD_EVERY = 10  # every 10th request is malformed JSON: a 400, the client's fault
REQUESTS = 120
_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")
_QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.]+)\s*,")


def analysis_queries(out_dir: Path, args: dict[str, str]) -> dict[str, str]:
    """Metric name -> PromQL of the rendered AnalysisTemplate, its ``{{args.X}}`` filled from
    ``args``, the template's own defaults, or (for any other ``*version*`` argument) the
    served version; an argument with none of these fails the test."""
    docs = k8s.load_manifests(out_dir)
    templates = [d for d in docs if d.get("kind") == "AnalysisTemplate"]
    assert templates, "no AnalysisTemplate rendered"
    queries: dict[str, str] = {}
    for template in templates:
        spec = template["spec"]
        values = {a["name"]: str(a["value"]) for a in spec.get("args", []) if "value" in a}
        values.update(args)
        for metric in spec["metrics"]:
            prometheus = (metric.get("provider") or {}).get("prometheus")
            if not prometheus:
                continue  # a Job or web metric (e.g. a smoke test) has no PromQL

            def fill(match: re.Match[str], metric: Any = metric) -> str:
                key = match[1]
                if key not in values and "version" in key:
                    return VERSION  # stable/baseline versions: the one server measured here
                assert key in values, f"{metric['name']}: no value for args.{key}"
                return values[key]

            queries[metric["name"]] = _ARG.sub(fill, prometheus["query"])
    return queries


def _bucket(seconds: float) -> tuple[float, float]:
    edges = [0.0, *LATENCY_BUCKETS, math.inf]
    for low, high in itertools.pairwise(edges):
        if low < seconds <= high:
            return low, high
    return edges[-2], math.inf


def _one(target: str, body: bytes) -> tuple[int, bytes, float]:
    request = urllib.request.Request(
        target, data=body, headers={"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, answer = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read()
    return status, answer, (time.perf_counter() - start) * 1000


def _drive(url: str) -> Measurements:
    """Send the known traffic from a few clients; record each answer as the router would."""
    rows = sample_rows(REQUESTS, seed=4)
    bodies = [
        b"{not json"
        if i % BAD_EVERY == BAD_EVERY - 1
        else json.dumps({"inputs": column_inputs(rows.iloc[i : i + 1])}).encode()
        for i in range(REQUESTS)
    ]
    target = f"{url}/v2/models/{NAME}/infer"
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(lambda body: _one(target, body), bodies))
    measured = Measurements()
    for status, answer, latency_ms in answers:
        ok = status < 500
        outputs = parse_outputs(answer) if ok and status < 400 else None
        measured.add(ok=ok, status=status, latency_ms=latency_ms, outputs=outputs, labels=None)
    return measured


@pytest.fixture
def served(tmp_path):
    prometheus_binary()  # skip (or fail under CI) before starting anything
    model = tmp_path / "model"
    meta = train_model(model)
    port = free_port()
    # Prometheus starts while the server loads; it scrapes a target that comes up later.
    prom = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{port}"], interval=1.0, wait=False)
    server = ServeProcess(
        [
            "--model", str(model), "--port", str(port), "--name", NAME,
            "--version-label", VERSION, "--chaos", f"errors={ERROR_RATE}",
            "--chaos", f"latency={LATENCY_MS:g}", "--chaos", "seed=7",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        assert server.url is not None, server.lines
        prom.wait_ready()
        yield server, prom, meta
    finally:
        prom.stop()
        server.stop()


@pytest.mark.slow
def test_analysis_promql_gives_the_judges_numbers(served, tmp_path):
    server, prom, meta = served
    selector = f'{{model="{NAME}",version="{VERSION}"}}'
    # Before any request the series are there, at zero (an idle server is not "no data").
    assert prom.wait_for(f"sum(model_requests_total{selector})", lambda v: v == 0) == 0
    assert prom.value(f"model_request_duration_seconds_count{selector}") == 0

    measured = _drive(server.url)
    total = measured.requests
    prom.wait_for(f"sum(model_requests_total{selector})", lambda v: v == total)
    time.sleep(1.2)  # one more scrape at the same totals: rates are not cut off at the end
    # Evaluated at the last scrape, Prometheus does not extrapolate a counter that started
    # at zero in the window, so increase() is the count itself.
    at = prom.value(f"max(timestamp(model_requests_total{selector}))")

    sample = Sample.from_dict(measured.to_dict())
    judge = Settings().release.deploy.judge
    errors = check_errors(sample, sample, judge).numbers
    latency = check_latency(sample, sample, judge).numbers
    error_rate = errors["candidate_rate"]
    assert 0.08 < error_rate < 0.35  # the chaos rule did inject errors
    # a malformed request may draw an injected 500 first (chaos acts before decoding)
    assert 0 < measured.client_errors <= REQUESTS // BAD_EVERY

    out = tmp_path / "k8s"
    k8s.render_manifests(
        cluster_settings(),
        name=NAME,
        stage="prod",
        version=VERSION,
        tag=f"{NAME}@{VERSION}",
        model_sha256=meta["sha256"],
        strategy="canary",
        out_dir=out,
    )
    queries = analysis_queries(out, {"version": VERSION})
    assert queries, "the AnalysisTemplate has no Prometheus metric"
    compared: dict[str, tuple[float, float]] = {}
    kinds: set[str] = set()
    for name, query in queries.items():
        expected = _judge_value(query, total, error_rate, measured.latencies_ms, latency)
        if expected is None:
            # a metric the judge has no number for (e.g. drift between two versions, with
            # only one running here): not compared
            continue
        value = prom.value(query, at=at)
        assert value is not None, f"{name}: empty result for {query}"
        kind, want = expected
        kinds.add(kind)
        if kind == "latency":
            low, high = _bucket(want)
            # The histogram knows the bucket, the judge the exact value: same bucket.
            assert low <= value <= high, f"{name}: {value} s, judge {want:.4f} s ({query})"
        elif kind == "count":
            assert abs(value - want) <= max(2.0, 0.05 * want), f"{name}: {value} vs {want}"
        else:
            assert abs(value - want) <= 0.02, f"{name}: {value} vs judge {want} ({query})"
        compared[name] = (value, want)
    assert {"rate", "latency"} <= kinds, f"no error-rate or latency metric in {queries}"
    assert compared


def _judge_value(
    query: str,
    total: int,
    error_rate: float,
    latencies_ms: list[float],
    latency: dict[str, Any],
) -> tuple[str, float] | None:
    """What the judge says for the quantity ``query`` measures, by what it reads."""
    from release.deploy.judge_signals import _quantile

    if "model_request_duration_seconds" in query:
        match = _QUANTILE.search(query)
        if match is None:
            return None
        q = float(match[1])
        if q == 0.5:
            return "latency", latency["candidate_p50_ms"] / 1000
        return "latency", _quantile(latencies_ms, q) / 1000
    if "model_requests_total" not in query:
        return None
    if "/" in query and '"5.."' in query:
        success = '!~"5.."' in query
        return "rate", (1 - error_rate) if success else error_rate
    if "/" not in query:
        return "count", float(total)
    return None

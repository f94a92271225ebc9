"""What the rendered analyses need from the server: ``release check smoke`` (the
blue/green Job's command) against a real ``release serve``, and the ``model_prediction_score``
histogram the drift metric reads (binary: each answered row's positive-class probability)."""

from __future__ import annotations

import asyncio
import subprocess
import time

import httpx
import numpy as np
import pytest
from serve_support import RELEASE, ServeProcess, column_inputs, sample_rows, train_model

from release.deploy import kubernetes_analysis as analysis
from release.serve import metrics as serve_metrics
from release.serve.app import create_app
from release.serve.commands import build_server
from tests.kubernetes_support import by_kind, render, settings


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    train_model(out)
    return out


def scrape(model_dir, rows: int) -> tuple[str, np.ndarray]:
    server = build_server(str(model_dir), version_label="v1.2.3")
    app = create_app(server)

    async def main() -> tuple[str, np.ndarray]:
        async with server.lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                body = {"inputs": column_inputs(sample_rows(rows))}
                answer = await client.post("/v2/models/model/infer", json=body)
                assert answer.status_code == 200, answer.text
                out = {o["name"]: o["data"] for o in answer.json()["outputs"]}
                proba = np.asarray(out["probabilities"]).reshape(rows, -1)
                return (await client.get("/metrics")).text, proba

    return asyncio.run(main())


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in metrics")


def test_the_server_exports_the_prediction_histogram_the_drift_metric_reads(model_dir):
    exported = getattr(serve_metrics, "PREDICTION_SCORE", None)
    if exported is None:  # the histogram comes with the `deliv` part (#17, series from start)
        pytest.skip("release.serve.metrics has no PREDICTION_SCORE histogram yet")
    assert exported == analysis.PREDICTIONS  # the name the drift analysis reads
    text, proba = scrape(model_dir, 20)
    sel = {"model": "model", "version": "v1.2.3"}
    assert sample(text, f"{analysis.PREDICTIONS}_count", **sel) == 20
    positive = proba[:, 1]
    for edge in (0.5, 1.0):
        expected = int((positive <= edge).sum())
        assert sample(text, f"{analysis.PREDICTIONS}_bucket", le=str(edge), **sel) == expected
    assert sample(text, f"{analysis.PREDICTIONS}_sum", **sel) == pytest.approx(positive.sum())


def test_regression_models_render_no_drift_metric(tmp_path):
    conf = settings(
        {
            "data": {"task": "regression"},
            "train": {"estimator": "ridge"},
            "evaluate": {"primary_metric": "mae"},
        }
    )
    (template, *_) = by_kind(render(tmp_path, "canary", conf), "AnalysisTemplate")
    names = [m["name"] for m in template["spec"]["metrics"]]
    assert names == ["request-count", "success-rate", "latency-p99"]
    (classifier, *_) = by_kind(render(tmp_path / "c", "canary"), "AnalysisTemplate")
    assert "prediction-drift" in [m["name"] for m in classifier["spec"]["metrics"]]


def release_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RELEASE, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_release_check_smoke_sends_the_preview_its_traffic(tmp_path, model_dir):
    """The command the blue/green pre-promotion Job runs, against a real `release serve`."""
    good = ServeProcess(["--model", str(model_dir), "--port", "0"], cwd=tmp_path)
    bad = ServeProcess(
        ["--model", str(model_dir), "--port", "0", "--chaos", "errors=0.5", "--chaos", "seed=1"],
        cwd=tmp_path,
    )
    try:
        assert good.url and bad.url, (good.stderr(), bad.stderr())
        ok = release_cli("check", "smoke", "--url", good.url, "--name", "model", "--requests", "30")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == "smoke: 30 requests answered"
        text = httpx.get(f"{good.url}/metrics", trust_env=False).text
        assert sample(text, "model_requests_total", status="200") == 30  # measurable traffic
        began = time.monotonic()
        spread = ["--requests", "4", "--duration", "10"]
        ok = release_cli("check", "smoke", "--url", good.url, "--name", "model", *spread)
        assert ok.returncode == 0 and ok.stdout.strip() == "smoke: 4 requests answered"
        assert time.monotonic() - began >= 5  # two rounds, one every 5 s
        failed = release_cli("check", "smoke", "--url", bad.url, "--name", "model")
        assert failed.returncode == 1
        (line,) = failed.stderr.strip().splitlines()
        assert line.startswith("Error: smoke: ") and "requests failed" in line
        refused = release_cli("check", "smoke", "--url", "file:///etc", "--name", "model")
        assert refused.returncode == 2 and "is not an http(s) URL" in refused.stderr
    finally:
        assert good.stop() == 0
        bad.stop()

"""The server's series exist from the start (at zero), and the prediction score histogram
counts what the canary judge bins."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from serve_support import column_inputs, sample_rows, train_model

from release.deploy.measurements import parse_outputs
from release.serve.app import create_app
from release.serve.commands import build_server
from release.serve.metrics import SCORE_BUCKETS, STATUSES, ServingMetrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"model": "m", "version": "v1", **labels}.items())))]


def test_every_series_is_zero_before_the_first_request():
    samples = _samples(ServingMetrics("m", "v1", process=False).render().decode())
    for status in STATUSES:
        assert _value(samples, "model_requests_total", status=str(status)) == 0
    assert _value(samples, "model_request_duration_seconds_count") == 0
    assert _value(samples, "model_request_duration_seconds_bucket", le="+Inf") == 0
    assert _value(samples, "model_batch_size_count") == 0
    assert _value(samples, "model_in_flight_requests") == 0
    for edge in SCORE_BUCKETS:
        assert _value(samples, "model_prediction_score_bucket", le=str(float(edge))) == 0
    assert _value(samples, "model_prediction_score_count") == 0
    regression = _samples(
        ServingMetrics("m", "v1", process=False, classifier=False).render().decode()
    )
    assert not any(name.startswith("model_prediction_score") for name, _ in regression)


def test_scores_are_the_judges_scores(tmp_path):
    train_model(tmp_path / "m")
    server = build_server(str(tmp_path / "m"), name="m", version_label="v1")
    app = create_app(server)
    df = sample_rows(40, seed=3)

    async def main() -> tuple[list[float], str]:
        scores: list[float] = []
        async with server.lifespan(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
                for i in range(0, 40, 8):
                    answer = await client.post(
                        "/v2/models/m/infer", json={"inputs": column_inputs(df.iloc[i : i + 8])}
                    )
                    outputs = parse_outputs(answer.content)
                    assert outputs is not None
                    scores.extend(outputs.scores)
                text = (await client.get("/metrics")).text
        return scores, text

    scores, text = asyncio.run(main())
    samples = _samples(text)
    assert _value(samples, "model_prediction_score_count") == 40
    assert abs(_value(samples, "model_prediction_score_sum") - sum(scores)) < 1e-6
    for edge in SCORE_BUCKETS:
        want = int(np.sum(np.asarray(scores) <= edge))
        assert _value(samples, "model_prediction_score_bucket", le=str(float(edge))) == want
    assert _value(samples, "model_requests_total", status="200") == 5
    assert _value(samples, "model_requests_total", status="500") == 0

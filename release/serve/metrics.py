"""Prometheus metrics of one model server: the four golden signals, per model and version.

The names are a contract read by monitoring and by Kubernetes analysis templates:
``model_requests_total{model,version,status}``, ``model_request_duration_seconds``
(histogram), ``model_in_flight_requests`` (gauge), ``model_batch_size`` (histogram) and
``model_unknown_categories_total{model,version,column}`` (counter), for classifiers
``model_prediction_score`` (histogram of the score the canary judge bins: the positive
class's probability, or the top probability; deciles), plus prometheus-client's
``process_*`` collector. Each server owns its own registry so that two servers in one
process (tests) never share counters.

Every series a query or alert reads exists from the start, at zero: the request counter
for each status the server answers (:data:`STATUSES`), the latency, batch and score
histograms. An idle healthy server then reads "0 requests", never "no data" (an empty
Prometheus result, which Argo Rollouts treats as an error, not as inconclusive).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

REQUESTS = "model_requests_total"
DURATION = "model_request_duration_seconds"
IN_FLIGHT = "model_in_flight_requests"
BATCH_SIZE = "model_batch_size"
UNKNOWN_CATEGORIES = "model_unknown_categories_total"
PREDICTION_SCORE = "model_prediction_score"
# The statuses the inference handler answers: 2xx success, 4xx the client's mistakes
# (400 bad input, 404 unknown model, 413 too large), 5xx the server's (500, 503).
STATUSES = (200, 400, 404, 413, 500, 503)
# Deciles, as the canary judge bins scores (release.deploy.judge.PROBABILITY_BINS).
SCORE_BUCKETS = tuple(round(i / 10, 1) for i in range(1, 11))
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Latency buckets from 1 ms to 10 s: a healthy server answers in a few ms, a faulty one
# (injected delay, overload) in hundreds.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServingMetrics:
    """The metrics of one served model, with label children cached for speed."""

    def __init__(
        self, model: str, version: str, *, process: bool = True, classifier: bool = True
    ) -> None:
        self.model = model
        self.version = version
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version")
        self._requests = Counter(
            REQUESTS,
            "Inference requests answered, by HTTP status code.",
            (*labels, "status"),
            registry=self.registry,
        )
        self._duration = Histogram(
            DURATION,
            "Inference request latency in seconds, from arrival to answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._in_flight = Gauge(
            IN_FLIGHT, "Inference requests being served now.", labels, registry=self.registry
        )
        self._batch = Histogram(
            BATCH_SIZE,
            "Rows per prediction call (micro-batch size).",
            labels,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._unknown = Counter(
            UNKNOWN_CATEGORIES,
            "Categorical values the model never saw, served under serve.unknown_category: warn.",
            (*labels, "column"),
            registry=self.registry,
        )
        if process:
            ProcessCollector(registry=self.registry)
        self._duration_child = self._duration.labels(model, version)
        self.in_flight = self._in_flight.labels(model, version)
        self._batch_child = self._batch.labels(model, version)
        self._status_children: dict[int, Counter] = {
            status: self._requests.labels(model, version, str(status)) for status in STATUSES
        }
        self._score_child: Histogram | None = None
        if classifier:
            self._score_child = Histogram(
                PREDICTION_SCORE,
                "Score of each predicted row: the positive class's probability (binary) or "
                "the top probability.",
                labels,
                buckets=SCORE_BUCKETS,
                registry=self.registry,
            ).labels(model, version)

    def observe_request(self, status: int, seconds: float) -> None:
        """Count one answered inference request and its latency."""
        child = self._status_children.get(status)
        if child is None:
            child = self._requests.labels(self.model, self.version, str(status))
            self._status_children[status] = child
        child.inc()
        self._duration_child.observe(seconds)

    def observe_unknown(self, counts: dict[str, int]) -> None:
        """Count unknown categorical values per column (the schema bounds the labels)."""
        for column, count in counts.items():
            self._unknown.labels(self.model, self.version, column).inc(count)

    def observe_scores(self, proba: Any) -> None:
        """Record each row's score from a (rows, classes) probability array."""
        child = self._score_child
        if child is None or proba is None or getattr(proba, "ndim", 0) != 2 or not len(proba):
            return
        scores = proba[:, -1] if proba.shape[1] == 2 else proba.max(axis=1)
        for score in scores.tolist():
            child.observe(score)

    def observe_batch(self, rows: int) -> None:
        """Record the number of rows in one prediction call."""
        self._batch_child.observe(rows)

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)

"""What the router measures: per-variant windows, shadow comparisons, parsed outputs,
and each upstream's health.

Pure data and parsing, shared by the router process (which fills the windows) and the
controller (which reads them back as JSON through ``GET /_router/stats``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from release.deploy.judge import norm_label as _norm

MAX_SAMPLES = 50_000
FAILED_CHECKS = 2  # failed health checks in a row that make an upstream unhealthy
FAILED_INFERENCES = 5  # failed inferences in a row that make an upstream unhealthy
PREDICTION_NAMES = frozenset(
    {"predict", "prediction", "predictions", "label", "labels", "class", "classes", "output-0"}
)


@dataclass
class Measurements:
    """One variant's window: counts, latencies and outputs (bounded lists)."""

    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    predictions: list[Any] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    abs_errors: list[float] = field(default_factory=list)

    def add(
        self,
        *,
        ok: bool,
        status: int,
        latency_ms: float,
        outputs: Outputs | None,
        labels: list[Any] | None,
    ) -> None:
        """Record one request."""
        self.requests += 1
        if not ok:
            self.errors += 1
            return
        if 400 <= status < 500:
            self.client_errors += 1
            return
        if len(self.latencies_ms) < MAX_SAMPLES:
            self.latencies_ms.append(latency_ms)
        if outputs is None or len(self.predictions) >= MAX_SAMPLES:
            return
        self.predictions.extend(outputs.predictions)
        self.scores.extend(outputs.scores)
        if labels is not None and len(labels) == len(outputs.predictions):
            self.correct.extend(
                _norm(p) == _norm(y) for p, y in zip(outputs.predictions, labels, strict=True)
            )
            # Regression is judged by its error, not by exact matches (judge.check_error).
            self.abs_errors.extend(
                abs(float(p) - float(y))
                for p, y in zip(outputs.predictions, labels, strict=True)
                if _real(p) and _real(y)
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, read by :class:`release.deploy.judge.Sample`."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "client_errors": self.client_errors,
            "latencies_ms": self.latencies_ms,
            "predictions": self.predictions,
            "scores": self.scores,
            "correct": self.correct,
            "abs_errors": self.abs_errors,
        }


@dataclass
class ShadowComparison:
    """Mirrored answers compared row by row with the baseline's."""

    compared: int = 0
    agree: int = 0
    flips: dict[str, int] = field(default_factory=dict)
    max_proba_diff: float = 0.0
    sum_proba_diff: float = 0.0
    proba_rows: int = 0
    value_diffs: list[float] = field(default_factory=list)

    def add(self, base: Outputs, cand: Outputs) -> None:
        """Compare one request's answers."""
        if len(base.predictions) != len(cand.predictions):
            return
        for b, c in zip(base.predictions, cand.predictions, strict=True):
            self.compared += 1
            if _real(b) and _real(c) and len(self.value_diffs) < MAX_SAMPLES:
                self.value_diffs.append(abs(float(c) - float(b)))
            if _norm(b) == _norm(c):
                self.agree += 1
            else:
                key = f"{_norm(b)}->{_norm(c)}"
                self.flips[key] = self.flips.get(key, 0) + 1
        if base.probabilities and cand.probabilities:
            for pb, pc in zip(base.probabilities, cand.probabilities, strict=False):
                if len(pb) != len(pc):
                    continue
                diff = max((abs(x - y) for x, y in zip(pb, pc, strict=True)), default=0.0)
                self.max_proba_diff = max(self.max_proba_diff, diff)
                self.sum_proba_diff += diff
                self.proba_rows += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, read by :class:`release.deploy.judge.ShadowStats`."""
        return {
            "compared": self.compared,
            "agree": self.agree,
            "agreement": self.agree / self.compared if self.compared else None,
            "flips": dict(self.flips),
            "max_proba_diff": self.max_proba_diff,
            "mean_proba_diff": self.sum_proba_diff / self.proba_rows if self.proba_rows else 0.0,
            "value_diffs": self.value_diffs,
        }


def _real(value: Any) -> bool:
    """A finite JSON number (not a bool): a regression output or label."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class Window:
    """Everything measured since the last window start."""

    started: float = field(default_factory=time.time)
    baseline: Measurements = field(default_factory=Measurements)
    candidate: Measurements = field(default_factory=Measurements)
    shadow: ShadowComparison = field(default_factory=ShadowComparison)
    retries: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "started": self.started,
            "seconds": time.time() - self.started,
            "baseline": self.baseline.to_dict(),
            "candidate": self.candidate.to_dict(),
            "shadow": self.shadow.to_dict(),
            "retries": self.retries,
            "failed": self.failed,
        }


# --------------------------------------------------------------------------- outputs
@dataclass
class Outputs:
    """Predictions parsed from a V2 inference response."""

    predictions: list[Any]
    probabilities: list[list[float]]
    scores: list[float]


def parse_outputs(body: bytes) -> Outputs | None:
    """Predictions, per-row probabilities and one score per row from a V2 response.

    The score is the last class's probability (binary) or the top probability; it is
    what the judge bins to compare prediction distributions.
    """
    try:
        data = json.loads(body)
        outputs = data["outputs"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(outputs, list):
        return None
    preds: list[Any] | None = None
    probas: list[list[float]] = []
    per_class: list[list[float]] = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        name = str(out.get("name", "")).lower()
        values = out.get("data")
        if not isinstance(values, list):
            continue
        shape = out.get("shape") or [len(values)]
        if name in PREDICTION_NAMES and preds is None:
            preds = list(values)
        elif "prob" in name:
            if len(shape) == 2 and shape[1] and len(values) == shape[0] * shape[1]:
                width = int(shape[1])
                probas = [
                    [float(x) for x in values[i : i + width]] for i in range(0, len(values), width)
                ]
            elif values and isinstance(values[0], list):
                probas = [[float(x) for x in row] for row in values]
            else:
                per_class.append([float(x) for x in values])
    if preds is None:
        return None
    if not probas and per_class and all(len(col) == len(preds) for col in per_class):
        probas = [list(row) for row in zip(*per_class, strict=True)]
    if probas and len(probas) != len(preds):
        probas = []
    scores = [row[-1] if len(row) == 2 else max(row) for row in probas if row]
    return Outputs(preds, probas, scores)


def take_labels(body: bytes) -> tuple[bytes, list[Any] | None]:
    """Remove ``parameters.labels`` from a V2 request; return the body to forward and labels."""
    if b'"labels"' not in body:
        return body, None
    try:
        data = json.loads(body)
    except ValueError:
        return body, None
    params = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(params, dict) or "labels" not in params:
        return body, None
    labels = params.pop("labels")
    if not params:
        data.pop("parameters")
    labels_list = labels if isinstance(labels, list) else [labels]
    return json.dumps(data).encode(), labels_list


@dataclass
class Health:
    """What the router knows about one upstream's health."""

    failed_checks: int = 0
    failed_inferences: int = 0
    last_error: str = ""
    checked: float = 0.0

    @property
    def healthy(self) -> bool:
        """Healthy until checks or inferences fail repeatedly."""
        return self.failed_checks < FAILED_CHECKS and self.failed_inferences < FAILED_INFERENCES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "healthy": self.healthy,
            "failed_checks": self.failed_checks,
            "failed_inferences": self.failed_inferences,
            "last_error": self.last_error,
            "checked": self.checked,
        }

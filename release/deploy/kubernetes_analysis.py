"""Argo Rollouts analyses that can decide: metrics, their timing, and the steps using them.

Argo's rules (``assessMetricStatus`` in argo-rollouts analysis/analysis.go): a metric is
Failed once failed measurements exceed ``failureLimit`` (default 0), Inconclusive once
inconclusive ones exceed ``inconclusiveLimit``, Error once consecutive errors exceed
``consecutiveErrorLimit``, and Successful when ``count`` measurements are taken
otherwise. A measurement is Inconclusive when both conditions are set and neither holds.
So every metric here sets both conditions, each guarded against an empty or NaN result
(no traffic, no baseline): such a measurement is Inconclusive, which pauses the Rollout,
never a pass and never an evaluation error. Each step measures ``count`` >= 3 times,
``interval`` apart, every measurement over a window equal to the interval, starting one
interval into the step so the first window holds only the step's own traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# The server's own series; the drift metric compares prediction histograms (scores).
from release.serve.metrics import DURATION as DURATION
from release.serve.metrics import IN_FLIGHT as IN_FLIGHT
from release.serve.metrics import REQUESTS as REQUESTS

# The score histogram `release serve` exports for classifiers (deliv's
# release.serve.metrics.PREDICTION_SCORE: the positive class's probability, or the top one).
PREDICTIONS = "model_prediction_score"

MIN_COUNT = 3
MAX_ANALYSES = 99  # template names end in -analysis-N


@dataclass(frozen=True)
class Timing:
    """When one analysis measures: ``count`` times, ``interval`` seconds apart, each
    measurement over the last ``interval`` seconds, needing ``min_requests`` in all."""

    interval: int
    count: int
    min_requests: int
    # Seconds before the first window opens (time for a traffic Job's pod to start).
    lead: int = 0

    @property
    def seconds(self) -> int:
        """How long the analysis takes (initial delay plus the measurements)."""
        return self.lead + self.interval * self.count

    @property
    def initial_delay(self) -> str:
        """The first measurement ends the first window, one interval after the lead."""
        return f"{self.lead + self.interval}s"

    @property
    def window(self) -> str:
        """The PromQL range of one measurement: the interval, so windows tile the step."""
        return f"{self.interval}s"

    @property
    def per_window(self) -> int:
        """Requests each window must see (the step's minimum shared by its windows)."""
        return max(1, math.ceil(self.min_requests / self.count))


def timing(duration: float, min_requests: int, scrape_interval: int) -> Timing:
    """Interval and count for a step lasting ``duration`` seconds.

    A window needs at least two scrapes for ``rate()``, so the interval is at least twice
    the scrape interval; there are at least three measurements, so a short step lasts
    longer than asked rather than deciding on one reading. ``min_requests`` is the
    step's total; each window must see its share.
    """
    floor = 2 * max(1, int(scrape_interval))
    interval = max(floor, math.ceil(max(0.0, duration) / MIN_COUNT))
    count = max(MIN_COUNT, int(duration // interval))
    return Timing(interval=interval, count=count, min_requests=max(1, int(min_requests)))


def _guard(test: str) -> str:
    # `result` is a vector: empty when nothing matched, NaN when a ratio divided by zero.
    return f"len(result) > 0 && !isNaN(result[0]) && {test}"


def metrics(
    model: str,
    t: Timing,
    *,
    min_success_rate: float,
    max_p99_seconds: float,
    max_prediction_ks: float,
    drift: bool = True,
) -> list[dict[str, Any]]:
    """The metrics of one analysis on the server's own series, for ``{{args.version}}``
    (the canary, preview or new active version) against every other version."""
    sel = f'model="{promql_string(model)}",version="{{{{args.version}}}}"'
    base = f'model="{promql_string(model)}",version!="{{{{args.version}}}}"'
    window = f"[{t.window}]"
    total = f"sum(rate({REQUESTS}{{{sel}}}{window}))"
    ok = f'sum(rate({REQUESTS}{{{sel},status!~"5.."}}{window}))'
    p99 = f"histogram_quantile(0.99, sum by (le) (rate({DURATION}_bucket{{{sel}}}{window})))"
    found = [
        _metric(
            "request-count",
            f"sum(increase({REQUESTS}{{{sel}}}{window}))",
            # Too few requests: neither condition holds, the measurement is Inconclusive.
            success=_guard(f"result[0] >= {t.per_window}"),
            failure="false",
            failure_limit=0,
        ),
        _metric(
            "success-rate",
            f"{ok} / {total}",
            success=_guard(f"result[0] >= {min_success_rate}"),
            failure=_guard(f"result[0] < {min_success_rate}"),
            failure_limit=0,
        ),
        _metric(
            "latency-p99",
            p99,
            success=_guard(f"result[0] <= {max_p99_seconds}"),
            failure=_guard(f"result[0] > {max_p99_seconds}"),
            failure_limit=0,
        ),
        _metric(
            "prediction-drift",
            _ks_distance(sel, base, window),
            success=_guard(f"result[0] <= {max_prediction_ks}"),
            failure=_guard(f"result[0] > {max_prediction_ks}"),
            # A histogram distance over one short window is noisy: two bad readings fail.
            failure_limit=1,
        ),
    ]
    # The server scores classifiers only; a regression model has no prediction histogram.
    return found if drift else found[:-1]


def _ks_distance(sel: str, base: str, window: str) -> str:
    """Kolmogorov-Smirnov distance of two binned distributions: the largest gap between
    their cumulative shares, bucket by bucket (``le``). NaN when either side is empty."""

    def cdf(selector: str) -> str:
        return (
            f"sum by (le) (rate({PREDICTIONS}_bucket{{{selector}}}{window})) / scalar("
            f"sum(rate({PREDICTIONS}_count{{{selector}}}{window})))"
        )

    return f"max(abs({cdf(sel)} - {cdf(base)}))"


def _metric(
    name: str, query: str, *, success: str, failure: str, failure_limit: int
) -> dict[str, Any]:
    return {
        "name": name,
        "query": query,
        "successCondition": success,
        "failureCondition": failure,
        "failureLimit": failure_limit,
        # One empty or low-traffic reading pauses the Rollout (Argo's Inconclusive).
        "inconclusiveLimit": 0,
        "consecutiveErrorLimit": 2,
    }


def promql_string(value: str) -> str:
    """Escape a value for a double-quoted PromQL label matcher."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def analysis_ref(template: str, version: str) -> dict[str, Any]:
    """An ``analysis`` block naming the template and passing the version it judges."""
    return {
        "templates": [{"templateName": template}],
        "args": [{"name": "version", "value": version}],
    }


MIRROR_ROUTE = "mirror"


def canary_steps(weights: list[int], version: str, names: list[str]) -> list[dict[str, Any]]:
    """setWeight, then an inline analysis that measures through the step, per step."""
    steps: list[dict[str, Any]] = []
    for weight, template in zip(weights, names, strict=True):
        steps.append({"setWeight": int(weight)})
        steps.append({"analysis": analysis_ref(template, version)})
    return steps


def shadow_steps(percentage: float, version: str, template: str) -> list[dict[str, Any]]:
    """Shadow the Argo way: a canary pod, a mirror route with a percentage while the
    analysis runs, then the route removed (a setMirrorRoute with only its name)."""
    return [
        {"setCanaryScale": {"replicas": 1}},
        {
            "setMirrorRoute": {
                "name": MIRROR_ROUTE,
                "percentage": max(1, min(100, round(percentage))),
                "match": [{"path": {"prefix": "/"}}],
            }
        },
        {"analysis": analysis_ref(template, version)},
        {"setMirrorRoute": {"name": MIRROR_ROUTE}},
        {"setCanaryScale": {"matchTrafficWeight": True}},
    ]

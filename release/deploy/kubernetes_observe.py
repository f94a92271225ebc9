"""Observability files rendered beside the manifests: golden-signal alerts and a dashboard.

The PrometheusRule's alerts and the Grafana dashboard's panels use the same series as the
analyses (the server's own names, :mod:`release.deploy.kubernetes_analysis`) and the same
thresholds as ``monitor.signals``, so what pages someone is what a rollout is judged on.
The monitor job's drift result is read from ``release_monitor_drift_detected`` (a gauge the
scheduled ``release monitor drift`` run pushes, 1 when drift was found).
"""

from __future__ import annotations

from typing import Any

from release.deploy.kubernetes_analysis import (
    DURATION,
    IN_FLIGHT,
    PREDICTIONS,
    REQUESTS,
    promql_string,
)

DRIFT_RESULT = "release_monitor_drift_detected"
RULE_WINDOW = "5m"


def _selector(model: str) -> str:
    return f'model="{promql_string(model)}"'


def alert_rules(model: str, stage: str, signals: Any) -> list[dict[str, Any]]:
    """The rule groups (Prometheus rule-file format): one group of golden-signal alerts."""
    sel = _selector(model)
    w = RULE_WINDOW
    err = (
        f'sum by (version) (rate({REQUESTS}{{{sel},status=~"5.."}}[{w}])) / '
        f"sum by (version) (rate({REQUESTS}{{{sel}}}[{w}]))"
    )
    p99 = f"histogram_quantile(0.99, sum by (le, version) (rate({DURATION}_bucket{{{sel}}}[{w}])))"
    labels = {"model": model, "stage": stage}

    def alert(name: str, expr: str, severity: str, summary: str, for_: str = "5m") -> dict:
        return {
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": {**labels, "severity": severity},
            "annotations": {"summary": summary},
        }

    rules = [
        alert(
            "ModelHighErrorRate",
            f"({err}) > {signals.max_error_rate}",
            "critical",
            f"{model} {{{{ $labels.version }}}}: more than {signals.max_error_rate:.2%} of "
            "requests fail",
        ),
        alert(
            "ModelHighLatencyP99",
            f"({p99}) > {round(signals.max_p99_ms / 1000.0, 6)}",
            "warning",
            f"{model} {{{{ $labels.version }}}}: p99 latency above {signals.max_p99_ms:g} ms",
        ),
        alert(
            "ModelSaturated",
            f"max by (version) ({IN_FLIGHT}{{{sel}}}) > {signals.max_in_flight:g}",
            "warning",
            f"{model} {{{{ $labels.version }}}}: more than {signals.max_in_flight:g} "
            "requests in flight",
        ),
        alert(
            "ModelDriftDetected",
            f"max({DRIFT_RESULT}{{{sel}}}) > 0",
            "warning",
            f"{model}: the monitor job found drift in production data or predictions",
            for_="0m",
        ),
        alert(
            "ModelDriftResultMissing",
            f"absent_over_time({DRIFT_RESULT}{{{sel}}}[1d])",
            "info",
            f"{model}: no drift result from the monitor job for a day",
            for_="1h",
        ),
    ]
    return [{"name": f"release-{model}-{stage}.golden-signals", "rules": rules}]


def prometheus_rule(meta: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule groups as a Prometheus Operator PrometheusRule object."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta,
        "spec": {"groups": groups},
    }


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, y: int) -> dict:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * ((pid - 1) % 2), "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


def dashboard(model: str, stage: str, uid: str) -> dict[str, Any]:
    """A Grafana dashboard (JSON model, schemaVersion 39) of the four golden signals and
    the prediction distribution, per version, on the server's own series."""
    sel = _selector(model)
    w = "$__rate_interval"

    def rate(series: str, extra: str = "", by: str = "version") -> str:
        return f"sum by ({by}) (rate({series}{{{sel}{extra}}}[{w}]))"

    def p(q: float) -> str:
        return f"histogram_quantile({q}, {rate(DURATION + '_bucket', by='le, version')})"

    failed = rate(REQUESTS, ',status=~"5.."')
    errors = f"{failed} / {rate(REQUESTS)}"
    mean = f"{rate(PREDICTIONS + '_sum')} / {rate(PREDICTIONS + '_count')}"
    v = "{{version}}"
    panels = [
        _panel(
            1,
            "Requests per second",
            [(rate(REQUESTS, by="version, status"), f"{v} {{{{status}}}}")],
            "reqps",
            0,
        ),
        _panel(2, "Error rate", [(errors, v)], "percentunit", 0),
        _panel(3, "Latency p50 / p99", [(p(0.5), f"{v} p50"), (p(0.99), f"{v} p99")], "s", 8),
        _panel(
            4,
            "Requests in flight (saturation)",
            [(f"sum by (version) ({IN_FLIGHT}{{{sel}}})", v)],
            "short",
            8,
        ),
        _panel(5, "Mean prediction", [(mean, v)], "short", 16),
        _panel(
            6,
            "Drift found by the monitor job",
            [(f"max({DRIFT_RESULT}{{{sel}}})", "drift")],
            "short",
            16,
        ),
    ]
    return {
        "uid": uid,
        "title": f"release: {model} ({stage})",
        "description": "Rendered by release (app.kubernetes.io/managed-by: release)",
        "tags": ["release", "model-serving"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }

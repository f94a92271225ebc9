"""The observability files rendered beside the manifests, and the analyses' PromQL, checked
by Prometheus's own ``promtool``: rule syntax, alerts that fire on a 50% error rate and
stay quiet when healthy, the analysis queries' values on known series, and the dashboard's
structure and queries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from release.deploy import kubernetes_analysis as analysis
from tests.kubernetes_support import by_kind, render, settings

VERSION = "v1.2.3"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is required under CI=true (Debian package prometheus)")
        pytest.skip("promtool is not installed here")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("observe") / "canary"
    conf = settings({"monitor": {"signals": {"max_error_rate": 0.01, "max_p99_ms": 200}}})
    render(out.parent, "canary", conf, out_dir=out)
    return out


def rule_groups(rendered: Path) -> list[dict[str, Any]]:
    (rule,) = by_kind(
        list(yaml.safe_load_all((rendered / "prometheusrule.yaml").read_text())), "PrometheusRule"
    )
    return rule["spec"]["groups"]


def test_rendered_rule_groups_pass_promtool_check_rules(rendered, tmp_path):
    groups = rule_groups(rendered)
    alerts = {r["alert"] for g in groups for r in g["rules"]}
    assert {
        "ModelHighErrorRate",
        "ModelHighLatencyP99",
        "ModelSaturated",
        "ModelDriftDetected",
    } <= alerts
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    proc = run_promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"alert": "A", "expr": "sum("}]}]})
    )
    assert run_promtool("check", "rules", str(path)).returncode != 0  # promtool does check


def series(status_rates: dict[str, int], version: str = VERSION) -> list[dict[str, str]]:
    """Counters growing by ``rate * 15`` per 15 s scrape, one per status code."""
    return [
        {
            "series": f'model_requests_total{{model="model",version="{version}",status="{s}"}}',
            "values": f"0+{rate * 15}x40",
        }
        for s, rate in status_rates.items()
    ]


def prediction_series(version: str, below_half: int, total: int) -> list[dict[str, str]]:
    """A prediction histogram: ``below_half`` of ``total`` predictions per second <= 0.5."""
    sel = f'model="model",version="{version}"'
    return [
        {
            "series": f'model_prediction_score_bucket{{{sel},le="0.5"}}',
            "values": f"0+{below_half * 15}x40",
        },
        {
            "series": f'model_prediction_score_bucket{{{sel},le="+Inf"}}',
            "values": f"0+{total * 15}x40",
        },
        {"series": f"model_prediction_score_count{{{sel}}}", "values": f"0+{total * 15}x40"},
    ]


def test_alerts_fire_on_half_errors_and_stay_quiet_when_healthy(rendered, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(rendered)}))
    failing = series({"200": 2, "500": 2})
    healthy = series({"200": 4}, version="v1.2.2")
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": failing + healthy,
                "alert_rule_test": [
                    {
                        "eval_time": "8m",
                        "alertname": "ModelHighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "model": "model",
                                    "stage": "prod",
                                    "version": VERSION,
                                },
                                "exp_annotations": {
                                    "summary": f"model {VERSION}: more than 1.00% of requests fail"
                                },
                            }
                        ],
                    },
                    {"eval_time": "8m", "alertname": "ModelHighLatencyP99", "exp_alerts": []},
                ],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    proc = run_promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_analysis_queries_give_the_expected_values(rendered, tmp_path):
    """The AnalysisTemplate's PromQL (args filled in as Argo does) on known series."""
    (template, *_) = [
        d for d in yaml.safe_load_all((rendered / "analysistemplate.yaml").read_text()) if d
    ]
    queries = {
        m["name"]: m["provider"]["prometheus"]["query"].replace("{{args.version}}", VERSION)
        for m in template["spec"]["metrics"]
    }
    inputs = series({"200": 2, "500": 2}) + series({"200": 4}, version="v1.2.2")
    inputs += prediction_series(VERSION, below_half=10, total=20)
    inputs += prediction_series("v1.2.2", below_half=18, total=20)
    expected = {
        "success-rate": 0.5,  # the candidate's half errors; the baseline's do not count
        "request-count": 4 * 30,  # 4 requests/s over the 30 s window
        "prediction-drift": 0.4,  # CDF at 0.5: 0.5 against 0.9
    }
    tests = [
        {
            "expr": queries[name],
            "eval_time": "5m",
            "exp_samples": [{"labels": "{}", "value": value}],
        }
        for name, value in expected.items()
    ]
    rules = tmp_path / "empty.yaml"
    rules.write_text("groups: []\n")
    doc = {
        "rule_files": [str(rules)],
        "tests": [{"interval": "15s", "input_series": inputs, "promql_expr_test": tests}],
    }
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = run_promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


# The parts of Grafana's dashboard JSON model (schemaVersion 39) this renderer relies on.
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["uid", "title", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "uid": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,40}$"},
        "title": {"type": "string", "minLength": 1},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "time": {"type": "object", "required": ["from", "to"]},
        "templating": {
            "type": "object",
            "properties": {"list": {"type": "array", "items": {"required": ["name", "type"]}}},
        },
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
                "properties": {
                    "id": {"type": "integer"},
                    "type": {"enum": ["timeseries", "stat", "gauge", "table"]},
                    "gridPos": {
                        "type": "object",
                        "required": ["h", "w", "x", "y"],
                        "properties": {
                            "w": {"type": "integer", "minimum": 1, "maximum": 24},
                            "x": {"type": "integer", "minimum": 0, "maximum": 23},
                        },
                    },
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "required": ["refId", "expr"]},
                    },
                },
            },
        },
    },
}


def test_the_dashboard_is_a_grafana_model_on_the_same_series(rendered, tmp_path):
    board = json.loads((rendered / "dashboard.json").read_text())
    jsonschema.validate(board, DASHBOARD_SCHEMA)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"]["uid"] == "${datasource}"
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    text = " ".join(exprs)
    for name in (analysis.REQUESTS, analysis.DURATION + "_bucket", analysis.IN_FLIGHT):
        assert name + "{" in text
    assert 'model="model"' in text
    # Every panel query is valid PromQL: promtool checks them as recording rules.
    rules = [
        {"record": f"dashboard:panel{i}", "expr": e.replace("$__rate_interval", "1m")}
        for i, e in enumerate(exprs)
    ]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    proc = run_promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr

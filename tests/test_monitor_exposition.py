"""`release monitor drift --prom-file`: the drift result as Prometheus series that
Prometheus's own promtool accepts, and that fire the rendered PrometheusRule's drift alert."""

from __future__ import annotations

import yaml
from test_kubernetes_observe import rendered, rule_groups, run_promtool  # noqa: F401 (fixture)
from test_monitor_cli import project, run  # noqa: F401 (fixture)

from release.deploy.kubernetes_observe import DRIFT_RESULT
from release.monitor.exposition import DRIFT_DETECTED


def _series(text: str, name: str) -> tuple[str, float]:
    (line,) = [x for x in text.splitlines() if x.startswith(name + "{")]
    labels, value = line.rsplit(" ", 1)
    return labels, float(value)


def test_drift_result_is_valid_exposition_and_fires_the_rendered_alert(
    project,  # noqa: F811
    rendered,  # noqa: F811
    tmp_path,
):
    assert DRIFT_DETECTED == DRIFT_RESULT  # the series the alert and the dashboard read
    calm = run(["drift", "--current", "ok.parquet", "--prom-file", "calm.prom"], project)
    assert calm.returncode == 0, calm.stderr
    res = run(
        ["drift", "--current", "drifted.csv", "--prom-file", "out/drift.prom"],
        project,
    )
    text = (project / "out" / "drift.prom").read_text()
    assert res.returncode == 1, (
        res.stderr
    )  # the exit code CI acts on is unchanged by the extra file
    checked = run_promtool_stdin(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    labels, value = _series(text, DRIFT_DETECTED)
    assert value == 1.0 and 'model="model"' in labels
    assert _series((project / "calm.prom").read_text(), DRIFT_DETECTED)[1] == 0.0

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups(rendered)}))
    test = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": labels.replace(DRIFT_DETECTED, DRIFT_RESULT), "values": "1x10"}
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "ModelDriftDetected",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "model": "model",
                                    "stage": "prod",
                                },
                                "exp_annotations": {
                                    "summary": "model: the monitor job found drift in production"
                                    " data or predictions"
                                },
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    proc = run_promtool("test", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def run_promtool_stdin(text: str):
    import subprocess

    from test_kubernetes_observe import promtool

    return subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )

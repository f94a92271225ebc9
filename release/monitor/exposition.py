"""The drift result as Prometheus series, for the alerts rendered beside the manifests.

``release monitor drift --prom-file PATH`` writes the text exposition format, which
node_exporter's textfile collector reads from a folder and a Pushgateway accepts as it is
(``curl --data-binary @PATH $PUSHGATEWAY/metrics/job/release-monitor``). The names are the
ones the PrometheusRule and the dashboard read (:mod:`release.deploy.kubernetes_observe`).
"""

from __future__ import annotations

import time
from pathlib import Path

from release.fsio import write_text
from release.monitor.result import DriftReport

DRIFT_DETECTED = "release_monitor_drift_detected"
DRIFT_SHARE = "release_monitor_drift_share"
LAST_RUN = "release_monitor_last_run_timestamp_seconds"


def _label(value: str) -> str:
    """A label value escaped as the exposition format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(report: DriftReport, model: str, stage: str | None, now: float | None = None) -> str:
    """The drift result of one run: detected (0/1), the drifted share, and when it ran."""
    labels = {"model": model, "stage": stage or "", "version": ""}
    if report.model is not None:
        labels["version"] = str(report.model.get("version") or "")
    text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    series = [
        (
            DRIFT_DETECTED,
            "gauge",
            "1 when the monitor job found drift.",
            int(report.drift_detected),
        ),
        (
            DRIFT_SHARE,
            "gauge",
            "Share of tested columns that drifted.",
            round(report.drift_share, 6),
        ),
        (LAST_RUN, "gauge", "Unix time of the monitor job's run.", round(now or time.time(), 3)),
    ]
    lines: list[str] = []
    for name, kind, help_text, value in series:
        lines += [
            f"# HELP {name} {help_text}",
            f"# TYPE {name} {kind}",
            f"{name}{{{text}}} {value}",
        ]
    return "\n".join(lines) + "\n"


def write_exposition(path: str | Path, report: DriftReport, model: str, stage: str | None) -> Path:
    """Write :func:`exposition` atomically (a textfile collector never reads half a file)."""
    out = Path(path)
    write_text(out, exposition(report, model, stage))
    return out

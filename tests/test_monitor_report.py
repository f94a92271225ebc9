"""Drift report rendering: numbers, escaping, overlay geometry, user templates."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from release.config import Settings
from release.monitor.drift import run_drift
from release.monitor.report import (
    fmt_number,
    md_cell,
    overlay_svg,
    render_html,
    render_markdown,
    summary_lines,
    write_reports,
)
from release.reference.profile import reference_from_frame


def report(shift=0.0):
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(["a", "b"], 3000)})
    cur = pd.DataFrame(
        {
            "x": rng.normal(shift, 1, 2000),
            "c": rng.choice(["a", "b"], 2000, p=[0.2, 0.8] if shift else None),
        }
    )
    s = Settings()
    return run_drift(reference_from_frame(ref, ["x", "c"]), cur, s.monitor.drift, s.evaluate)


def test_fmt_number_and_md_cell():
    assert fmt_number(None) == "-" and fmt_number(math.nan) == "-" and fmt_number(math.inf) == "inf"
    assert fmt_number(0.123456) == "0.1235" and fmt_number(3) == "3" and fmt_number(True) == "yes"
    assert fmt_number(1.5e-7) == "1.50e-07"
    assert md_cell("a|b\nc<d>") == "a\\|b c&lt;d&gt;"


def test_overlay_geometry_stays_inside_the_box():
    rep = report(shift=1.0)
    dists = [c.distribution for c in rep.columns if c.drifted]
    assert len(dists) == 2
    for dist in dists:
        svg = overlay_svg(dist)
        for bar in svg["bars"] + svg["cur_bars"]:
            assert 0 <= bar["x"] <= svg["width"] and svg["top"] - 0.01 <= bar["y"] <= svg["base"]
            assert bar["h"] >= 0 and bar["y"] + bar["h"] <= svg["base"] + 0.01
    numeric = next(d for d in dists if d["kind"] == "numeric")
    assert sum(numeric["reference"]) > 0.98 and sum(numeric["current"]) > 0.9


def test_html_is_self_contained_and_md_has_the_table(tmp_path):
    rep = report(shift=1.0)
    html = render_html(rep)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count("<svg") == 2
    md = render_markdown(rep)
    assert md.startswith("## Drift report: DRIFT")
    assert re.search(
        r"\| x \| numeric \| tested \| wasserstein \| [0-9.]+ \| 0\.1 \| \*\*yes\*\*", md
    )
    files = write_reports(rep, tmp_path / "out")
    assert sorted(p.name for p in files.values()) == ["drift.html", "drift.json", "drift.md"]
    assert summary_lines(rep)[0].startswith("DRIFT: 2 of 2 columns drifted")
    rep.model = {"source": "model@v1.0.0 (prod)", "version": "v1.0.0", "sha256": "ab" * 32}
    assert summary_lines(rep)[0] == f"model: model@v1.0.0 (prod), sha256 {'ab' * 32}"
    assert "model@v1.0.0 (prod)" in render_markdown(rep)


def test_user_template_folder(tmp_path):
    (tmp_path / "monitor").mkdir()
    (tmp_path / "monitor" / "drift.md").write_text("custom {{ verdict }} {{ r.rows_current }}\n")
    (tmp_path / "monitor" / "drift.html").write_text("<p>{{ r.current_source }}</p>\n")
    rep = report()
    rep.current_source = "<img src=x>"
    assert render_markdown(rep, tmp_path) == "custom no drift 2000\n"
    assert render_html(rep, tmp_path) == "<p>&lt;img src=x&gt;</p>\n"


def test_drift_result_contract_round_trips_and_reads_v1(tmp_path):
    import json

    from release.monitor.result import (
        SCHEMA_VERSION,
        DriftReport,
        read_drift_metrics,
        report_from_dict,
    )

    rep = report(shift=1.0)
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    back = DriftReport.from_dict(data)
    assert back.drifted_columns == rep.drifted_columns and back.drift_share == rep.drift_share
    assert [c.column for c in back.columns] == [c.column for c in rep.columns]
    v1 = {k: v for k, v in data.items() if k != "schema_version"}
    assert report_from_dict(v1).dataset_drift == rep.dataset_drift  # no version: v1
    try:
        report_from_dict({**data, "schema_version": SCHEMA_VERSION + 1})
    except ValueError as exc:
        assert "schema_version" in str(exc)
    else:
        raise AssertionError("a newer schema must not be read as this one")
    files = write_reports(rep, tmp_path)
    flat = json.loads(files["json"].read_text())
    assert flat["schema_version"] == SCHEMA_VERSION  # the one writer stamps it
    metrics = read_drift_metrics(flat)
    assert metrics is not None and metrics.dataset_drift and metrics.drifted_columns == 2
    old = read_drift_metrics({"drift_detected": 1, "drift_share": 0.5, "drifted_columns": 1})
    assert old is not None and old.schema_version == 1 and old.drift_share == 0.5
    assert read_drift_metrics(["not", "a", "dict"]) is None
    assert read_drift_metrics({"schema_version": 99}) is None

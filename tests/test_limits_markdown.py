"""Category values reach slices.md as text, never as HTML or table syntax."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.analysis.report import render_markdown
from release.markdown import md_cell

HOSTILE = [
    ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
    ("a|b", "a\\|b"),
    ("[click](javascript:alert(1))", "\\[click\\](javascript:alert(1))"),
    ("two\nlines", "two lines"),
    ("&lt;", "&amp;lt;"),
    ("`code`", "\\`code\\`"),
]


@pytest.mark.parametrize(("value", "expected"), HOSTILE)
def test_md_cell_makes_values_literal(value: str, expected: str) -> None:
    assert md_cell(value) == expected


def _slice(name: str) -> dict:
    return {
        "name": name,
        "hlp": None,
        "metric": 0.8,
        "share": 0.5,
        "potential_impact": None,
        "rank": None,
        "rows": 100,
        "ci_low": None,
        "ci_high": None,
        "small": False,
        "gap": 0.0,
    }


def test_slices_md_escapes_category_values() -> None:
    result = {
        "primary_metric": "accuracy",
        "higher_is_better": True,
        "overall": {"metric": 0.8, "ci_low": None, "ci_high": None, "rows": 200},
        "slices": [_slice(f"region={value}") for value, _ in HOSTILE],
    }
    text = render_markdown(result)
    assert "<script" not in text and "<img" not in text
    for _, expected in HOSTILE:
        assert f"| region={expected} |" in text
    rows = [line for line in text.splitlines() if line.startswith("| region=")]
    assert len(rows) == len(HOSTILE)
    assert all(line.count(" | ") == 8 for line in rows)  # no cell broke out of its column


# ------------------------------------------------- the card and a monitor report
RAW_HTML = ("<script", "<img", "<a ", "</script")


def _hostile_card(card: dict) -> dict:
    """The card with hostile category values and column names wherever data reaches it."""
    evil = [value for value, _ in HOSTILE]
    card = json.loads(json.dumps(card))
    card["factors"]["relevant"] = evil
    card["factors"]["protected"] = evil[:2]
    card["factors"]["intersections"] = [" x ".join(evil[:2])]
    for s, value in zip(card["quantitative_analyses"]["slices"], evil * 10, strict=False):
        s["name"] = f"region={value}"
    for f in card["model_details"]["features"]:
        f["name"] = evil[0]
        f["categories"] = evil
    return card


def test_a_card_with_hostile_category_values_renders_no_raw_html(tmp_path: Path) -> None:
    from test_card_helpers import make_project

    from release.card.build import build_card
    from release.card.render import render_card

    card = _hostile_card(build_card(make_project(tmp_path / "proj")))
    out = render_card(card)
    readme, html = out["README.md"], out["card.html"]
    for marker in RAW_HTML:
        assert marker not in readme
        assert marker not in html  # autoescaped
    assert "region=&lt;script&gt;alert(1)&lt;/script&gt;" in readme
    assert "\\[click\\](javascript:alert(1))" in readme
    factors = next(line for line in readme.splitlines() if "Relevant factors" in line)
    assert "\\[click\\](javascript:alert(1))" in factors and "a\\|b" in factors
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # no table row broke out of its columns: every slice row has the header's cell count
    header = next(line for line in readme.splitlines() if line.startswith("| Rank | Slice"))
    rows = [line for line in readme.splitlines() if "| region=" in line]
    assert rows
    assert all(line.count(" | ") == header.count(" | ") for line in rows)


def test_a_monitor_report_with_hostile_values_renders_no_raw_html() -> None:
    import numpy as np
    import pandas as pd

    from release.config import Settings
    from release.monitor.drift import run_drift
    from release.monitor.report import render_html
    from release.monitor.report import render_markdown as drift_markdown
    from release.reference.profile import reference_from_frame

    rng = np.random.default_rng(0)
    evil = [value for value, _ in HOSTILE]
    column = "<img src=x onerror=alert(1)>|col"
    ref = pd.DataFrame({column: rng.choice(evil[:3], 600)})
    cur = pd.DataFrame({column: rng.choice(evil, 400)})
    s = Settings()
    report = run_drift(reference_from_frame(ref, [column]), cur, s.monitor.drift, s.evaluate)
    text = drift_markdown(report)
    page = render_html(report)
    for marker in RAW_HTML:
        assert marker not in text
        assert marker not in page
    assert "&lt;img src=x onerror=alert(1)&gt;\\|col" in text

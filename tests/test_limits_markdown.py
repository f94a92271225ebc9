"""Category values reach slices.md as text, never as HTML or table syntax."""

from __future__ import annotations

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

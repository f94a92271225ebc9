"""Card diff on small slices: Wilson intervals never collapse, small shares use Fisher."""

from __future__ import annotations

from release.card.diff import diff_cards
from release.stats.proportions import wilson


def card(slices: list[dict]) -> dict:
    return {
        "metrics": {"primary_metric": "accuracy", "higher_is_better": True, "confidence": 0.95},
        "quantitative_analyses": {"slices": slices},
    }


def entry(name: str, hits: int, rows: int, small: bool) -> dict:
    w = wilson(hits, rows)
    assert w is not None
    return {
        "name": name,
        "metric": hits / rows,
        "ci_low": w.low,
        "ci_high": w.high,
        "rows": rows,
        "small": small,
    }


def test_one_row_lost_on_a_perfect_small_slice_is_not_significant() -> None:
    a = card([entry("wine=0", 45, 45, True)])
    b = card([entry("wine=0", 44, 45, True)])
    (row,) = diff_cards(a, b)["slices"]
    assert row["a_ci"][0] > 0.9 and row["a_ci"][1] == 1.0  # [92%, 100%], not a point
    assert row["judged"] == "exact" and row["flag"] is None


def test_a_collapsed_small_slice_is_a_regression_and_big_slices_use_intervals() -> None:
    a = card([entry("s", 8, 8, True), entry("big", 900, 1000, False)])
    b = card([entry("s", 1, 8, True), entry("big", 800, 1000, False)])
    rows = {r["name"]: r for r in diff_cards(a, b)["slices"]}
    assert rows["s"]["flag"] == "regression" and rows["s"]["p_value"] < 0.01
    assert rows["big"]["judged"] == "interval" and rows["big"]["flag"] == "regression"

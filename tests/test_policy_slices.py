"""The slice-regression gate: real regressions block, noise does not, small slices are
judged by an exact test and the output names how each slice was judged."""

from __future__ import annotations

import json

from release.analysis.slice_gate import judge_slices
from release.facts import Slices, read_slices
from release.registry.policy import Facts, gate_slice_regression


def _raw(**rows: tuple[float, float, float, bool, int]) -> dict:
    return {
        "primary_metric": "accuracy",
        "higher_is_better": True,
        "confidence": 0.95,
        "slices": [
            {"name": n, "metric": m, "ci_low": lo, "ci_high": hi, "small": small, "rows": r}
            for n, (m, lo, hi, small, r) in rows.items()
        ],
    }


def _slices(**rows: tuple[float, float, float, bool, int]) -> Slices:
    return read_slices(json.dumps(_raw(**rows)).encode(), "v")


BASE = _slices(
    big=(0.90, 0.88, 0.92, False, 2000),
    tiny=(1.0, 0.68, 1.0, True, 8),
    mid=(0.90, 0.82, 0.97, False, 60),
)


def facts(candidate: Slices) -> Facts:
    return Facts(
        version="v2", commit="c" * 40, slices=candidate, baseline_version="v1", baseline_slices=BASE
    )


def test_a_real_regression_blocks() -> None:
    cand = _slices(
        big=(0.80, 0.78, 0.82, False, 2000),
        tiny=(1.0, 0.68, 1.0, True, 8),
        mid=(0.90, 0.82, 0.97, False, 60),
    )
    result = gate_slice_regression(0.05, facts(cand))
    assert not result.passed and "big -0.1 (interval)" in result.detail


def test_a_small_slice_that_collapsed_blocks_by_the_exact_test() -> None:
    # Wine v0.2.0: a slice of 8 rows went from 8/8 right to 1/8.
    cand = _slices(
        big=(0.90, 0.88, 0.92, False, 2000),
        tiny=(0.125, 0.02, 0.47, True, 8),
        mid=(0.90, 0.82, 0.97, False, 60),
    )
    result = gate_slice_regression(0.05, facts(cand))
    assert not result.passed
    assert "tiny -0.875 (small, exact p=" in result.detail
    assert "1 small by exact test" in result.detail


def test_a_small_slice_losing_one_row_is_noise() -> None:
    cand = _slices(
        big=(0.90, 0.88, 0.92, False, 2000),
        tiny=(0.875, 0.53, 0.98, True, 8),
        mid=(0.90, 0.82, 0.97, False, 60),
    )
    result = gate_slice_regression(0.05, facts(cand))
    assert result.passed, result.detail
    assert "3 slices judged: 2 by interval, 1 small by exact test" in result.detail
    (tiny,) = [j for j in judge_slices(cand.doc, BASE.doc, 0.05) if j.name == "tiny"]
    assert tiny.method == "exact" and tiny.p_value is not None and tiny.p_value > 0.05


def test_a_drop_inside_the_candidates_interval_is_noise() -> None:
    cand = _slices(
        big=(0.90, 0.88, 0.92, False, 2000),
        tiny=(1.0, 0.68, 1.0, True, 8),
        mid=(0.84, 0.75, 0.93, False, 60),
    )  # -0.06 but 0.90 lies inside [0.75, 0.93]
    assert gate_slice_regression(0.05, facts(cand)).passed


def test_small_slices_without_counts_fall_back_to_their_interval() -> None:
    cand = _raw(big=(0.90, 0.88, 0.92, False, 2000), tiny=(0.5, 0.2, 0.8, True, 8))
    for entry in cand["slices"]:
        entry.pop("rows")
    judged = {j.name: j for j in judge_slices(cand, BASE.doc, 0.05)}
    assert judged["tiny"].method == "interval" and judged["tiny"].small
    assert judged["tiny"].regressed

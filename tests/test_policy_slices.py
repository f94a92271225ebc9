"""The slice-regression gate: real regressions block, small slices and noise do not."""

from __future__ import annotations

import json

from release.registry.facts import Slices, read_slices
from release.registry.policy import Facts, gate_slice_regression


def _slices(**rows: tuple[float, float, float, bool]) -> Slices:
    raw = {
        "primary_metric": "accuracy",
        "higher_is_better": True,
        "slices": [
            {"name": n, "rows": 100, "metric": m, "ci_low": lo, "ci_high": hi, "small": small}
            for n, (m, lo, hi, small) in rows.items()
        ],
    }
    return read_slices(json.dumps(raw).encode(), "v")


BASE = _slices(
    big=(0.90, 0.88, 0.92, False), tiny=(0.95, 0.80, 1.0, True), mid=(0.90, 0.82, 0.97, False)
)


def facts(candidate: Slices) -> Facts:
    return Facts(
        version="v2", commit="c" * 40, slices=candidate, baseline_version="v1", baseline_slices=BASE
    )


def test_a_real_regression_blocks() -> None:
    cand = _slices(
        big=(0.80, 0.78, 0.82, False), tiny=(0.95, 0.8, 1.0, True), mid=(0.90, 0.82, 0.97, False)
    )
    result = gate_slice_regression(0.05, facts(cand))
    assert not result.passed and "big -0.1" in result.detail


def test_small_slices_are_not_gated() -> None:
    cand = _slices(
        big=(0.90, 0.88, 0.92, False), tiny=(0.70, 0.40, 0.90, True), mid=(0.90, 0.82, 0.97, False)
    )
    result = gate_slice_regression(0.05, facts(cand))
    assert result.passed and "1 small slices not gated" in result.detail


def test_a_drop_inside_the_candidates_interval_is_noise() -> None:
    cand = _slices(
        big=(0.90, 0.88, 0.92, False), tiny=(0.95, 0.8, 1.0, True), mid=(0.84, 0.75, 0.93, False)
    )  # -0.06 but 0.90 lies inside [0.75, 0.93]
    assert gate_slice_regression(0.05, facts(cand)).passed

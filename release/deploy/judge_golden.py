"""The golden-set replay's verdict: the candidate must reproduce the predictions
recorded at evaluation time, before it takes any traffic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from release.config import JudgeSettings
from release.deploy.verdict import Check, Verdict, norm_label


def _same_answer(a: Any, b: Any, tolerance: float) -> bool:
    """One answer: the same label, or numbers equal to ``tolerance`` (relative, at least 1).

    Regression outputs of one model differ in the last bits between batched and single-row
    prediction; that is not a different model.
    """
    if norm_label(a) == norm_label(b):
        return True
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    return numbers and abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(a)))


def judge_golden(
    expected: Sequence[Any],
    got: Sequence[Any],
    *,
    expected_scores: Sequence[float] | None = None,
    got_scores: Sequence[float] | None = None,
    settings: JudgeSettings,
    tolerance: float = 1e-6,
) -> Verdict:
    """Golden-set replay: the candidate must reproduce the predictions recorded at
    evaluation time (mismatch share at most ``max_golden_mismatch``)."""
    if len(expected) != len(got) or not expected:
        return Verdict(
            "fail",
            [f"golden set: {len(got)} answers for {len(expected)} rows"],
            [Check("golden", "fail", "row count mismatch", {"rows": len(expected)})],
        )
    mismatched = sum(not _same_answer(a, b, tolerance) for a, b in zip(expected, got, strict=True))
    share = mismatched / len(expected)
    max_diff = 0.0
    if (
        expected_scores is not None
        and got_scores is not None
        and len(expected_scores) == len(got_scores)
    ):
        diffs = [abs(a - b) for a, b in zip(expected_scores, got_scores, strict=True)]
        max_diff = max(diffs, default=0.0)
    numbers = {
        "rows": len(expected),
        "mismatched": mismatched,
        "mismatch_share": share,
        "max_proba_diff": max_diff,
        "max_mismatch": settings.max_golden_mismatch,
    }
    if share > settings.max_golden_mismatch:
        reason = f"golden set: {mismatched}/{len(expected)} predictions differ from evaluation"
        return Verdict("fail", [reason], [Check("golden", "fail", reason, numbers)])
    if max_diff > tolerance:
        reason = f"golden set: probabilities differ by up to {max_diff:.3g}"
        return Verdict("fail", [reason], [Check("golden", "fail", reason, numbers)])
    reason = f"golden set: {len(expected)} rows reproduce the evaluation"
    return Verdict("pass", [reason], [Check("golden", "pass", reason, numbers)])

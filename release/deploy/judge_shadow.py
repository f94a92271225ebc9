"""The shadow judge: mirrored answers compared request by request with the baseline's.

Classification agrees on classes (and on probabilities within ``max_shadow_proba_diff``);
regression agrees within ``shadow_tolerance`` baseline standard deviations
(:func:`release.deploy.judge_regression.check_shadow_values`), and where the mirrored
requests carried labels the candidate's error is judged as in a canary.
"""

from __future__ import annotations

from typing import Any

from release.config import JudgeSettings
from release.deploy.judge_regression import check_model_error, check_shadow_values, is_regression
from release.deploy.judge_signals import check_errors, check_latency, combine
from release.deploy.verdict import Check, Sample, ShadowStats, Verdict


def judge_shadow(
    shadow: ShadowStats,
    candidate: Sample,
    baseline: Sample,
    *,
    min_requests: int,
    settings: JudgeSettings,
    task: str | None = None,
) -> Verdict:
    """Judge a shadow window: mirrored answers compared request by request.

    Needs ``min_requests`` compared rows; fails on a significant error-rate increase,
    agreement below ``min_shadow_agreement``, a probability difference above
    ``max_shadow_proba_diff``, or a significantly slower candidate. Regression outputs
    agree when within ``shadow_tolerance`` baseline standard deviations (not exact
    matches), and where the mirrored requests carried labels the candidate's error is
    judged as in a canary.
    """
    if min_requests < 1:
        raise ValueError(f"min_requests must be >= 1, got {min_requests}")
    errors = check_errors(candidate, baseline, settings)
    agreement = shadow.agreement
    numbers = {
        "compared": shadow.compared,
        "agree": shadow.agree,
        "agreement": agreement,
        "flips": dict(shadow.flips),
        "max_proba_diff": shadow.max_proba_diff,
        "mean_proba_diff": shadow.mean_proba_diff,
        "min_agreement": settings.min_shadow_agreement,
        "max_allowed_proba_diff": settings.max_shadow_proba_diff,
    }
    if shadow.compared < min_requests:
        traffic = Check(
            "traffic",
            "inconclusive",
            f"too few mirrored rows compared: {shadow.compared} (need {min_requests})",
            numbers,
        )
        if errors.status == "fail":
            return Verdict("fail", [errors.reason], [traffic, errors])
        return Verdict("inconclusive", [traffic.reason], [traffic, errors])
    regression = is_regression(candidate, baseline) if task is None else task == "regression"
    extra: list[Check] = []
    if regression:
        agree = check_shadow_values(shadow, baseline, settings, numbers)
        extra.append(check_model_error(candidate, baseline, settings))
    else:
        agree = check_class_agreement(shadow, settings, numbers)
    checks = [
        Check("traffic", "pass", f"{shadow.compared} rows compared", {"compared": shadow.compared}),
        errors,
        agree,
        check_latency(candidate, baseline, settings),
        *extra,
    ]
    return combine(checks)


def check_class_agreement(
    shadow: ShadowStats, settings: JudgeSettings, numbers: dict[str, Any]
) -> Check:
    """Shadow classification: the same class on ``min_shadow_agreement`` of the rows, and
    probabilities within ``max_shadow_proba_diff``."""
    agreement = shadow.agreement or 0.0
    flips = sum(shadow.flips.values())
    if agreement < settings.min_shadow_agreement:
        reason = (
            f"agreement {agreement:.1%} < {settings.min_shadow_agreement:.1%} ({flips} class flips)"
        )
        return Check("agreement", "fail", reason, numbers)
    if shadow.max_proba_diff > settings.max_shadow_proba_diff:
        reason = (
            f"max probability difference {shadow.max_proba_diff:.3f} > "
            f"{settings.max_shadow_proba_diff}"
        )
        return Check("agreement", "fail", reason, numbers)
    reason = (
        f"agreement {agreement:.1%}, {flips} class flips, "
        f"max probability difference {shadow.max_proba_diff:.3g}"
    )
    return Check("agreement", "pass", reason, numbers)

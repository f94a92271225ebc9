"""The canary judge's checks for regression models: error against labels, output
distributions, shadow differences within a tolerance.

Exact matches mean nothing on continuous outputs, so a regression canary is judged by
its error: a non-inferiority test that the configured metric (MAE or RMSE, from the
requests' labels) rose by more than ``max_error_increase``; its outputs by the
Wasserstein distance in baseline standard deviations beyond its sampling floor (gated by
a KS test); a shadow by
the share of mirrored outputs within ``shadow_tolerance`` baseline standard deviations.

Where labels arrive, the error decides (:func:`labels_decide`): a different model
spreads its outputs differently, better ones included, so a shifted distribution alone
holds the step (inconclusive) until the labels show the error within the margin (pass)
or beyond it (fail). The shift fails on its own only without labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from release.config import JudgeSettings
from release.deploy.verdict import Check, Sample, ShadowStats
from release.stats import noninferiority, twosample

QUANTILES = (0.1, 0.5, 0.9)


def is_regression(candidate: Sample, baseline: Sample) -> bool:
    """Numeric outputs with a non-integral value on either side: a regression model."""
    for value in (*candidate.predictions, *baseline.predictions):
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            return True
    return False


def _loss(errors: Sequence[float], metric: str) -> list[float]:
    """Per-row losses whose mean is the metric (squared errors for RMSE)."""
    return [e * e for e in errors] if metric == "rmse" else list(errors)


def check_model_error(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Regression error on labelled requests: fail when significantly beyond the margin.

    A non-inferiority test on the configured metric: MAE (mean absolute error) may rise by
    ``max_error_increase`` (relative); for RMSE the margin applies to RMSE, so to the
    squared errors' mean as ``(1 + margin)**2``.
    """
    metric = settings.regression_metric
    n_c, n_b = len(candidate.abs_errors), len(baseline.abs_errors)
    if min(n_c, n_b) < settings.min_labelled:
        return Check(
            "model_error",
            "skip",
            f"labelled rows {n_c}/{n_b} < {settings.min_labelled}",
            {"candidate_labelled": n_c, "baseline_labelled": n_b},
        )
    loss_c, loss_b = _loss(candidate.abs_errors, metric), _loss(baseline.abs_errors, metric)
    mean_c, mean_b = sum(loss_c) / n_c, sum(loss_b) / n_b
    if metric == "rmse":
        value_c, value_b = math.sqrt(mean_c), math.sqrt(mean_b)
        margin = (1 + settings.max_error_increase) ** 2 - 1
    else:
        value_c, value_b, margin = mean_c, mean_b, settings.max_error_increase
    z, p = noninferiority.mean_increase(loss_c, loss_b, margin)
    # The other side of the same test: the candidate shown within the margin.
    within_p = 1.0 - p if math.isfinite(z) else 0.0 if z < 0 else 1.0
    ratio = value_c / value_b if value_b > 0 else (math.inf if value_c > 0 else 1.0)
    numbers = {
        "metric": metric,
        f"candidate_{metric}": value_c,
        f"baseline_{metric}": value_b,
        "ratio": ratio,
        "candidate_labelled": n_c,
        "baseline_labelled": n_b,
        "z": z,
        "p_value": p,
        "within_margin_p": within_p,
        "max_increase": settings.max_error_increase,
    }
    if p < settings.alpha:
        reason = (
            f"{metric.upper()} {value_c:.4g} vs baseline {value_b:.4g} (x{ratio:.2f}, "
            f"significantly more than +{settings.max_error_increase:.0%}, p={p:.2g})"
        )
        return Check("model_error", "fail", reason, numbers)
    return Check("model_error", "pass", f"{metric.upper()} {value_c:.4g} vs {value_b:.4g}", numbers)


def labels_decide(shift: Check, error: Check, settings: JudgeSettings) -> Check:
    """The distribution check as judged beside the error: labels outrank the outputs' shape.

    Without enough labels (``error`` skipped) the shift stands. With them a shift fails
    only beside a failing error; it passes once the error is shown within the margin
    (``within_margin_p`` < alpha) and is inconclusive until then, so the step keeps
    measuring instead of rolling back a model whose outputs merely differ.
    """
    if shift.status != "fail" or error.status in ("skip", "inconclusive", "fail"):
        return shift
    metric = str(error.numbers.get("metric", "mae")).upper()
    margin = f"+{settings.max_error_increase:.0%}"
    within_p = float(error.numbers.get("within_margin_p", 1.0))
    numbers = {**shift.numbers, "within_margin_p": within_p, "decided_by": "labels"}
    if within_p < settings.alpha:
        reason = (
            f"prediction distribution shifted ({shift.numbers.get('wasserstein_std', 0):.3f} "
            f"baseline stds), but the {metric} is within {margin} (p={within_p:.2g})"
        )
        return Check(shift.name, "pass", reason, numbers)
    reason = (
        f"{shift.reason}; waiting for labelled rows to show the {metric} within {margin} "
        f"(p={within_p:.2g})"
    )
    return Check(shift.name, "inconclusive", reason, numbers)


def _numeric(values: Sequence[Any]) -> Any:
    return twosample.sorted_finite(
        np.array(
            [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)],
            dtype=np.float64,
        )
    )


def check_value_distribution(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Regression outputs: Wasserstein distance in baseline stds, gated by a KS test."""
    c, b = _numeric(candidate.predictions), _numeric(baseline.predictions)
    if c.size < 2 or b.size < 2:
        return Check("predictions", "inconclusive", "no numeric predictions to compare")
    std = float(b.std(ddof=1))
    distance = twosample.normalised_wasserstein(b, c, std)
    # Two windows of one model differ by about the sampling floor (a quarter of a std at
    # 40 rows a side): judge the excess over it, as the PSI check does.
    floor = twosample.wasserstein_floor(b, c) / std if std > 0 else 0.0
    excess = max(0.0, distance - floor)
    _, p = twosample.ks_test(b, c)
    qs = list(QUANTILES)
    numbers = {
        "bins": "value",
        "wasserstein_std": distance,
        "wasserstein_sampling_floor": floor,
        "wasserstein_excess": excess,
        "p_value": p,
        "candidate_quantiles": twosample.sorted_quantiles(c, qs).tolist(),
        "baseline_quantiles": twosample.sorted_quantiles(b, qs).tolist(),
        "quantiles": qs,
        "candidate_rows": int(c.size),
        "baseline_rows": int(b.size),
        "max_wasserstein": settings.max_prediction_wasserstein,
    }
    if excess > settings.max_prediction_wasserstein and p < settings.alpha:
        reason = (
            f"prediction distribution shifted: Wasserstein {distance:.3f} baseline stds "
            f"(sampling floor {floor:.3f}) > {settings.max_prediction_wasserstein} "
            f"(KS p={p:.2g})"
        )
        return Check("predictions", "fail", reason, numbers)
    reason = f"prediction Wasserstein {distance:.3f} baseline stds (sampling floor {floor:.3f})"
    return Check("predictions", "pass", reason, numbers)


def check_shadow_values(
    shadow: ShadowStats, baseline: Sample, settings: JudgeSettings, numbers: dict[str, Any]
) -> Check:
    """Shadow regression: the share of rows within ``shadow_tolerance`` baseline stds."""
    b = _numeric(baseline.predictions)
    std = float(b.std(ddof=1)) if b.size >= 2 else 0.0
    tolerance = settings.shadow_tolerance * std
    diffs = list(shadow.value_diffs)
    within = sum(d <= tolerance for d in diffs)
    share = within / len(diffs) if diffs else None
    numbers = {
        **numbers,
        "value_rows": len(diffs),
        "within_tolerance": within,
        "share_within": share,
        "tolerance": tolerance,
        "max_value_diff": max(diffs, default=0.0),
        "mean_value_diff": sum(diffs) / len(diffs) if diffs else 0.0,
    }
    if share is None:
        return Check("agreement", "inconclusive", "no numeric answers compared", numbers)
    if share < settings.min_shadow_agreement:
        reason = (
            f"{share:.1%} of outputs within {tolerance:.4g} of the baseline's "
            f"< {settings.min_shadow_agreement:.1%}"
        )
        return Check("agreement", "fail", reason, numbers)
    return Check(
        "agreement", "pass", f"{share:.1%} of outputs within {tolerance:.4g} of baseline", numbers
    )

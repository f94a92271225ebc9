"""The canary judge: candidate against baseline over the same window, as a pure function.

Each check pairs a statistical test (is the difference real?) with a practical threshold
from ``release.deploy.judge`` (is it big enough to matter?); a check fails only when
both say so. Too little traffic is "inconclusive", never "pass". The verdict carries
every number it used and one reason per failed or skipped check, so a rollback can be
explained from the deployment record alone.

- errors: Fisher's exact one-sided test on error counts, the ``max_error_rate_increase``
  threshold, and at least ``min_errors`` candidate errors: one transient 5xx in 20
  requests never rolls back a healthy candidate (z-test p = 0.04, Fisher p = 0.25);
- latency: one-sided Mann-Whitney U on successful requests, plus an effect size (median
  increase in ms and median ratio) that must exceed both thresholds;
- predictions: population stability index between the two variants' outputs (binned
  probabilities, or classes), gated by a chi-square test of homogeneity; for regression,
  the Wasserstein distance in baseline standard deviations, gated by a KS test;
- accuracy (classification): where requests carried labels, a non-inferiority test on
  accuracy against the ``max_accuracy_drop`` margin;
- model_error (regression): absolute errors against labels, a non-inferiority test that
  the configured metric (MAE or RMSE) rose by more than ``max_error_increase``. Where
  labels arrive they decide: a shifted output distribution alone then holds the step
  (inconclusive) until the error is shown within the margin or beyond it.

The task is inferred from the samples (numeric, non-integral predictions are regression)
unless the caller names it. PSI, Jensen-Shannon and the exact tests come from the
statistics core (:mod:`release.stats`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from release.config import JudgeSettings
from release.deploy.judge_regression import (
    check_model_error,
    check_shadow_values,
    check_value_distribution,
    is_regression,
    labels_decide,
)
from release.deploy.verdict import (
    Check,
    CheckStatus,
    Sample,
    ShadowStats,
    Status,
    Verdict,
    norm_label,
)
from release.stats import divergence, noninferiority, proportions

__all__ = [
    "Check",
    "CheckStatus",
    "Sample",
    "ShadowStats",
    "Status",
    "Verdict",
    "check_accuracy",
    "check_errors",
    "check_latency",
    "check_model_error",
    "check_predictions",
    "check_shadow_values",
    "check_value_distribution",
    "error_rate_fails",
    "is_regression",
    "judge",
    "judge_golden",
    "judge_shadow",
    "margin_test",
    "norm_label",
]

PROBABILITY_BINS = 10


# ----------------------------------------------------------------------------- tests
def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[idx]


# ---------------------------------------------------------------------------- checks
def error_rate_fails(
    cand_errors: int,
    cand_requests: int,
    base_errors: int,
    base_requests: int,
    settings: JudgeSettings,
) -> tuple[bool, float]:
    """The error-rate decision on counts alone: (fail?, one-sided Fisher p-value).

    Fails only when all three hold: the candidate has at least ``min_errors`` errors,
    Fisher's exact test finds its rate higher at ``alpha``, and the posterior probability
    that it exceeds the baseline's by more than ``max_error_rate_increase`` is at least
    ``1 - alpha`` (so an increase merely near the margin, within noise, passes).
    """
    p = proportions.fisher_greater(cand_errors, cand_requests, base_errors, base_requests)
    if not cand_requests or not base_requests or cand_errors < settings.min_errors:
        return False, p
    if p >= settings.alpha:
        return False, p
    beyond = proportions.prob_exceeds(
        cand_errors, cand_requests, base_errors, base_requests, settings.max_error_rate_increase
    )
    return beyond >= 1 - settings.alpha, p


def check_errors(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Error rate: fail when exactly-tested higher, above the allowed increase, and not rare."""
    if not candidate.requests or not baseline.requests:
        return Check("errors", "inconclusive", "no requests to compare")
    fails, p = error_rate_fails(
        candidate.errors, candidate.requests, baseline.errors, baseline.requests, settings
    )
    rate_c = candidate.errors / candidate.requests
    rate_b = baseline.errors / baseline.requests
    numbers = {
        "candidate_rate": rate_c,
        "baseline_rate": rate_b,
        "candidate_errors": candidate.errors,
        "baseline_errors": baseline.errors,
        "test": "fisher_exact",
        "p_value": p,
        "max_increase": settings.max_error_rate_increase,
        "min_errors": settings.min_errors,
    }
    increase = rate_c - rate_b
    if fails:
        reason = (
            f"error rate {rate_c:.1%} vs baseline {rate_b:.1%} "
            f"(+{increase:.1%} > {settings.max_error_rate_increase:.1%}, "
            f"{candidate.errors} errors, Fisher p={p:.2g})"
        )
        return Check("errors", "fail", reason, numbers)
    return Check("errors", "pass", f"error rate {rate_c:.1%} vs {rate_b:.1%}", numbers)


def check_latency(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Latency: Mann-Whitney U (candidate slower?) plus median increase and ratio."""
    from scipy.stats import mannwhitneyu

    lat_c, lat_b = list(candidate.latencies_ms), list(baseline.latencies_ms)
    if len(lat_c) < 2 or len(lat_b) < 2:
        return Check("latency", "inconclusive", "too few successful requests for latency")
    result = mannwhitneyu(lat_c, lat_b, alternative="greater")
    u, p = float(result.statistic), float(result.pvalue)
    med_c, med_b = _median(lat_c), _median(lat_b)
    increase = med_c - med_b
    ratio = med_c / med_b if med_b > 0 else math.inf
    numbers = {
        "candidate_p50_ms": med_c,
        "baseline_p50_ms": med_b,
        "candidate_p95_ms": _quantile(lat_c, 0.95),
        "baseline_p95_ms": _quantile(lat_b, 0.95),
        "increase_ms": increase,
        "ratio": ratio,
        "u": u,
        "p_value": p,
        "probability_slower": u / (len(lat_c) * len(lat_b)),
        "max_increase_ms": settings.max_latency_increase_ms,
        "max_ratio": settings.max_latency_ratio,
    }
    if (
        p < settings.alpha
        and increase > settings.max_latency_increase_ms
        and ratio > settings.max_latency_ratio
    ):
        reason = (
            f"p50 latency {med_c:.1f} ms vs baseline {med_b:.1f} ms "
            f"(+{increase:.1f} ms, x{ratio:.2f}, p={p:.2g})"
        )
        return Check("latency", "fail", reason, numbers)
    return Check("latency", "pass", f"p50 {med_c:.1f} ms vs {med_b:.1f} ms", numbers)


def _histograms(candidate: Sample, baseline: Sample) -> tuple[list[int], list[int], str] | None:
    """Counts over shared bins: probability deciles when both have scores, else classes."""
    if candidate.scores and baseline.scores:

        def bins(values: Sequence[float]) -> list[int]:
            counts = [0] * PROBABILITY_BINS
            for v in values:
                counts[min(PROBABILITY_BINS - 1, max(0, int(v * PROBABILITY_BINS)))] += 1
            return counts

        return bins(candidate.scores), bins(baseline.scores), "probability"
    if candidate.predictions and baseline.predictions:
        values = [*candidate.predictions, *baseline.predictions]
        classes = sorted({str(v) for v in values})
        count_c = Counter(str(v) for v in candidate.predictions)
        count_b = Counter(str(v) for v in baseline.predictions)
        return [count_c[k] for k in classes], [count_b[k] for k in classes], "class"
    return None


def check_predictions(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Prediction distribution: PSI above the threshold and a significant chi-square."""
    from scipy.stats import chi2_contingency

    hist = _histograms(candidate, baseline)
    if hist is None:
        return Check("predictions", "inconclusive", "no predictions to compare")
    count_c, count_b, kind = hist
    n_c, n_b = sum(count_c), sum(count_b)
    if n_c == 0 or n_b == 0:
        return Check("predictions", "inconclusive", "no predictions to compare")
    value = divergence.psi(count_b, count_c)
    keep = [i for i in range(len(count_c)) if count_c[i] + count_b[i] > 0]
    p = 1.0
    if len(keep) >= 2:
        table = [[count_c[i] for i in keep], [count_b[i] for i in keep]]
        p = float(chi2_contingency(table).pvalue)
    # PSI is a symmetrised KL divergence, about chi2 / n, so two samples of one
    # distribution still score (k - 1) * (1/n_c + 1/n_b) on average. Judge the excess over
    # that sampling floor: small canary windows must not fail a healthy candidate.
    floor = max(len(keep) - 1, 0) * (1 / n_c + 1 / n_b)
    excess = max(0.0, value - floor)
    numbers = {
        "psi": value,
        "psi_sampling_floor": floor,
        "psi_excess": excess,
        "jensen_shannon": divergence.jensen_shannon(count_b, count_c),
        "p_value": p,
        "bins": kind,
        "candidate_rows": n_c,
        "baseline_rows": n_b,
        "max_psi": settings.max_prediction_psi,
    }
    if excess > settings.max_prediction_psi and p < settings.alpha:
        reason = (
            f"prediction distribution shifted: PSI {value:.3f} (sampling floor {floor:.3f}) > "
            f"{settings.max_prediction_psi} ({kind} bins, p={p:.2g})"
        )
        return Check("predictions", "fail", reason, numbers)
    return Check(
        "predictions", "pass", f"prediction PSI {value:.3f} (sampling floor {floor:.3f})", numbers
    )


def check_accuracy(candidate: Sample, baseline: Sample, settings: JudgeSettings) -> Check:
    """Accuracy on labelled requests: a significant drop beyond ``max_accuracy_drop`` fails."""
    n_c, n_b = len(candidate.correct), len(baseline.correct)
    if min(n_c, n_b) < settings.min_labelled:
        return Check(
            "accuracy",
            "skip",
            f"labelled rows {n_c}/{n_b} < {settings.min_labelled}",
            {"candidate_labelled": n_c, "baseline_labelled": n_b},
        )
    ok_c, ok_b = sum(candidate.correct), sum(baseline.correct)
    acc_c, acc_b = ok_c / n_c, ok_b / n_b
    drop, margin = acc_b - acc_c, settings.max_accuracy_drop
    # Non-inferiority: fail only when the drop is significantly larger than the tolerated
    # margin. Candidate and baseline answer different requests, so a drop just above the
    # margin in a small window is as likely noise as harm.
    z, p = margin_test(drop, margin, acc_b, n_b, acc_c, n_c)
    numbers = {
        "candidate_accuracy": acc_c,
        "baseline_accuracy": acc_b,
        "candidate_labelled": n_c,
        "baseline_labelled": n_b,
        "drop": drop,
        "z": z,
        "p_value": p,
        "max_drop": margin,
    }
    if p < settings.alpha and drop > margin:
        reason = (
            f"accuracy {acc_c:.1%} vs baseline {acc_b:.1%} "
            f"(-{drop:.1%}, significantly more than {margin:.1%}, p={p:.2g})"
        )
        return Check("accuracy", "fail", reason, numbers)
    return Check("accuracy", "pass", f"accuracy {acc_c:.1%} vs {acc_b:.1%}", numbers)


margin_test = noninferiority.proportion_drop


def _traffic(candidate: Sample, baseline: Sample, min_requests: int) -> Check:
    numbers = {
        "candidate_requests": candidate.requests,
        "baseline_requests": baseline.requests,
        "min_requests": min_requests,
    }
    if candidate.requests < min_requests or baseline.requests < min_requests:
        reason = (
            f"too few requests: candidate {candidate.requests}, baseline "
            f"{baseline.requests} (need {min_requests} each)"
        )
        return Check("traffic", "inconclusive", reason, numbers)
    return Check("traffic", "pass", f"{candidate.requests} candidate requests", numbers)


def _combine(checks: list[Check]) -> Verdict:
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        return Verdict("fail", [c.reason for c in failed], checks)
    pending = [c for c in checks if c.status == "inconclusive"]
    if pending:
        return Verdict("inconclusive", [c.reason for c in pending], checks)
    skipped = [c.reason for c in checks if c.status == "skip"]
    return Verdict("pass", ["all checks passed", *skipped], checks)


# ----------------------------------------------------------------------------- judge
def judge(
    candidate: Sample,
    baseline: Sample,
    *,
    min_requests: int,
    settings: JudgeSettings,
    task: str | None = None,
) -> Verdict:
    """Compare candidate with baseline over one window; pass, fail or inconclusive.

    A significant error-rate increase fails even before ``min_requests`` (fail fast);
    every other check, and any pass, needs ``min_requests`` on both sides. ``task``
    (``regression`` or a classification task) is inferred from the outputs when None.
    """
    if min_requests < 1:
        raise ValueError(f"min_requests must be >= 1, got {min_requests}")
    traffic = _traffic(candidate, baseline, min_requests)
    errors = check_errors(candidate, baseline, settings)
    if traffic.status != "pass":
        checks = [traffic, errors]
        if errors.status == "fail":
            return Verdict("fail", [errors.reason], checks)
        return Verdict("inconclusive", [traffic.reason], checks)
    regression = is_regression(candidate, baseline) if task is None else task == "regression"
    checks = [traffic, errors, check_latency(candidate, baseline, settings)]
    if regression:
        error = check_model_error(candidate, baseline, settings)
        shift = check_value_distribution(candidate, baseline, settings)
        checks += [error, labels_decide(shift, error, settings)]
    else:
        checks.append(check_predictions(candidate, baseline, settings))
        checks.append(check_accuracy(candidate, baseline, settings))
    return _combine(checks)


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
    flips = sum(shadow.flips.values())
    assert agreement is not None
    regression = is_regression(candidate, baseline) if task is None else task == "regression"
    extra: list[Check] = []
    if regression:
        agree = check_shadow_values(shadow, baseline, settings, numbers)
        extra.append(check_model_error(candidate, baseline, settings))
    elif agreement < settings.min_shadow_agreement:
        agree = Check(
            "agreement",
            "fail",
            f"agreement {agreement:.1%} < {settings.min_shadow_agreement:.1%} "
            f"({flips} class flips)",
            numbers,
        )
    elif shadow.max_proba_diff > settings.max_shadow_proba_diff:
        agree = Check(
            "agreement",
            "fail",
            f"max probability difference {shadow.max_proba_diff:.3f} > "
            f"{settings.max_shadow_proba_diff}",
            numbers,
        )
    else:
        agree = Check(
            "agreement",
            "pass",
            f"agreement {agreement:.1%}, {flips} class flips, "
            f"max probability difference {shadow.max_proba_diff:.3g}",
            numbers,
        )
    checks = [
        Check("traffic", "pass", f"{shadow.compared} rows compared", {"compared": shadow.compared}),
        errors,
        agree,
        check_latency(candidate, baseline, settings),
        *extra,
    ]
    return _combine(checks)


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

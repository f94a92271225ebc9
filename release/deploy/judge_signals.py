"""The golden signals both judges read, and how checks combine into a verdict.

- errors: Fisher's exact one-sided test on error counts, the ``max_error_rate_increase``
  threshold, and at least ``min_errors`` candidate errors: one transient 5xx in 20
  requests never rolls back a healthy candidate (z-test p = 0.04, Fisher p = 0.25);
- latency: one-sided Mann-Whitney U on successful requests, plus an effect size (median
  increase in ms and median ratio) that must exceed both thresholds.

A verdict fails on any failed check, is inconclusive on any inconclusive one, and passes
otherwise (naming the skipped checks). Used by the canary judge
(:mod:`release.deploy.judge`) and the shadow judge (:mod:`release.deploy.judge_shadow`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from release.config import JudgeSettings
from release.deploy.verdict import Check, Sample, Verdict
from release.stats import proportions


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[idx]


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


def check_traffic(candidate: Sample, baseline: Sample, min_requests: int) -> Check:
    """Enough requests on both sides (``min_requests`` each), or inconclusive."""
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


def combine(checks: list[Check]) -> Verdict:
    """Fail on any failed check, else inconclusive on any inconclusive one, else pass."""
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        return Verdict("fail", [c.reason for c in failed], checks)
    pending = [c for c in checks if c.status == "inconclusive"]
    if pending:
        return Verdict("inconclusive", [c.reason for c in pending], checks)
    skipped = [c.reason for c in checks if c.status == "skip"]
    return Verdict("pass", ["all checks passed", *skipped], checks)

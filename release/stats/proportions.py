"""Intervals and tests for proportions that hold at small counts.

A percentile bootstrap of ``k`` successes in ``n`` collapses to a point when ``k`` is 0
or ``n`` (every resample is all right), and a normal z-test over-rejects when counts are
tiny (one transient error in 20 requests against none in 60 gives p = 0.04). These
functions are exact or near exact at any count:

- :func:`wilson`: the Wilson score interval (45/45 at 95% is about [0.921, 1.0]);
- :func:`clopper_pearson`: the exact (conservative) binomial interval;
- :func:`fisher_greater`: Fisher's exact one-sided test that the first proportion
  exceeds the second (as ``scipy.stats.fisher_exact(..., alternative="greater")``);
- :func:`prob_exceeds`: the posterior probability that one rate exceeds another by more
  than a margin (Jeffreys priors), for non-inferiority decisions on counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A two-sided interval and the method that made it."""

    low: float
    high: float
    method: str


def _z(confidence: float) -> float:
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(norm.ppf(1 - (1 - confidence) / 2))


def _check_counts(k: float, n: float) -> None:
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")


def wilson(k: float, n: float, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval of ``k`` successes in ``n`` trials (None when ``n`` is 0).

    ``k`` may be fractional (a rate times its rows) for metrics that behave like a share.
    """
    _check_counts(k, n)
    if n == 0:
        return None
    z = _z(confidence)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exactly 0 or 1 at the edges (rounding would leave 0.9999999).
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(low, high, "wilson")


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> Interval | None:
    """Exact Clopper-Pearson interval of ``k`` successes in ``n`` trials."""
    from scipy.stats import beta

    _check_counts(k, n)
    if n == 0:
        return None
    alpha = 1 - confidence
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Interval(low, high, "clopper_pearson")


def fisher_greater(x1: int, n1: int, x2: int, n2: int) -> float:
    """One-sided p-value of Fisher's exact test that ``x1/n1`` exceeds ``x2/n2``.

    The probability, given both margins, of at least ``x1`` of the ``x1 + x2`` events
    falling in the first group. 1.0 when either group is empty.
    """
    from scipy.stats import hypergeom

    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if n1 == 0 or n2 == 0:
        return 1.0
    events = x1 + x2
    return float(min(1.0, max(0.0, hypergeom.sf(x1 - 1, n1 + n2, events, n1))))


def prob_exceeds(
    x1: int, n1: int, x2: int, n2: int, margin: float = 0.0, *, points: int = 256
) -> float:
    """Posterior probability that rate 1 exceeds rate 2 by more than ``margin``.

    Jeffreys priors (Beta(1/2, 1/2)) on both rates; the expectation over rate 2 is taken
    at ``points`` evenly spaced quantiles of its posterior, so the answer is deterministic
    and accurate to about ``1 / points``.
    """
    from scipy.stats import beta

    _check_counts(x1, n1)
    _check_counts(x2, n2)
    q = (np.arange(points) + 0.5) / points
    rate2 = beta.ppf(q, x2 + 0.5, n2 - x2 + 0.5)
    return float(np.mean(beta.sf(rate2 + margin, x1 + 0.5, n1 - x1 + 0.5)))

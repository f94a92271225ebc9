"""Non-inferiority tests: is the candidate worse than the baseline by more than a margin?

Canary windows are small and candidate and baseline answer different requests, so a
difference just past the margin is as likely noise as harm. These tests fail only when
the data show the candidate beyond the margin at the chosen significance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def proportion_drop(
    drop: float, margin: float, p_b: float, n_b: int, p_c: float, n_c: int
) -> tuple[float, float]:
    """One-sided z-test that ``drop`` (``p_b - p_c``) exceeds ``margin``: (z, p-value)."""
    from scipy.stats import norm

    se = math.sqrt(p_b * (1 - p_b) / n_b + p_c * (1 - p_c) / n_c)
    if se <= 0:
        return (math.inf, 0.0) if drop > margin else (0.0, 1.0)
    z = (drop - margin) / se
    return z, float(norm.sf(z))


def mean_increase(
    candidate: Sequence[float], baseline: Sequence[float], relative_margin: float
) -> tuple[float, float]:
    """One-sided Welch z-test that mean(candidate) > (1 + margin) * mean(baseline).

    For per-row losses (absolute or squared errors): H0 says the candidate's mean loss is
    at most ``1 + relative_margin`` times the baseline's. Returns (z, p-value); needs at
    least two values a side (else (0, 1)).
    """
    from scipy.stats import norm

    c = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if c.size < 2 or b.size < 2:
        return 0.0, 1.0
    scale = 1.0 + relative_margin
    delta = float(c.mean() - scale * b.mean())
    se = math.sqrt(float(c.var(ddof=1)) / c.size + scale**2 * float(b.var(ddof=1)) / b.size)
    if se <= 0:
        return (math.inf, 0.0) if delta > 0 else (0.0, 1.0)
    z = delta / se
    return z, float(norm.sf(z))

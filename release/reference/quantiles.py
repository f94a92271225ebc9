"""Two-sample drift tests: pure functions on prepared columns.

A numeric column is prepared once (finite values, sorted) and a categorical one is counted
once; every test below reads those prepared forms, so a column is never sorted or counted
twice however many tests run on it.

Methods and their verdicts (defaults as Evidently's data drift preset, documented in
``release monitor drift --help``):

- ``ks``: two-sample Kolmogorov-Smirnov; drift when the p-value < ``alpha``. Exact p-values
  up to 10,000 values a side (as ``scipy.stats.ks_2samp``), asymptotic beyond.
- ``wasserstein``: first Wasserstein distance divided by the reference standard deviation;
  drift when the distance >= the threshold (0.1: a shift of a tenth of a std).
- ``chi2``: chi-squared test of homogeneity on the 2 x k contingency table (reference counts
  and current counts as two samples). Not the goodness-of-fit test of current counts against
  reference proportions, which treats the reference as exact and over-alarms; drift when the
  p-value < ``alpha``. With two categories it equals the two-proportion z-test.
- ``jensenshannon``: Jensen-Shannon distance (natural log, as ``scipy.spatial.distance``,
  range 0..0.83) between category frequencies; drift when >= the threshold.
- ``psi``: population stability index; numeric columns binned at reference deciles,
  empty bins floored at 1e-4; drift when >= the threshold.

PSI and Jensen-Shannon come from the statistics core (:mod:`release.stats.divergence`),
the same functions the canary judge uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from release.stats import divergence

# Re-exported: drift and profile code reads the prepared forms from here.
from release.stats.twosample import (  # noqa: F401
    KS_EXACT_MAX,
    FloatArray,
    chi2_homogeneity,
    ks_test,
    normalised_wasserstein,
    sorted_finite,
    sorted_quantiles,
    wasserstein,
)

Method = Literal["ks", "wasserstein", "psi", "chi2", "jensenshannon"]
NUMERIC_METHODS: tuple[Method, ...] = ("ks", "wasserstein", "psi")
CATEGORICAL_METHODS: tuple[Method, ...] = ("chi2", "jensenshannon", "psi")
P_VALUE_METHODS = frozenset({"ks", "chi2"})
PSI_BINS = 10
PSI_FLOOR = divergence.PSI_FLOOR


@dataclass(frozen=True)
class TestResult:
    """One test's outcome: ``score`` is the p-value for p-value tests, else the distance."""

    method: str
    score: float
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool

    @property
    def uses_p_value(self) -> bool:
        """True when the verdict compares a p-value with alpha (smaller is more drift)."""
        return self.method in P_VALUE_METHODS


def psi_numeric(ref: FloatArray, cur: FloatArray, bins: int = PSI_BINS) -> float:
    """PSI with bins at the reference quantiles (sorted inputs)."""
    return divergence.psi_numeric(ref, cur, bins)


# ---------------------------------------------------------------------- categorical
def aligned_counts(
    ref: Mapping[str, float], cur: Mapping[str, float]
) -> tuple[list[str], FloatArray, FloatArray]:
    """Counts of both samples over the union of categories (reference order first)."""
    keys = [k for k in ref if ref[k] > 0 or cur.get(k, 0) > 0]
    keys += [k for k in cur if k not in ref and cur[k] > 0]
    r = np.array([float(ref.get(k, 0)) for k in keys], dtype=np.float64)
    c = np.array([float(cur.get(k, 0)) for k in keys], dtype=np.float64)
    return keys, r, c


def jensenshannon(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """Jensen-Shannon distance (natural log) between two count vectors."""
    return divergence.jensen_shannon(ref_counts, cur_counts)


def psi_counts(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """PSI between two count vectors over the same categories."""
    return divergence.psi(ref_counts, cur_counts)


# ---------------------------------------------------------------------------- verdict
def numeric_test(
    method: Method,
    ref: FloatArray,
    cur: FloatArray,
    *,
    ref_std: float,
    alpha: float,
    threshold: float,
) -> TestResult:
    """Run one numeric method on two prepared (sorted, finite, non-empty) samples."""
    if method == "ks":
        d, p = ks_test(ref, cur)
        return TestResult("ks", p, d, p, alpha, p < alpha)
    if method == "wasserstein":
        w = normalised_wasserstein(ref, cur, ref_std)
        return TestResult("wasserstein", w, w, None, threshold, w >= threshold)
    if method == "psi":
        v = psi_numeric(ref, cur)
        return TestResult("psi", v, v, None, threshold, v >= threshold)
    raise ValueError(f"method {method!r} is not a numeric test; use one of {NUMERIC_METHODS}")


def categorical_test(
    method: Method,
    ref_counts: FloatArray,
    cur_counts: FloatArray,
    *,
    alpha: float,
    threshold: float,
) -> TestResult:
    """Run one categorical method on aligned count vectors."""
    if method == "chi2":
        stat, p, _ = chi2_homogeneity(ref_counts, cur_counts)
        return TestResult("chi2", p, stat, p, alpha, p < alpha)
    if method == "jensenshannon":
        js = jensenshannon(ref_counts, cur_counts)
        return TestResult("jensenshannon", js, js, None, threshold, js >= threshold)
    if method == "psi":
        v = psi_counts(ref_counts, cur_counts)
        return TestResult("psi", v, v, None, threshold, v >= threshold)
    raise ValueError(
        f"method {method!r} is not a categorical test; use one of {CATEGORICAL_METHODS}"
    )

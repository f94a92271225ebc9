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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Method = Literal["ks", "wasserstein", "psi", "chi2", "jensenshannon"]
NUMERIC_METHODS: tuple[Method, ...] = ("ks", "wasserstein", "psi")
CATEGORICAL_METHODS: tuple[Method, ...] = ("chi2", "jensenshannon", "psi")
P_VALUE_METHODS = frozenset({"ks", "chi2"})
KS_EXACT_MAX = 10_000  # as scipy.stats.ks_2samp(method="auto")
PSI_BINS = 10
PSI_FLOOR = 1e-4

FloatArray = NDArray[np.float64]


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


# ----------------------------------------------------------------------- preparation
def sorted_finite(values: NDArray[np.generic]) -> FloatArray:
    """The finite values of a numeric column as sorted float64 (the one sort per column)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    arr.sort(kind="quicksort")
    return arr


def sorted_quantiles(values: FloatArray, qs: Sequence[float] | FloatArray) -> FloatArray:
    """Quantiles (numpy's default linear method) of an already sorted array, by indexing."""
    pos = np.asarray(qs, dtype=np.float64) * (values.size - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, values.size - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _ecdfs(ref: FloatArray, cur: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Merged support and both empirical CDFs at each merged point (inputs already sorted).

    Inside a run of tied values the CDFs are partial; callers either weight by the gap to
    the next point (zero inside ties) or read only the last point of each run.
    """
    both = np.concatenate([ref, cur])
    # Two sorted runs: the stable (timsort) argsort merges them in about linear time.
    order = np.argsort(both, kind="stable")
    support = both[order]
    from_ref = order < ref.size
    cdf_ref = np.cumsum(from_ref) / ref.size
    cdf_cur = np.cumsum(~from_ref) / cur.size
    return support, cdf_ref, cdf_cur


# -------------------------------------------------------------------------- numeric
def ks_test(ref: FloatArray, cur: FloatArray) -> tuple[float, float]:
    """Two-sample KS statistic and two-sided p-value for sorted samples."""
    n, m = ref.size, cur.size
    if max(n, m) <= KS_EXACT_MAX:
        from scipy.stats import ks_2samp

        res = ks_2samp(ref, cur, alternative="two-sided", method="auto")
        return float(res.statistic), float(res.pvalue)
    from scipy.stats import kstwo

    support, cdf_ref, cdf_cur = _ecdfs(ref, cur)
    last_of_run = np.append(support[1:] != support[:-1], True)
    d = float(np.max(np.abs(cdf_ref - cdf_cur)[last_of_run]))
    en = round(n * m / (n + m))
    return d, float(min(1.0, max(0.0, kstwo.sf(d, en))))


def wasserstein(ref: FloatArray, cur: FloatArray) -> float:
    """First Wasserstein (earth mover's) distance between two sorted samples."""
    if ref.size == cur.size:
        # Equal sizes: the quantile functions step together, so W1 is a mean of gaps.
        return float(np.mean(np.abs(ref - cur)))
    support, cdf_ref, cdf_cur = _ecdfs(ref, cur)
    return float(np.sum(np.abs(cdf_ref[:-1] - cdf_cur[:-1]) * np.diff(support)))


def normalised_wasserstein(ref: FloatArray, cur: FloatArray, ref_std: float) -> float:
    """Wasserstein distance in units of the reference std (inf if a constant reference moved)."""
    dist = wasserstein(ref, cur)
    if ref_std > 0 and math.isfinite(ref_std):
        return dist / ref_std
    return 0.0 if dist == 0 else math.inf


def psi_numeric(ref: FloatArray, cur: FloatArray, bins: int = PSI_BINS) -> float:
    """PSI with bins at the reference quantiles (sorted inputs)."""
    edges = np.unique(sorted_quantiles(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.diff(np.searchsorted(ref, edges, side="right"), prepend=0, append=ref.size)
    cur_counts = np.diff(np.searchsorted(cur, edges, side="right"), prepend=0, append=cur.size)
    return _psi(ref_counts.astype(float), cur_counts.astype(float))


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


def chi2_homogeneity(ref_counts: FloatArray, cur_counts: FloatArray) -> tuple[float, float, int]:
    """Chi-squared test of homogeneity on the 2 x k table: (statistic, p-value, dof)."""
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0, 0
    from scipy.stats import chi2

    total = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / total
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = table.shape[1] - 1
    return stat, float(chi2.sf(stat, dof)), dof


def jensenshannon(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """Jensen-Shannon distance (natural log) between two count vectors."""
    p = ref_counts / ref_counts.sum()
    q = cur_counts / cur_counts.sum()
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def psi_counts(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    """PSI between two count vectors over the same categories."""
    return _psi(ref_counts, cur_counts)


def _psi(ref_counts: FloatArray, cur_counts: FloatArray) -> float:
    p = np.maximum(ref_counts / max(ref_counts.sum(), 1.0), PSI_FLOOR)
    q = np.maximum(cur_counts / max(cur_counts.sum(), 1.0), PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


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

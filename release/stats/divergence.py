"""Distances between two distributions given as counts over the same bins.

Both functions take raw counts (not proportions) so callers never normalise twice.

- PSI: ``sum((q - p) * ln(q / p))`` over bins, with proportions floored at
  :data:`PSI_FLOOR` so an empty bin does not make it infinite (the industry convention;
  0.1 "some shift", 0.25 "major shift").
- Jensen-Shannon *distance* with the **natural** logarithm, as
  ``scipy.spatial.distance.jensenshannon`` with its default base: range ``0..sqrt(ln 2)``
  (about 0.833). Drift thresholds (``monitor.drift.jensenshannon_threshold``) are in
  these units, as Evidently's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

PSI_FLOOR = 1e-4
JS_MAX = math.sqrt(math.log(2.0))  # the distance of two disjoint distributions

Counts = Sequence[float] | NDArray[np.float64] | NDArray[np.int64]


def _shares(counts: Counts) -> NDArray[np.float64]:
    arr = np.asarray(counts, dtype=np.float64)
    return arr / max(float(arr.sum()), 1.0)


def psi(reference: Counts, current: Counts) -> float:
    """Population stability index of ``current`` against ``reference`` (counts per bin)."""
    p = np.maximum(_shares(reference), PSI_FLOOR)
    q = np.maximum(_shares(current), PSI_FLOOR)
    if p.shape != q.shape:
        raise ValueError(f"bins differ: {p.shape} vs {q.shape}")
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(reference: Counts, current: Counts) -> float:
    """Jensen-Shannon distance (natural log, ``0..0.833``) between two count vectors."""
    p, q = _shares(reference), _shares(current)
    if p.shape != q.shape:
        raise ValueError(f"bins differ: {p.shape} vs {q.shape}")
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(math.sqrt(max(0.0, (kl_p + kl_q) / 2)))


def quantile_bins(sorted_reference: NDArray[np.float64], bins: int) -> NDArray[np.float64]:
    """Inner bin edges at the reference's quantiles (ties merged), for numeric PSI."""
    n = sorted_reference.size
    if n == 0:
        return np.empty(0)
    pos = np.linspace(0, 1, bins + 1)[1:-1] * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    edges = sorted_reference[lo] + (sorted_reference[hi] - sorted_reference[lo]) * (pos - lo)
    return np.unique(edges)


def bin_counts(sorted_values: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of sorted values per bin ``(-inf, e1], (e1, e2], ..., (ek, inf)``."""
    cut = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(cut, prepend=0, append=sorted_values.size).astype(np.int64)


def psi_numeric(
    sorted_reference: NDArray[np.float64], sorted_current: NDArray[np.float64], bins: int = 10
) -> float:
    """PSI of two sorted numeric samples, binned at the reference's deciles (by default)."""
    edges = quantile_bins(sorted_reference, bins)
    return psi(bin_counts(sorted_reference, edges), bin_counts(sorted_current, edges))

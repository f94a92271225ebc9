"""Seeded, vectorised bootstrap confidence intervals (percentile method).

No Python loop runs per resample. Confusion-matrix metrics draw the resampled confusion
matrices directly: resampling ``n`` rows with replacement puts a multinomial number of
rows in each (true, predicted) cell, so ``Generator.multinomial(n, cells / n, B)`` is
the row bootstrap exactly, at a cost independent of ``n``. The other metrics draw one
``(chunk, n)`` index matrix at a time and reduce it with gathers and ``bincount``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from release.analysis import metrics as m

# Upper bound on the entries of one resample index matrix (memory: 8 bytes each).
CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its bootstrap interval (None where undefined)."""

    value: float | None
    low: float | None
    high: float | None
    rows: int


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator for one named slice: same seed and name, same numbers, whatever else runs."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def resample_metric(
    metric: str, out: m.Outcomes, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The metric on ``resamples`` bootstrap resamples of the rows: shape ``(resamples,)``."""
    n = len(out)
    if resamples <= 0 or n == 0:
        return np.empty(0)
    if metric in m.CONFUSION_METRICS:
        cm = m.confusion(out.y_true, out.y_pred, out.k)
        draws = rng.multinomial(n, cm.ravel() / n, size=resamples)
        return m.from_confusion(metric, draws.reshape(resamples, out.k, out.k))
    chunk = max(1, CHUNK_CELLS // n)
    parts = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        parts.append(_reduce(metric, out, idx))
    return np.concatenate(parts)


def _reduce(metric: str, out: m.Outcomes, idx: np.ndarray) -> np.ndarray:
    """The metric for each row of a resample index matrix ``(size, n)``."""
    n = idx.shape[1]
    if metric in m.MEAN_METRICS:
        values = m.row_values(metric, out)
        return np.asarray(m.finish_mean(metric, values[idx].mean(axis=1)))
    if metric == "r2":
        y = out.y_true.astype(np.float64)
        e = (y - out.y_pred) ** 2
        yi = y[idx]
        return np.asarray(
            m.r2_from_sums(float(n), yi.sum(axis=1), (yi * yi).sum(axis=1), e[idx].sum(axis=1))
        )
    if metric == "roc_auc":
        size = idx.shape[0]
        offsets = np.arange(size)[:, None]
        results = []
        for score, is_pos in m.auc_scores(out):
            groups, g = m.tie_groups(score)
            # One cell per (score group, positive?) and resample: counts via one bincount.
            cell = groups * 2 + is_pos.astype(np.int64)
            flat = (cell[idx] + offsets * (2 * g)).ravel()
            counts = np.bincount(flat, minlength=size * 2 * g).reshape(size, g, 2)
            results.append(m.auc_from_group_counts(counts[:, :, 1], counts[:, :, 0]))
        stacked = np.vstack(results)
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(stacked)
            total = np.where(valid, stacked, 0.0).sum(axis=0)
            count = valid.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)
    raise ValueError(f"unknown metric {metric!r}")


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float] | None:
    """The central ``confidence`` percentile interval of the finite samples, or None."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def estimate(
    metric: str,
    out: m.Outcomes,
    *,
    resamples: int,
    confidence: float,
    rng: np.random.Generator,
) -> Estimate:
    """The metric on ``out`` with a percentile bootstrap interval."""
    value = m.point(metric, out)
    if not np.isfinite(value):
        return Estimate(None, None, None, len(out))
    interval = percentile_interval(resample_metric(metric, out, resamples, rng), confidence)
    if interval is None:
        return Estimate(value, None, None, len(out))
    return Estimate(value, interval[0], interval[1], len(out))

"""Seeded, vectorised bootstrap confidence intervals (percentile method), and the
interval each metric gets: Wilson for accuracy and wherever a share's bootstrap collapses.

No Python loop runs per resample. Confusion-matrix metrics draw the resampled confusion
matrices directly: resampling ``n`` rows with replacement puts a multinomial number of
rows in each (true, predicted) cell, so ``Generator.multinomial(n, cells / n, B)`` is
the row bootstrap exactly, at a cost independent of ``n``. The other metrics draw one
``(chunk, n)`` index matrix at a time and reduce it with gathers and ``bincount``.

Above ``exact_rows`` rows (default 5,000) the mean metrics (MAE, RMSE, log loss) and
binary ROC AUC resample *cells* instead of rows, so the cost no longer grows with ``n``:
rows are grouped into at most 250 contiguous cells of the sorted values (scores, and
the label, for AUC); the cell counts are drawn exactly (multinomial) and what happens
inside a cell is summarised by its moments: a cell's resampled sum is its count times
its mean plus a normal term with the cell's spread (the two cells at each end, where
tails live, are resampled row by row); a cell's positive/negative pairs
are concordant at the cell's own measured rate. With cells of at most 1/250 of the
values the omitted within-cell variation is negligible; the test suite checks these
intervals against the row bootstrap. R² and multiclass AUC always resample rows.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from release.stats import metrics as m
from release.stats import proportions

# Upper bound on the entries of one resample index matrix (memory: 8 bytes each).
CHUNK_CELLS = 2_000_000
# Above this many rows, mean metrics and binary AUC resample cells of sorted values.
EXACT_ROWS = 5_000
MAX_BINS = 250
MIN_BIN_ROWS = 40
TAIL_CELLS = 2  # cells at each end of a mean metric's values resampled row by row


@dataclass(frozen=True)
class Estimate:
    """A metric's value with its interval (None where undefined) and how it was made.

    ``method`` is ``wilson`` for accuracy (a proportion: the Wilson score interval is exact
    enough at any count, where a percentile bootstrap of 45/45 collapses to a point),
    ``bootstrap`` otherwise, and ``wilson_fallback`` when a share-like metric's bootstrap
    collapsed (all resamples equal) and the Wilson interval of ``value * rows`` stands in.
    """

    value: float | None
    low: float | None
    high: float | None
    rows: int
    method: str | None = None


def rng_for(seed: int, name: str) -> np.random.Generator:
    """A generator for one named slice: same seed and name, same numbers, whatever else runs."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def resample_metric(
    metric: str,
    out: m.Outcomes,
    resamples: int,
    rng: np.random.Generator,
    *,
    exact_rows: int = EXACT_ROWS,
) -> np.ndarray:
    """The metric on ``resamples`` bootstrap resamples of the rows: shape ``(resamples,)``."""
    n = len(out)
    if resamples <= 0 or n == 0:
        return np.empty(0)
    if metric in m.CONFUSION_METRICS:
        cm = m.confusion(out.y_true, out.y_pred, out.k)
        draws = rng.multinomial(n, cm.ravel() / n, size=resamples)
        return m.from_confusion(metric, draws.reshape(resamples, out.k, out.k))
    if n > exact_rows and metric in m.MEAN_METRICS:
        return _binned_mean(metric, m.row_values(metric, out), resamples, rng)
    if n > exact_rows and metric == "roc_auc" and out.k == 2:
        return _binned_auc(out, resamples, rng)
    chunk = max(1, CHUNK_CELLS // n)
    parts = []
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(size, n))
        parts.append(_reduce(metric, out, idx))
    return np.concatenate(parts)


def _bin_edges(sizes: np.ndarray) -> np.ndarray:
    """Start positions of contiguous cells over units of ``sizes`` rows (ties never split)."""
    n = int(sizes.sum())
    bins = max(1, min(MAX_BINS, n // MIN_BIN_ROWS))
    before = np.cumsum(sizes) - sizes
    # A unit starts a new cell when the rows before it cross the next multiple of n / bins.
    cell = np.floor(before * bins / n).astype(np.int64)
    return np.flatnonzero(np.r_[True, np.diff(cell) > 0])


def _binned_mean(
    metric: str, values: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap a mean from cells of sorted values: exact counts, moment-matched sums.

    The extreme cells (where a heavy tail makes a normal sum a poor fit) are resampled
    row by row.
    """
    n = values.shape[0]
    ordered = np.sort(values)
    starts = _bin_edges(np.ones(n, dtype=np.int64))
    sizes = np.diff(np.r_[starts, n])
    sums = np.add.reduceat(ordered, starts)
    means = sums / sizes
    squares = np.add.reduceat((ordered - np.repeat(means, sizes)) ** 2, starts)
    spread = np.sqrt(squares / sizes)
    counts = rng.multinomial(n, sizes / n, size=resamples)
    exact = np.zeros(len(starts), dtype=bool)
    exact[:TAIL_CELLS] = True
    exact[-TAIL_CELLS:] = True
    smooth = counts * ~exact
    noise = rng.standard_normal(counts.shape)
    total = smooth @ means + (np.sqrt(smooth) * noise) @ spread
    for cell in np.flatnonzero(exact):
        rows = ordered[starts[cell] : starts[cell] + sizes[cell]]
        k = counts[:, cell]
        width = int(k.max(initial=0))
        if width == 0:
            continue
        draws = rows[rng.integers(0, rows.shape[0], size=(resamples, width))]
        total = total + np.where(np.arange(width) < k[:, None], draws, 0.0).sum(axis=1)
    return np.asarray(m.finish_mean(metric, np.maximum(total / n, 0.0)))


def _binned_auc(out: m.Outcomes, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap binary ROC AUC from cells of sorted scores, with each cell's own AUC."""
    score, is_pos = m.auc_scores(out)[0]
    groups, g = m.tie_groups(score)
    pos_g = np.bincount(groups, weights=is_pos.astype(np.float64), minlength=g)
    neg_g = np.bincount(groups, weights=(~is_pos).astype(np.float64), minlength=g)
    starts = _bin_edges((pos_g + neg_g).astype(np.int64))
    pos_b = np.add.reduceat(pos_g, starts)
    neg_b = np.add.reduceat(neg_g, starts)
    # Concordant pairs inside each cell (ties count one half), measured on the data.
    neg_below_g = np.cumsum(neg_g) - neg_g
    neg_below_b = np.cumsum(neg_b) - neg_b
    cell_of_g = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, g]))
    inside = pos_g * (neg_below_g - neg_below_b[cell_of_g] + 0.5 * neg_g)
    pairs = pos_b * neg_b
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(pairs > 0, np.add.reduceat(inside, starts) / pairs, 0.5)
    probs = np.column_stack([pos_b, neg_b]).ravel() / len(out)
    counts = rng.multinomial(len(out), probs, size=resamples).reshape(resamples, -1, 2)
    pos, neg = counts[:, :, 0].astype(np.float64), counts[:, :, 1].astype(np.float64)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + rate * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


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
    """The metric on ``out`` with an interval that holds at small counts (see Estimate)."""
    value = m.point(metric, out)
    n = len(out)
    if not np.isfinite(value):
        return Estimate(None, None, None, n)
    if metric == "accuracy":
        hits = int(np.count_nonzero(out.correct()))
        w = proportions.wilson(hits, n, confidence)
        assert w is not None  # n > 0 when the value is finite
        return Estimate(value, w.low, w.high, n, "wilson")
    interval = percentile_interval(resample_metric(metric, out, resamples, rng), confidence)
    if interval is None:
        return Estimate(value, None, None, n)
    if interval[0] == interval[1] and metric in m.RATE_METRICS and 0 <= value <= 1:
        w = proportions.wilson(value * n, n, confidence)
        assert w is not None
        return Estimate(value, w.low, w.high, n, "wilson_fallback")
    return Estimate(value, interval[0], interval[1], n, "bootstrap")

"""Fairness beyond accuracy: per-group rates and the largest gaps, for each protected attribute.

For each column of ``data.protected`` the test rows are split into groups (its values,
or its bins when ``evaluate.slices.bins`` declares some) and measured:

- binary classification: selection rate ``P(pred = positive)``, true-positive rate and
  false-positive rate per group (Wilson intervals), and the largest gaps between groups:
  the **demographic parity difference** (max - min selection rate) and the **equalized
  odds difference** (the larger of the TPR and FPR ranges), as fairlearn defines them;
- multiclass: accuracy per group and its range (selection rates need one positive class);
- regression: mean error (signed) and mean absolute error per group and the MAE range.

Gap intervals come from a vectorised bootstrap that resamples the (group, truth,
prediction) cell counts as a multinomial (the row bootstrap exactly, at a cost independent
of the rows); the regression gap draws each group's MAE from its normal approximation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from release.analysis.slices import column_levels
from release.config import Settings
from release.stats import metrics as m
from release.stats import proportions
from release.stats.bootstrap import percentile_interval, rng_for

GAP_KEYS = ("demographic_parity_difference", "equalized_odds_difference", "accuracy_difference")


def _rate(k: float, n: float, confidence: float) -> dict[str, Any]:
    if n <= 0:
        return {"value": None, "ci": [None, None], "n": 0}
    w = proportions.wilson(k, n, confidence)
    assert w is not None
    return {"value": k / n, "ci": [w.low, w.high], "n": int(n)}


def _range(values: np.ndarray) -> np.ndarray:
    """max - min over the last axis, ignoring undefined (NaN) groups."""
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(values)
        hi = np.where(valid, values, -np.inf).max(axis=-1)
        lo = np.where(valid, values, np.inf).min(axis=-1)
        return np.where(valid.sum(axis=-1) >= 2, hi - lo, np.nan)


def _binary_rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Selection rate, TPR, FPR and accuracy from counts ``(..., G, truth, pred)``."""
    cells = cells.astype(np.float64)
    tn, fp = cells[..., 0, 0], cells[..., 0, 1]
    fn, tp = cells[..., 1, 0], cells[..., 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        total = tn + fp + fn + tp
        return {
            "selection_rate": (tp + fp) / total,
            "tpr": tp / (tp + fn),
            "fpr": fp / (fp + tn),
            "accuracy": (tp + tn) / total,
        }


def _gaps(rates: dict[str, np.ndarray], binary: bool) -> dict[str, np.ndarray]:
    if binary:
        return {
            "demographic_parity_difference": _range(rates["selection_rate"]),
            "equalized_odds_difference": np.fmax(_range(rates["tpr"]), _range(rates["fpr"])),
            "accuracy_difference": _range(rates["accuracy"]),
        }
    return {"accuracy_difference": _range(rates["accuracy"])}


def _classification(
    codes: np.ndarray,
    names: list[str],
    out: m.Outcomes,
    resamples: int,
    confidence: float,
    rng: Any,
) -> dict[str, Any]:
    binary = out.k == 2
    groups = len(names)
    if binary:
        truth, pred = out.y_true, out.y_pred
    else:  # right/wrong as the only "classes"
        truth, pred = np.ones_like(out.y_true), out.correct().astype(np.int64)
    flat = codes * 4 + truth * 2 + pred
    cells = np.bincount(flat, minlength=groups * 4).reshape(groups, 2, 2)
    rates = _binary_rates(cells)
    entries = []
    for g, name in enumerate(names):
        c = cells[g]
        entry: dict[str, Any] = {"group": name, "rows": int(c.sum())}
        entry["accuracy"] = _rate(c[0, 0] + c[1, 1], c.sum(), confidence)
        if binary:
            entry["selection_rate"] = _rate(c[0, 1] + c[1, 1], c.sum(), confidence)
            entry["tpr"] = _rate(c[1, 1], c[1].sum(), confidence)
            entry["fpr"] = _rate(c[0, 1], c[0].sum(), confidence)
        entries.append(entry)
    point = _gaps(rates, binary)
    draws = None
    if resamples > 0:
        n = int(cells.sum())
        sampled = rng.multinomial(n, cells.ravel() / n, size=resamples)
        draws = _gaps(_binary_rates(sampled.reshape(resamples, groups, 2, 2)), binary)
    gaps = {}
    for key, value in point.items():
        interval = percentile_interval(draws[key], confidence) if draws is not None else None
        if interval is not None and interval[0] == interval[1]:
            # A collapsed bootstrap (every group all right, say) is no interval: bound the
            # gap by the groups' own Wilson intervals instead.
            interval = _wilson_gap(entries, GAP_RATES[key])
        gaps[key] = {
            "value": None if not np.isfinite(value) else float(value),
            "ci": list(interval) if interval else [None, None],
        }
    return {"groups": entries, "gaps": gaps}


GAP_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "accuracy_difference": ("accuracy",),
}


def _wilson_gap(entries: list[dict[str, Any]], rates: tuple[str, ...]) -> tuple[float, float]:
    """Conservative bounds of a max - min gap from per-group Wilson intervals."""
    low, high = 0.0, 0.0
    for rate in rates:
        cis = [e[rate]["ci"] for e in entries if e[rate]["value"] is not None]
        if len(cis) < 2:
            continue
        low = max(low, max(c[0] for c in cis) - min(c[1] for c in cis))
        high = max(high, max(c[1] for c in cis) - min(c[0] for c in cis))
    return low, high


def _regression(
    codes: np.ndarray,
    names: list[str],
    out: m.Outcomes,
    resamples: int,
    confidence: float,
    rng: Any,
) -> dict[str, Any]:
    err = out.y_pred - out.y_true
    entries, maes, ses = [], [], []
    for g, name in enumerate(names):
        e = err[codes == g]
        mae = float(np.abs(e).mean()) if e.size else float("nan")
        se = float(np.abs(e).std(ddof=1) / np.sqrt(e.size)) if e.size > 1 else float("nan")
        maes.append(mae)
        ses.append(se)
        entries.append(
            {
                "group": name,
                "rows": int(e.size),
                "mean_error": float(e.mean()) if e.size else None,
                "mae": mae if e.size else None,
            }
        )
    mae_arr, se_arr = np.array(maes), np.array(ses)
    value = _range(mae_arr)
    interval = None
    if resamples > 0:
        draws = mae_arr + rng.standard_normal((resamples, len(names))) * np.nan_to_num(se_arr)
        interval = percentile_interval(_range(draws), confidence)
    gap = {
        "value": None if not np.isfinite(value) else float(value),
        "ci": list(interval) if interval else [None, None],
    }
    return {"groups": entries, "gaps": {"mae_difference": gap}}


def analyse_fairness(
    settings: Settings, test_df: Any, out: m.Outcomes, classes: list[Any] | None
) -> dict[str, Any] | None:
    """The ``fairness`` block of ``slices.json``, or None without protected attributes."""
    protected = [c for c in settings.data.protected if c in test_df.columns]
    if not protected:
        return None
    ev = settings.evaluate
    attributes = []
    for column in protected:
        levels = column_levels(test_df, column, ev.slices, "data.protected")
        codes = np.full(len(test_df), -1, dtype=np.int64)
        for i, level in enumerate(levels):
            codes[level.mask] = i
        keep = codes >= 0
        names = [
            level.name.split("=", 1)[1] if "=" in level.name else level.name for level in levels
        ]
        sub = out.take(np.flatnonzero(keep))
        rng = rng_for(ev.seed, f"fairness:{column}")
        part = (
            _regression(codes[keep], names, sub, ev.bootstrap, ev.confidence, rng)
            if out.task == "regression"
            else _classification(codes[keep], names, sub, ev.bootstrap, ev.confidence, rng)
        )
        attributes.append({"attribute": column, **part})
    positive = classes[-1] if classes and out.k == 2 else None
    return {
        "attributes": attributes,
        "positive_class": positive,
        "used_as_features": bool(settings.train.use_protected),
        "largest_gap": largest_gap(attributes),
    }


def largest_gap(attributes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The largest gap of any kind over all attributes: ``{attribute, gap, value, ci}``."""
    best: dict[str, Any] | None = None
    for attr in attributes:
        for key, gap in attr.get("gaps", {}).items():
            value = gap.get("value")
            if value is not None and (best is None or value > best["value"]):
                best = {"attribute": attr["attribute"], "gap": key, **gap}
    return best

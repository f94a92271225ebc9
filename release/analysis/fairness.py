"""Fairness beyond accuracy: per-group rates and the largest gaps, for each protected attribute.

For each column of ``data.protected`` the test rows are split into groups (its values,
or its bins when ``evaluate.slices.bins`` declares some) and measured:

- binary classification: selection rate ``P(pred = positive)``, true-positive rate and
  false-positive rate per group (Wilson intervals), and the largest gaps between groups:
  the **demographic parity difference** (max - min selection rate) and the **equalized
  odds difference** (the larger of the TPR and FPR ranges), as fairlearn defines them;
- multiclass: accuracy per group and, for each class one-vs-rest, its selection rate,
  TPR and FPR (``per_class``; macro-averaged TPR and FPR beside them); the gaps are the
  worst class's (fairlearn's differences on ``y == c`` against ``pred == c``, the
  largest over ``c``), named in the gap's ``class``;
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


def _rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """One-vs-rest rates per group and class from counts ``(..., G, truth, pred)``.

    ``selection_rate``, ``tpr`` and ``fpr`` are ``(..., G, k)`` (class ``c`` as the
    positive one: ``P(pred = c)``, ``P(pred = c | y = c)``, ``P(pred = c | y != c)``);
    ``accuracy`` is ``(..., G)``. NaN where a rate has no rows.
    """
    cells = cells.astype(np.float64)
    total = cells.sum(axis=(-2, -1))[..., None]
    predicted, actual = cells.sum(axis=-2), cells.sum(axis=-1)
    hits = np.diagonal(cells, axis1=-2, axis2=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "selection_rate": predicted / total,
            "tpr": hits / actual,
            "fpr": (predicted - hits) / (total - actual),
            "accuracy": hits.sum(axis=-1) / total[..., 0],
        }


def _class_ranges(rates: np.ndarray) -> np.ndarray:
    """Per class, the range over groups: ``(..., G, k)`` to ``(..., k)``."""
    return _range(np.swapaxes(rates, -1, -2))


def _class_gaps(rates: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per class (one-vs-rest): the demographic parity and equalized odds differences."""
    dp = _class_ranges(rates["selection_rate"])
    return dp, np.fmax(_class_ranges(rates["tpr"]), _class_ranges(rates["fpr"]))


def _gaps(rates: dict[str, np.ndarray], binary: bool) -> dict[str, np.ndarray]:
    """The gaps: binary of the positive class (code 1); multiclass of the worst class
    (fairlearn's difference for each class one-vs-rest, the largest)."""
    dp, eo = _class_gaps(rates)
    accuracy = _range(rates["accuracy"])
    if binary:
        dp, eo = dp[..., 1], eo[..., 1]
    else:
        dp, eo = np.fmax.reduce(dp, axis=-1), np.fmax.reduce(eo, axis=-1)
    return {
        "demographic_parity_difference": dp,
        "equalized_odds_difference": eo,
        "accuracy_difference": accuracy,
    }


def _worst_class(values: np.ndarray) -> int | None:
    return None if np.isnan(values).all() else int(np.nanargmax(values))


def _group_entry(
    name: str, c: np.ndarray, labels: list[str], confidence: float, rates: dict[str, Any]
) -> dict[str, Any]:
    """One group's rows, accuracy and rates (binary: of the positive class; multiclass:
    per class one-vs-rest, and macro-averaged TPR and FPR)."""
    total = c.sum()
    entry: dict[str, Any] = {"group": name, "rows": int(total)}
    entry["accuracy"] = _rate(np.trace(c), total, confidence)

    def one_vs_rest(k: int) -> dict[str, Any]:
        actual = c[k].sum()
        return {
            "selection_rate": _rate(c[:, k].sum(), total, confidence),
            "tpr": _rate(c[k, k], actual, confidence),
            "fpr": _rate(c[:, k].sum() - c[k, k], total - actual, confidence),
        }

    if len(labels) == 2:
        entry.update(one_vs_rest(1))
        return entry
    entry["per_class"] = {label: one_vs_rest(k) for k, label in enumerate(labels)}
    with np.errstate(invalid="ignore"):
        for key in ("tpr", "fpr"):
            mean = float(np.nanmean(rates[key])) if np.isfinite(rates[key]).any() else None
            entry[f"macro_{key}"] = mean
    return entry


def _classification(
    codes: np.ndarray,
    names: list[str],
    out: m.Outcomes,
    labels: list[str],
    resamples: int,
    confidence: float,
    rng: Any,
) -> dict[str, Any]:
    k, groups = out.k, len(names)
    flat = (codes * k + out.y_true) * k + out.y_pred
    cells = np.bincount(flat, minlength=groups * k * k).reshape(groups, k, k)
    rates = _rates(cells)
    entries = [
        _group_entry(name, cells[g], labels, confidence, {r: rates[r][g] for r in ("tpr", "fpr")})
        for g, name in enumerate(names)
    ]
    binary = k == 2
    point = _gaps(rates, binary)
    draws = None
    if resamples > 0:
        n = int(cells.sum())
        sampled = rng.multinomial(n, cells.ravel() / n, size=resamples)
        draws = _gaps(_rates(sampled.reshape(resamples, groups, k, k)), binary)
    worst = dict(
        zip(
            ("demographic_parity_difference", "equalized_odds_difference"),
            (_worst_class(g) for g in _class_gaps(rates)),
            strict=True,
        )
    )
    gaps: dict[str, dict[str, Any]] = {}
    for key, value in point.items():
        interval = percentile_interval(draws[key], confidence) if draws is not None else None
        if interval is not None and interval[0] == interval[1]:
            # A collapsed bootstrap (every group all right, say) is no interval: bound the
            # gap by the groups' own Wilson intervals instead.
            interval = _wilson_gap(entries, GAP_RATES[key], labels)
        gaps[key] = {
            "value": None if not np.isfinite(value) else float(value),
            "ci": list(interval) if interval else [None, None],
        }
        code = worst.get(key)
        if not binary and code is not None:
            gaps[key]["class"] = labels[code]
    return {"groups": entries, "gaps": gaps}


GAP_RATES = {
    "demographic_parity_difference": ("selection_rate",),
    "equalized_odds_difference": ("tpr", "fpr"),
    "accuracy_difference": ("accuracy",),
}


def _wilson_gap(
    entries: list[dict[str, Any]], rates: tuple[str, ...], labels: list[str]
) -> tuple[float, float]:
    """Conservative bounds of a max - min gap from per-group Wilson intervals (of the
    worst class, one-vs-rest, in multiclass)."""
    views = [entries]
    if len(labels) > 2 and rates != ("accuracy",):
        views = [[e["per_class"][label] for e in entries] for label in labels]
    low, high = 0.0, 0.0
    for view in views:
        for rate in rates:
            cis = [e[rate]["ci"] for e in view if e[rate]["value"] is not None]
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
        if out.task == "regression":
            part = _regression(codes[keep], names, sub, ev.bootstrap, ev.confidence, rng)
        else:
            labels = [str(c) for c in classes] if classes else [str(i) for i in range(out.k)]
            part = _classification(
                codes[keep], names, sub, labels, ev.bootstrap, ev.confidence, rng
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

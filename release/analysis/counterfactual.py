"""Counterfactual examples: the smallest single-feature change that fixes a mistake.

For each misclassified row, every feature is tried on its own: numeric features over a
grid of the test set's quantiles, categorical ones over their observed categories. Among
the changes that make the model predict the true label, the cheapest wins: a numeric
change costs ``|new - old| / std`` of the feature (refined by bisection towards the
original value, and rounded for integer-valued columns when that still flips), a
categorical change costs 1. All candidates of a round are predicted in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from release.analysis.explain import is_numeric, predict_codes

GRID = 41  # quantile grid for numeric features (every 2.5%)
MAX_CATEGORIES = 30
BISECT_STEPS = 12


@dataclass
class _Candidate:
    example: int
    feature: str
    value: Any
    cost: float
    numeric: bool


def _predict_codes(model: Any, frame: Any, index: Any) -> np.ndarray:
    return predict_codes(model, frame, index)[0]


def _variants(base: Any, changes: list[tuple[int, str, Any]]) -> Any:
    """One row per change: row ``example`` of ``base`` with ``feature`` set to ``value``."""
    import pandas as pd

    frame = base.iloc[[c[0] for c in changes]].reset_index(drop=True).copy()
    for col in frame.columns:
        positions = [i for i, c in enumerate(changes) if c[1] == col]
        if positions:
            values = [changes[i][2] for i in positions]
            if is_numeric(frame[col]):
                frame[col] = frame[col].astype(np.float64)
                frame.loc[positions, col] = np.asarray(values, dtype=np.float64)
            else:
                series = frame[col].astype(object)
                series.iloc[positions] = values
                frame[col] = pd.Series(series, dtype=object)
    return frame


def find(
    model: Any,
    rows: Any,
    y_true_codes: np.ndarray,
    reference: Any,
    classes: list[Any],
) -> list[dict[str, Any] | None]:
    """For each row of ``rows`` (features only), the cheapest single-feature fix or None."""
    import pandas as pd

    index = pd.Index(classes)
    base = rows.reset_index(drop=True)
    stats = _feature_stats(base, reference)

    changes: list[tuple[int, str, Any]] = []
    for i in range(len(base)):
        for col, st in stats.items():
            original = base.at[i, col]
            if st["numeric"]:
                for v in st["grid"]:
                    if pd.isna(original) or float(v) != float(original):
                        changes.append((i, col, float(v)))
            else:
                for cat in st["categories"]:
                    if pd.isna(original) or cat != original:
                        changes.append((i, col, cat))
    if not changes:
        return [None] * len(base)
    flipped = (
        _predict_codes(model, _variants(base, changes), index)
        == y_true_codes[[c[0] for c in changes]]
    )

    best: dict[tuple[int, str], _Candidate] = {}
    for (i, col, value), ok in zip(changes, flipped, strict=True):
        if not ok:
            continue
        st = stats[col]
        original = base.at[i, col]
        if st["numeric"]:
            start = st["median"] if pd.isna(original) else float(original)
            cost = abs(float(value) - start) / st["std"]
        else:
            cost = 1.0
        key = (i, col)
        if key not in best or cost < best[key].cost:
            best[key] = _Candidate(i, col, value, cost, st["numeric"])

    _refine(model, base, best, stats, y_true_codes, index)

    results: list[dict[str, Any] | None] = []
    for i in range(len(base)):
        options = sorted(
            (c for c in best.values() if c.example == i), key=lambda c: (c.cost, c.feature)
        )
        if not options:
            results.append(None)
            continue
        results.append(_fix(options, base, classes, int(y_true_codes[i])))
    return results


def _feature_stats(base: Any, reference: Any) -> dict[str, dict[str, Any]]:
    """Per feature, what a change may be: a quantile grid (numeric) or frequent categories."""
    stats: dict[str, dict[str, Any]] = {}
    for col in base.columns:
        ref = reference[col]
        if is_numeric(ref):
            values = ref.to_numpy(dtype=np.float64, na_value=np.nan)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            std = float(values.std()) or 1.0
            grid = np.unique(np.quantile(values, np.linspace(0, 1, GRID)))
            integral = bool(np.all(values == np.round(values)))
            stats[col] = {
                "numeric": True,
                "std": std,
                "grid": grid,
                "integral": integral,
                "median": float(np.median(values)),
            }
        else:
            cats = ref.dropna().astype(object).value_counts().index[:MAX_CATEGORIES]
            stats[col] = {"numeric": False, "categories": list(cats)}
    return stats


def _fix(options: list[_Candidate], base: Any, classes: list[Any], code: int) -> dict[str, Any]:
    """The cheapest fix of one row, with up to three alternatives."""
    import pandas as pd

    c = options[0]
    original = base.at[c.example, c.feature]
    return {
        "feature": c.feature,
        "from": None if pd.isna(original) else original,
        "to": c.value,
        "change": (c.value - float(original)) if c.numeric and not pd.isna(original) else None,
        "cost": c.cost,
        "cost_unit": "standard deviations" if c.numeric else "one category change",
        "new_prediction": classes[code],
        "alternatives": [
            {"feature": o.feature, "to": o.value, "cost": o.cost} for o in options[1:4]
        ],
    }


def _refine(
    model: Any,
    base: Any,
    best: dict[tuple[int, str], _Candidate],
    stats: dict[str, dict[str, Any]],
    y_true_codes: np.ndarray,
    index: Any,
) -> None:
    """Bisect each numeric flip towards the original value; round integer columns."""
    import pandas as pd

    numeric = [c for c in best.values() if c.numeric and not pd.isna(base.at[c.example, c.feature])]
    if not numeric:
        return
    lo = np.array([float(base.at[c.example, c.feature]) for c in numeric])  # does not flip
    hi = np.array([float(c.value) for c in numeric])  # flips
    targets = y_true_codes[[c.example for c in numeric]]
    for _ in range(BISECT_STEPS):
        mid = (lo + hi) / 2
        changes = [(c.example, c.feature, float(v)) for c, v in zip(numeric, mid, strict=True)]
        ok = _predict_codes(model, _variants(base, changes), index) == targets
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    # A readable value: the boundary rounded away from the original to a whole number
    # (integer columns) or to a hundredth of a standard deviation, if that still flips.
    rounded = np.array(
        [
            _round_away(h, lo_, 1.0 if stats[c.feature]["integral"] else _step(stats[c.feature]))
            for c, h, lo_ in zip(numeric, hi, lo, strict=True)
        ]
    )
    changes = [(c.example, c.feature, float(v)) for c, v in zip(numeric, rounded, strict=True)]
    ok = _predict_codes(model, _variants(base, changes), index) == targets
    for c, h, r, good in zip(numeric, hi, rounded, ok, strict=True):
        value = float(r) if good else float(h)
        c.value = value
        c.cost = abs(value - float(base.at[c.example, c.feature])) / stats[c.feature]["std"]


def _step(st: dict[str, Any]) -> float:
    """A round step near a hundredth of the feature's standard deviation."""
    return float(10 ** np.floor(np.log10(st["std"] / 100)))


def _round_away(value: float, origin: float, step: float) -> float:
    """``value`` rounded to a multiple of ``step``, away from ``origin``."""
    scaled = value / step
    rounded = np.ceil(scaled) if value > origin else np.floor(scaled)
    return float(np.round(rounded * step, 12))

"""Global explanations: permutation importance and a shallow surrogate decision tree.

* Permutation importance: how much the primary metric drops when one feature's values
  are shuffled among the test rows (mean and standard deviation over repeats).
* Surrogate: a decision tree of small depth fitted to the *model's* predictions on half
  of the test rows; its fidelity (agreement with the model, R² for regression) is
  measured on the other half, and its leaves are written out as readable rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from release.stats import metrics as m

# Categories beyond this many (by frequency) share no indicator column in the surrogate.
SURROGATE_CATEGORIES = 20
SURROGATE_MAX_FIT_ROWS = 50_000
# Rows per prediction call when scoring permuted copies.
PREDICT_ROWS = 200_000


def is_numeric(series: Any) -> bool:
    """Numeric (and not boolean) columns are split by thresholds, the rest by category."""
    import pandas as pd

    return bool(
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    )


def predict_codes(model: Any, x: Any, index: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Class codes (positions in ``index``) and probabilities in ``index`` order.

    The model's own ``classes_`` order is honoured, so a model that knows fewer classes
    (or orders them differently) still lines up with the analysis' classes.
    """
    if not hasattr(model, "predict_proba"):
        return np.asarray(index.get_indexer(np.asarray(model.predict(x)))), None
    raw = np.asarray(model.predict_proba(x), dtype=np.float64)
    own = np.asarray(getattr(model, "classes_", index))
    columns = index.get_indexer(own)
    proba = np.zeros((raw.shape[0], len(index)))
    proba[:, columns[columns >= 0]] = raw[:, columns >= 0]
    return np.asarray(columns[raw.argmax(axis=1)]), proba


def _predict(model: Any, x: Any, task: str, metric: str, index: Any) -> tuple[Any, Any]:
    """Predictions (class codes, or values) and probabilities when the metric needs them."""
    if task == "regression":
        return np.asarray(model.predict(x), dtype=np.float64), None
    codes, proba = predict_codes(model, x, index)
    if proba is None and metric in ("roc_auc", "log_loss"):
        raise ValueError(f"{metric} needs a model with predict_proba")
    return codes, proba


def permutation_importance(
    model: Any,
    x: Any,
    y: np.ndarray,
    *,
    metric: str,
    task: str,
    classes: list[Any] | None,
    repeats: int,
    max_rows: int,
    top: int,
    seed: int,
) -> dict[str, Any]:
    """Permutation importance of each feature column on (a sample of) the test rows.

    Every (feature, repeat) copy of the sample is stacked into one frame and predicted
    in a few large calls: per-call overhead, not rows, dominates pipeline prediction.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = np.arange(len(x))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    xs = x.iloc[rows].reset_index(drop=True)
    ys = y[rows]
    n = len(xs)
    repeats = max(1, repeats)
    index = pd.Index(classes) if classes is not None else None
    k = 0 if classes is None else len(classes)

    def score(pred: Any, proba: Any) -> float:
        return m.point(metric, m.Outcomes(task, ys, pred, proba, k))

    base_pred, base_proba = _predict(model, xs, task, metric, index)
    baseline = score(base_pred, base_proba)
    sign = 1.0 if m.higher_is_better(metric) else -1.0
    columns = list(xs.columns)
    blocks = []
    for col in columns:
        for _ in range(repeats):
            block = xs.copy()
            block[col] = xs[col].to_numpy()[rng.permutation(n)]
            blocks.append(block)
    drops = np.empty((len(columns), repeats))
    per_call = max(1, PREDICT_ROWS // max(n, 1))
    for start in range(0, len(blocks), per_call):
        stacked = pd.concat(blocks[start : start + per_call], ignore_index=True)
        pred, proba = _predict(model, stacked, task, metric, index)
        for j in range(len(blocks[start : start + per_call])):
            b = start + j
            part = slice(j * n, (j + 1) * n)
            value = score(pred[part], None if proba is None else proba[part])
            drops[b // repeats, b % repeats] = sign * (baseline - value)
    features: list[dict[str, Any]] = [
        {"feature": str(col), "mean": float(d.mean()), "std": float(d.std())}
        for col, d in zip(columns, drops, strict=True)
    ]
    features.sort(key=lambda f: (-float(f["mean"]), str(f["feature"])))
    worse = "higher" if m.higher_is_better(metric) else "lower"
    return {
        "metric": metric,
        "baseline": baseline,
        "rows": n,
        "repeats": repeats,
        "note": f"how much {metric} gets worse when the feature is shuffled "
        f"(baseline {worse} is better; larger = more important)",
        "features": features[: max(1, top)],
    }


def encode_for_tree(x: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Numeric columns as floats (NaN kept), categorical ones as 0/1 indicators."""
    blocks: list[np.ndarray] = []
    spec: list[dict[str, Any]] = []
    for col in x.columns:
        series = x[col]
        if is_numeric(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            blocks.append(values[:, None])
            spec.append(
                {"column": str(col), "kind": "numeric", "missing": bool(np.isnan(values).any())}
            )
            continue
        text = series.astype(object).where(series.notna(), None)
        top = text.value_counts(dropna=True).index[:SURROGATE_CATEGORIES]
        for category in top:
            blocks.append((text == category).to_numpy(dtype=np.float64)[:, None])
            spec.append({"column": str(col), "kind": "category", "value": str(category)})
    matrix = np.hstack(blocks) if blocks else np.empty((len(x), 0))
    return matrix, spec


def short_number(value: float, digits: int = 4) -> str:
    """``value`` with ``digits`` significant digits, without exponent notation."""
    return np.format_float_positional(
        float(value), precision=digits, unique=True, fractional=False, trim="-"
    )


def _condition(spec: dict[str, Any], threshold: float, left: bool, nan_left: bool) -> str:
    col = spec["column"]
    if spec["kind"] == "category":
        return f"{col} != {spec['value']!r}" if left else f"{col} == {spec['value']!r}"
    shown = short_number(threshold)
    text = f"{col} <= {shown}" if left else f"{col} > {shown}"
    if spec.get("missing") and nan_left == left:
        text = f"({text} or missing)"
    return text


def tree_rules(
    tree: Any, spec: list[dict[str, Any]], labels: list[Any] | None, total: int
) -> list[dict[str, Any]]:
    """One rule per leaf: its conditions, prediction, share of rows and purity."""
    t = tree.tree_
    nan_left = getattr(t, "missing_go_to_left", np.ones(t.node_count, dtype=bool))
    rules: list[dict[str, Any]] = []

    def walk(node: int, conditions: list[str]) -> None:
        left, right = t.children_left[node], t.children_right[node]
        if left == right:  # a leaf
            value = t.value[node][0]
            rows = int(t.n_node_samples[node])
            if labels is not None:
                probs = value / value.sum() if value.sum() > 0 else value
                best = int(np.argmax(probs))
                prediction: Any = labels[best]
                purity: float | None = float(probs[best])
            else:
                prediction, purity = float(value[0]), None
            rules.append(
                {
                    "conditions": conditions or ["(all rows)"],
                    "prediction": prediction,
                    "share": rows / total if total else 0.0,
                    "rows": rows,
                    "purity": purity,
                }
            )
            return
        feat, threshold = int(t.feature[node]), float(t.threshold[node])
        goes_left = bool(nan_left[node])
        walk(left, [*conditions, _condition(spec[feat], threshold, True, goes_left)])
        walk(right, [*conditions, _condition(spec[feat], threshold, False, goes_left)])

    walk(0, [])
    rules.sort(key=lambda r: -r["rows"])
    return rules


def rule_text(rule: dict[str, Any]) -> str:
    """A rule on one line: IF ... THEN predict ... (share, purity)."""
    purity = "" if rule["purity"] is None else f", {rule['purity']:.0%} of them"
    prediction = rule["prediction"]
    shown = short_number(prediction) if isinstance(prediction, float) else str(prediction)
    return (
        f"IF {' AND '.join(rule['conditions'])} THEN predict {shown}"
        f" ({rule['share']:.1%} of rows{purity})"
    )


def surrogate(
    x: Any,
    model_pred: np.ndarray,
    *,
    task: str,
    classes: list[Any] | None,
    depth: int,
    seed: int,
) -> dict[str, Any]:
    """Fit a shallow tree to the model's predictions; fidelity on held-out test rows."""
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    matrix, spec = encode_for_tree(x)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    half = max(1, len(order) // 2)
    fit_rows = np.sort(order[:half][:SURROGATE_MAX_FIT_ROWS])
    hold_rows = np.sort(order[half:]) if len(order) > 1 else fit_rows
    tree: Any
    if task == "regression":
        tree = DecisionTreeRegressor(max_depth=depth, random_state=seed)
    else:
        tree = DecisionTreeClassifier(max_depth=depth, random_state=seed)
    tree.fit(matrix[fit_rows], model_pred[fit_rows])
    pred = tree.predict(matrix[hold_rows])
    target = model_pred[hold_rows]
    if task == "regression":
        ss_tot = float(((target - target.mean()) ** 2).sum())
        fidelity = 1.0 - float(((target - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else None
        measure = "r2 between surrogate and model predictions on held-out test rows"
        labels = None
    else:
        fidelity = float((pred == target).mean())
        measure = "share of held-out test rows where the surrogate predicts the model's label"
        assert classes is not None
        labels = [classes[int(c)] for c in tree.classes_]
    rules = tree_rules(tree, spec, labels, len(fit_rows))
    return {
        "depth": depth,
        "fidelity": fidelity,
        "fidelity_measure": measure,
        "fit_rows": len(fit_rows),
        "holdout_rows": len(hold_rows),
        "rules": rules,
        "text": "\n".join(rule_text(r) for r in rules),
    }

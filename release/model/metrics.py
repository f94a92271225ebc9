"""Metric functions by name, for the whole test set and for any subset of it."""

from __future__ import annotations

from typing import Any

from release.config import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better."""
    return metric not in LOWER_IS_BETTER


def compute_metrics(
    task: str, y_true: Any, y_pred: Any, proba: Any = None, classes: list[Any] | None = None
) -> dict[str, float]:
    """All metrics for a task, flat, as ``reports/metrics.json`` holds them."""
    import numpy as np
    from sklearn import metrics as m

    out: dict[str, float] = {}
    if task == "regression":
        out["mae"] = float(m.mean_absolute_error(y_true, y_pred))
        out["rmse"] = float(np.sqrt(m.mean_squared_error(y_true, y_pred)))
        out["r2"] = float(m.r2_score(y_true, y_pred))
        return {k: out[k] for k in REGRESSION_METRICS}
    out["accuracy"] = float(m.accuracy_score(y_true, y_pred))
    out["balanced_accuracy"] = float(m.balanced_accuracy_score(y_true, y_pred))
    average = "binary" if task == "binary" else "macro"
    pos = classes[-1] if (task == "binary" and classes) else 1
    kwargs: dict[str, Any] = {"pos_label": pos} if average == "binary" else {}
    out["f1"] = float(m.f1_score(y_true, y_pred, average=average, zero_division=0, **kwargs))
    if proba is not None and classes is not None and len(set(np.asarray(y_true).tolist())) > 1:
        if task == "binary":
            out["roc_auc"] = float(m.roc_auc_score(np.asarray(y_true) == pos, proba[:, -1]))
        else:
            out["roc_auc"] = float(
                m.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes)
            )
        out["log_loss"] = float(m.log_loss(y_true, proba, labels=classes))
    return {k: out[k] for k in CLASSIFICATION_METRICS if k in out}

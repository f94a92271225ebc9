"""The flat metrics of ``reports/metrics.json``, computed by the statistics core."""

from __future__ import annotations

from typing import Any

import numpy as np

from release.stats import metrics as core

higher_is_better = core.higher_is_better


def compute_metrics(
    task: str, y_true: Any, y_pred: Any, proba: Any = None, classes: list[Any] | None = None
) -> dict[str, float]:
    """All metrics for a task, flat, as ``reports/metrics.json`` holds them.

    Binary F1 and ROC AUC take the last of ``classes`` as the positive class; multiclass
    F1 is macro and ROC AUC one-vs-rest macro (as scikit-learn). Probability metrics are
    left out without probabilities or when the truth holds one class only.
    """
    if proba is not None and classes is None:
        proba = None  # columns of unknown order cannot be matched to classes
    out, _ = core.encode(task, y_true, y_pred, proba, classes)
    values = core.all_metrics(out)
    if task != "regression" and np.unique(out.y_true).size < 2:
        values.pop("roc_auc", None)
        values.pop("log_loss", None)
    return values

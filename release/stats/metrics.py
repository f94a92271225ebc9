"""Metrics written once for one sample and for many bootstrap resamples at once.

Classification metrics that depend only on the confusion matrix (accuracy, balanced
accuracy, F1) take a stack of confusion matrices ``(..., k, k)``; the loss metrics take
per-row values and row weights; ROC AUC takes resample weights grouped by tied scores.
Point values agree with scikit-learn's (binary F1 on the last class, macro F1 and
one-vs-rest macro ROC AUC for more than two classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from release.config import CLASSIFICATION_METRICS, LOWER_IS_BETTER, REGRESSION_METRICS
from release.errors import DataError

CONFUSION_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1"})
MEAN_METRICS = frozenset({"log_loss", "mae", "rmse"})
ALL_METRICS = frozenset(CLASSIFICATION_METRICS) | frozenset(REGRESSION_METRICS)
REGRESSION_ONLY = frozenset(REGRESSION_METRICS)
# A metric that is a share of rows (shown as a percentage in reports).
RATE_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1", "roc_auc"})


def higher_is_better(metric: str) -> bool:
    """True when a larger value of ``metric`` is better."""
    return metric not in LOWER_IS_BETTER


def check_metric(metric: str, task: str) -> None:
    """Raise ValueError when ``metric`` does not apply to ``task``."""
    allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
    if metric not in allowed:
        raise ValueError(f"metric {metric!r} does not apply to task {task!r}")


@dataclass(frozen=True)
class Outcomes:
    """The test set's outcomes in the form the metrics need.

    Classification: ``y_true``/``y_pred`` are integer class codes ``0..k-1`` and
    ``proba`` is ``(n, k)`` or None. Regression: float values and ``k == 0``.
    """

    task: str
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    k: int

    def __len__(self) -> int:
        return int(self.y_true.shape[0])

    def take(self, rows: np.ndarray) -> Outcomes:
        """The outcomes of some rows (positions)."""
        proba = None if self.proba is None else self.proba[rows]
        return Outcomes(self.task, self.y_true[rows], self.y_pred[rows], proba, self.k)

    def correct(self) -> np.ndarray:
        """Per row: the prediction equals the truth (classification)."""
        return np.asarray(self.y_true == self.y_pred)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """The ``(k, k)`` confusion matrix: rows are true classes, columns predictions."""
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def from_confusion(metric: str, cm: np.ndarray) -> np.ndarray:
    """A confusion-matrix metric for a stack of matrices ``(..., k, k)``; NaN if undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[-1]
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    total = cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return np.where(total > 0, diag.sum(axis=-1) / total, np.nan)
        support = cm.sum(axis=-1)
        if metric == "balanced_accuracy":
            present = support > 0
            recall = np.where(present, diag / np.where(present, support, 1), 0.0)
            count = present.sum(axis=-1)
            return np.where(count > 0, recall.sum(axis=-1) / np.maximum(count, 1), np.nan)
        if metric == "f1":
            predicted = cm.sum(axis=-2)
            denom = support + predicted  # 2TP + FP + FN
            f1 = np.where(denom > 0, 2 * diag / np.where(denom > 0, denom, 1), 0.0)
            if k == 2:
                return np.where(total > 0, f1[..., 1], np.nan)
            present = denom > 0
            count = present.sum(axis=-1)
            return np.where(count > 0, f1.sum(axis=-1) / np.maximum(count, 1), np.nan)
    raise ValueError(f"{metric!r} is not a confusion-matrix metric")


def row_values(metric: str, out: Outcomes) -> np.ndarray:
    """Per-row values whose (weighted) mean gives a mean metric (squared error for RMSE)."""
    if metric == "mae":
        return np.abs(out.y_true - out.y_pred)
    if metric == "rmse":
        return (out.y_true - out.y_pred) ** 2
    if metric == "log_loss":
        if out.proba is None:
            raise ValueError("log_loss needs class probabilities")
        eps = np.finfo(out.proba.dtype).eps
        p = out.proba[np.arange(len(out)), out.y_true]
        return -np.log(np.clip(p, eps, 1.0))
    raise ValueError(f"{metric!r} is not a mean metric")


def finish_mean(metric: str, mean: np.ndarray | float) -> Any:
    """Turn a mean of :func:`row_values` into the metric (square root for RMSE)."""
    return np.sqrt(mean) if metric == "rmse" else mean


def r2_from_sums(sw: Any, sy: Any, syy: Any, see: Any) -> Any:
    """R² from weighted sums: weights, y, y², squared error (vectorised)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ss_tot = syy - sy * sy / sw
        return np.where(ss_tot > 0, 1.0 - see / ss_tot, np.nan)


def tie_groups(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Map each row to the rank of its distinct score (ties share a group)."""
    uniq, inverse = np.unique(scores, return_inverse=True)
    return inverse.reshape(-1), int(uniq.shape[0])


def auc_from_group_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC from weighted positive/negative counts per ascending score group.

    ``pos`` and ``neg`` are ``(..., groups)``; ties count one half (as scikit-learn).
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    below = np.cumsum(neg, axis=-1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=-1)
    den = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def auc_scores(out: Outcomes) -> list[tuple[np.ndarray, np.ndarray]]:
    """(score, is_positive) per one-vs-rest problem (one problem for binary)."""
    if out.proba is None:
        raise ValueError("roc_auc needs class probabilities")
    if out.k == 2:
        return [(out.proba[:, 1], out.y_true == 1)]
    return [(out.proba[:, c], out.y_true == c) for c in range(out.k)]


def point(metric: str, out: Outcomes) -> float:
    """The metric on these outcomes (NaN when it is undefined, e.g. AUC of one class)."""
    if len(out) == 0:
        return float("nan")
    if metric in CONFUSION_METRICS:
        return float(from_confusion(metric, confusion(out.y_true, out.y_pred, out.k)))
    if metric in MEAN_METRICS:
        return float(finish_mean(metric, row_values(metric, out).mean()))
    if metric == "r2":
        y = out.y_true.astype(np.float64)
        e = (y - out.y_pred) ** 2
        return float(r2_from_sums(len(y), y.sum(), (y * y).sum(), e.sum()))
    if metric == "roc_auc":
        values = []
        for score, is_pos in auc_scores(out):
            groups, g = tie_groups(score)
            pos = np.bincount(groups, weights=is_pos.astype(np.float64), minlength=g)
            neg = np.bincount(groups, weights=(~is_pos).astype(np.float64), minlength=g)
            values.append(float(auc_from_group_counts(pos, neg)))
        arr = np.array(values)
        return float(np.nanmean(arr)) if np.isfinite(arr).any() else float("nan")
    raise ValueError(f"unknown metric {metric!r}")


def encode(
    task: str, y_true: Any, y_pred: Any, proba: Any, classes: list[Any] | None
) -> tuple[Outcomes, list[Any] | None]:
    """Validate and encode the outcomes (class codes ``0..k-1`` in the order of ``classes``)."""
    import pandas as pd

    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.shape != yp.shape or yt.ndim != 1:
        raise DataError(
            f"y_true {yt.shape} and y_pred {yp.shape} must be 1-D and the same length",
            "pass one label and one prediction per test row",
        )
    if task == "regression":
        return Outcomes(task, yt.astype(np.float64), yp.astype(np.float64), None, 0), None
    if classes is None:
        classes = sorted(pd.unique(np.concatenate([yt, yp])).tolist())
    classes = list(classes)
    index = pd.Index(classes)
    ct, cp = index.get_indexer(yt), index.get_indexer(yp)
    if (ct < 0).any() or (cp < 0).any():
        bad = yt[ct < 0][:1].tolist() or yp[cp < 0][:1].tolist()
        raise DataError(
            f"label {bad[0]!r} is not one of the model's classes {classes}",
            "evaluate with the labels the model was trained on",
        )
    p = None
    if proba is not None:
        p = np.asarray(proba, dtype=np.float64)
        if p.shape != (len(yt), len(classes)):
            raise DataError(
                f"proba has shape {p.shape}, expected {(len(yt), len(classes))}",
                "pass one probability column per class, in the order of classes",
            )
    return Outcomes(task, ct.astype(np.int64), cp.astype(np.int64), p, len(classes)), classes


def by_name(
    metric: str,
    task: str,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: list[Any] | None = None,
) -> float:
    """One metric by name on raw labels (classes as the model knows them), NaN if undefined."""
    out, _ = encode(task, y_true, y_pred, proba, classes)
    return point(metric, out)


def all_metrics(out: Outcomes) -> dict[str, float]:
    """Every metric of the task that is defined on ``out``, in the canonical order."""
    names = REGRESSION_METRICS if out.task == "regression" else CLASSIFICATION_METRICS
    values: dict[str, float] = {}
    for name in names:
        if name in ("roc_auc", "log_loss") and out.proba is None:
            continue
        value = point(name, out)
        if np.isfinite(value):
            values[name] = value
    return values

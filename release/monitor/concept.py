"""Concept drift: the model's metric on a labelled batch against its reference metric.

Metrics and intervals come from the statistics core (:mod:`release.stats`): the metric by
name, and the same interval the error analysis uses (Wilson for accuracy, the vectorised
bootstrap otherwise), so a batch's interval and the test set's are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from release.errors import ConfigError, DataError
from release.reference.refs import Reference
from release.stats import bootstrap
from release.stats import metrics as m

if TYPE_CHECKING:
    from release.config import DriftSettings, EvaluateSettings


@dataclass
class ConceptDrift:
    """The model's metric on the labelled batch against its reference metric."""

    metric: str
    reference: float
    current: float
    ci_low: float | None
    ci_high: float | None
    confidence: float
    drop: float
    max_drop: float
    rows: int
    higher_is_better: bool
    drifted: bool
    note: str = ""


def outcomes(
    task: str | None,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str] | None,
) -> m.Outcomes:
    """The batch's outcomes for the statistics core (labels compared as strings).

    Labels the model does not know (a new class in the batch's target) join the classes
    with zero probability, so they count as errors instead of failing the run.
    """
    if task == "regression":
        return m.Outcomes(
            "regression", y_true.astype(np.float64), y_pred.astype(np.float64), None, 0
        )
    known = list(classes) if classes is not None else []
    extra = sorted({*map(str, y_true), *map(str, y_pred)} - set(known))
    labels = known + extra
    if proba is not None and extra:
        proba = np.hstack([proba, np.zeros((proba.shape[0], len(extra)))])
    if proba is not None and proba.shape[1] != len(labels):
        proba = None
    kind = "binary" if len(labels) <= 2 else "multiclass"
    out, _ = m.encode(kind, y_true.astype(str), y_pred.astype(str), proba, labels)
    return out


def metric_value(
    name: str,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: Sequence[str] | None,
    task: str | None = None,
) -> float:
    """One metric by name, from the statistics core (regression when ``task`` says so)."""
    if name in m.REGRESSION_ONLY:
        task = "regression"
    out = outcomes(task, y_true, y_pred, proba, classes)
    if name in ("roc_auc", "log_loss") and out.proba is None:
        raise DataError(f"metric {name} needs class probabilities", "use a probabilistic model")
    if name not in m.ALL_METRICS:
        raise ConfigError(f"unknown metric {name!r}", "use a metric from evaluate.primary_metric")
    return m.point(name, out)


def concept_drift(
    reference: Reference,
    y_true: Any,
    labels: Any,
    proba: Any,
    classes: Sequence[Any] | None,
    settings: DriftSettings,
    evaluate: EvaluateSettings,
) -> ConceptDrift | None:
    """The metric on the labelled batch with a bootstrap CI; drift when the drop is real.

    Confirmed when the metric fell by more than ``max_metric_drop`` and the batch's CI
    excludes the reference value (so a small batch's noise does not count as drift).
    """
    ref = reference.metric
    if not ref or labels is None:
        return None
    name = str(ref["name"])
    higher = bool(ref.get("higher_is_better", True))
    yt = np.asarray(y_true)
    keep = _present(yt)
    yt, yp = yt[keep], np.asarray(labels)[keep]
    pr = np.asarray(proba, dtype=np.float64)[keep] if proba is not None else None
    cls = [str(c) for c in classes] if classes is not None else None
    if reference.task != "regression":
        yt, yp = _labels(yt), _labels(yp)
    n = int(yt.size)
    if n == 0:
        return None
    out = outcomes(
        reference.task if name not in m.REGRESSION_ONLY else "regression", yt, yp, pr, cls
    )
    if name in ("roc_auc", "log_loss") and out.proba is None:
        raise DataError(f"metric {name} needs class probabilities", "use a probabilistic model")
    est = bootstrap.estimate(
        name,
        out,
        resamples=evaluate.bootstrap,
        confidence=evaluate.confidence,
        rng=np.random.default_rng(evaluate.seed),
    )
    current = float(est.value) if est.value is not None else math.nan
    low, high = est.low, est.high
    ref_value = float(ref["value"])
    drop = (ref_value - current) if higher else (current - ref_value)
    excludes = (
        high is not None and low is not None and (high < ref_value if higher else low > ref_value)
    )
    drifted = drop > settings.max_metric_drop and (excludes or low is None)
    note = "" if low is not None else "no interval (evaluate.bootstrap = 0): drop alone decides"
    return ConceptDrift(
        metric=name,
        reference=ref_value,
        current=current,
        ci_low=low,
        ci_high=high,
        confidence=evaluate.confidence,
        drop=drop,
        max_drop=settings.max_metric_drop,
        rows=n,
        higher_is_better=higher,
        drifted=bool(drifted),
        note=note,
    )


def reference_metric(
    task: str,
    name: str,
    y_true: Any,
    labels: Any,
    proba: Any,
    classes: Sequence[Any] | None,
) -> dict[str, Any] | None:
    """The metric of a model on labelled reference data, shaped as a profile's ``metric``."""
    from release.config import LOWER_IS_BETTER

    yt = np.asarray(y_true)
    keep = _present(yt)
    if not keep.any():
        return None
    yt, yp = yt[keep], np.asarray(labels)[keep]
    pr = np.asarray(proba, dtype=np.float64)[keep] if proba is not None else None
    cls = [str(c) for c in classes] if classes is not None else None
    if task != "regression":
        yt, yp = _labels(yt), _labels(yp)
    return {
        "name": name,
        "value": metric_value(name, yt, yp, pr, cls, task),
        "n_test": int(yt.size),
        "higher_is_better": name not in LOWER_IS_BETTER,
    }


def _present(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.notna(pd.Series(values)).to_numpy(), dtype=bool)


def _labels(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    from release.reference.refs import category_strings

    return np.asarray(category_strings(pd.Series(values)).to_numpy(dtype=object), dtype=str)

"""Drift decisions: dataset drift, prediction drift and concept drift, as pure functions.

Inputs are a :class:`~release.reference.profile.Reference`, the current batch as a data frame
and (optionally) the model's outputs on it; the output is a
:class:`~release.monitor.result.DriftReport`. Nothing
here reads files or loads models: that happens at the edges (``sources``, ``commands``).

Method choice per column (``monitor.drift`` in ``params.yaml``), as Evidently's defaults:
numeric columns use ``numeric_small`` (KS) when either sample has at most ``large_rows``
values, else ``numeric_large`` (Wasserstein / reference std); categorical columns use
``categorical_small`` (chi-squared, 2 x k) or ``categorical_large`` (Jensen-Shannon).
Numeric columns with at most 5 distinct values are tested as categories. ``methods`` sets
a method per column. Unlike Evidently, which looks at the reference size only, "large"
needs both samples large: a distance measured on a small batch is mostly noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from release.errors import ConfigError, DataError
from release.monitor.concept import concept_drift
from release.monitor.result import ColumnDrift, DriftReport
from release.monitor.schema import findings
from release.reference import quantiles as stats
from release.reference.refs import (
    FEW_VALUES,
    ColumnRef,
    NumericRef,
    Reference,
    numeric_counts,
    value_counts,
)

if TYPE_CHECKING:
    import pandas as pd

    from release.config import DriftSettings, EvaluateSettings

PLOT_BINS = 30
PLOT_CATEGORIES = 15


# ----------------------------------------------------------------------- method choice
def choose_method(
    column: str, kind: str, n_ref: int, n_cur: int, settings: DriftSettings
) -> stats.Method:
    """The method for a column: per-column override, else by kind and sample size."""
    method = settings.methods.get(column)
    if method is None:
        large = min(n_ref, n_cur) > settings.large_rows
        if kind == "numeric":
            method = settings.numeric_large if large else settings.numeric_small
        else:
            method = settings.categorical_large if large else settings.categorical_small
    allowed = stats.NUMERIC_METHODS if kind == "numeric" else stats.CATEGORICAL_METHODS
    if method not in allowed:
        raise ConfigError(
            f"monitor.drift.methods.{column} = {method!r} does not fit a {kind} column",
            "expected one of " + ", ".join(allowed),
        )
    return method


def _threshold(method: str, settings: DriftSettings) -> float:
    return {
        "wasserstein": settings.wasserstein_threshold,
        "jensenshannon": settings.jensenshannon_threshold,
        "psi": settings.psi_threshold,
    }.get(method, settings.alpha)


# --------------------------------------------------------------------------- columns
def column_drift(
    name: str, ref: ColumnRef, current: pd.Series | None, settings: DriftSettings
) -> ColumnDrift:
    """Test one column of the batch against its reference."""
    kind = ref.kind
    base = ColumnDrift(
        column=name,
        kind=kind,
        status="tested",
        drifted=False,
        n_reference=ref.count,
        null_rate_reference=ref.null_rate,
    )
    if current is None:
        base.status, base.drifted = "missing", True
        base.note = "column missing from the current batch"
        return base
    rows = len(current)
    if ref.count == 0:
        base.status = "no_reference"
        base.note = "no non-missing values in the reference: not tested"
        return base
    if isinstance(ref, NumericRef):
        return _numeric_drift(base, ref, current, rows, settings)
    return _categorical_drift(base, ref, value_counts(current), rows, settings)


def _numeric_drift(
    base: ColumnDrift, ref: NumericRef, current: pd.Series, rows: int, settings: DriftSettings
) -> ColumnDrift:
    import pandas as pd

    coerced = pd.to_numeric(current, errors="coerce")
    present = int(current.notna().sum())
    values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    cur = stats.sorted_finite(values)
    base.n_current = int(cur.size)
    base.null_rate_current = (rows - cur.size) / rows if rows else None
    bad = present - int(coerced.notna().sum())
    if bad > 0:
        example = current[current.notna() & coerced.isna()].iloc[0]
        base.status, base.drifted = "type_changed", True
        base.note = f"{bad} of {rows} values are not numbers (e.g. {str(example)[:40]!r})"
        return base
    if cur.size == 0:
        base.status, base.drifted = "all_null", True
        base.note = "every value is missing in the current batch"
        return base
    if ref.counts is not None and settings.methods.get(base.column) not in stats.NUMERIC_METHODS:
        cur_counts = numeric_counts(cur)
        if len(set(ref.counts) | set(cur_counts)) <= FEW_VALUES:
            base.note = f"at most {FEW_VALUES} distinct values: tested as categories"
            return _categorical_drift(base, ref, cur_counts, rows, settings, counts=ref.counts)
    method = choose_method(base.column, "numeric", ref.count, cur.size, settings)
    res = stats.numeric_test(
        method,
        ref.values,
        cur,
        ref_std=ref.std,
        alpha=settings.alpha,
        threshold=_threshold(method, settings),
    )
    _fill(base, res)
    if base.drifted:
        base.distribution = _numeric_distribution(ref.values, cur)
    return base


def _categorical_drift(
    base: ColumnDrift,
    ref: ColumnRef,
    cur_counts: dict[str, float],
    rows: int,
    settings: DriftSettings,
    counts: dict[str, float] | None = None,
) -> ColumnDrift:
    ref_counts = counts if counts is not None else getattr(ref, "counts", {})
    n_cur = int(sum(cur_counts.values()))
    base.n_current = n_cur
    base.null_rate_current = (rows - n_cur) / rows if rows else None
    base.new_categories = sorted(k for k in cur_counts if k not in ref_counts)
    unseen = sum(v for k, v in cur_counts.items() if k not in ref_counts)
    base.unseen_rate = unseen / n_cur if n_cur else None
    if n_cur == 0:
        base.status, base.drifted = "all_null", True
        base.note = "every value is missing in the current batch"
        return base
    method = choose_method(base.column, "categorical", ref.count, n_cur, settings)
    keys, r, c = stats.aligned_counts(ref_counts, cur_counts)
    res = stats.categorical_test(
        method, r, c, alpha=settings.alpha, threshold=_threshold(method, settings)
    )
    _fill(base, res)
    if base.new_categories:
        shown = ", ".join(base.new_categories[:5])
        base.note = (base.note + "; " if base.note else "") + f"new categories: {shown}"
    if base.unseen_rate is not None and base.unseen_rate > settings.max_unseen_rate:
        # Unseen categories are a signal of their own: the model one-hot encodes them as
        # "none of the known", whatever a distance on the known ones says.
        base.drifted = True
        base.note += (
            f"; {base.unseen_rate:.1%} of values unseen in the reference "
            f"(> {settings.max_unseen_rate:.0%})"
        )
    if base.drifted:
        base.distribution = _categorical_distribution(keys, r, c)
    return base


def _fill(col: ColumnDrift, res: stats.TestResult) -> None:
    col.method, col.score, col.statistic = res.method, res.score, res.statistic
    col.p_value, col.threshold, col.drifted = res.p_value, res.threshold, res.drifted


def _numeric_distribution(ref: stats.FloatArray, cur: stats.FloatArray) -> dict[str, Any]:
    """Shares per bin on a common grid (0.5%..99.5% of both), for the overlay plot."""
    lo = min(ref[int(0.005 * (ref.size - 1))], cur[int(0.005 * (cur.size - 1))])
    hi = max(ref[int(0.995 * (ref.size - 1))], cur[int(0.995 * (cur.size - 1))])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, PLOT_BINS + 1)

    def shares(x: stats.FloatArray) -> list[float]:
        pos = np.searchsorted(x, edges, side="left")
        pos[-1] = np.searchsorted(x, edges[-1], side="right")
        return (np.diff(pos) / x.size).tolist()

    return {
        "kind": "numeric",
        "edges": edges.tolist(),
        "reference": shares(ref),
        "current": shares(cur),
    }


def _categorical_distribution(
    keys: Sequence[str], ref: stats.FloatArray, cur: stats.FloatArray
) -> dict[str, Any]:
    """Shares of the most frequent categories (of both samples), for the overlay plot."""
    p, q = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    order = np.argsort(-(p + q), kind="stable")[:PLOT_CATEGORIES]
    return {
        "kind": "categorical",
        "categories": [keys[i] for i in order],
        "reference": [float(p[i]) for i in order],
        "current": [float(q[i]) for i in order],
    }


def dataset_drift(
    reference: Reference, current: pd.DataFrame, settings: DriftSettings
) -> list[ColumnDrift]:
    """Test every reference feature against the batch."""
    return [
        column_drift(
            name,
            reference.columns[name],
            current[name] if name in current.columns else None,
            settings,
        )
        for name in reference.features
    ]


# ----------------------------------------------------------------------- predictions
def prediction_drift(
    reference: Reference,
    labels: Any,
    proba: Any,
    classes: Sequence[Any] | None,
    settings: DriftSettings,
) -> list[ColumnDrift]:
    """Test the model's outputs on the batch against its outputs on the test set."""
    import pandas as pd

    out: list[ColumnDrift] = []
    if reference.predictions is not None and labels is not None:
        out.append(column_drift("prediction", reference.predictions, pd.Series(labels), settings))
    if reference.proba is not None and proba is not None and classes is not None:
        names = [str(c) for c in classes]
        if reference.proba_class in names:
            arr = np.asarray(proba, dtype=np.float64)
            col = arr[:, names.index(reference.proba_class)] if arr.ndim == 2 else arr
            name = f"proba_{reference.proba_class}"
            out.append(column_drift(name, reference.proba, pd.Series(col), settings))
    return out


# ----------------------------------------------------------------------------- whole
def run_drift(
    reference: Reference,
    current: pd.DataFrame,
    settings: DriftSettings,
    evaluate: EvaluateSettings,
    *,
    labels: Any = None,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    current_source: str = "current",
    model: dict[str, Any] | None = None,
    model_features: list[str] | None = None,
) -> DriftReport:
    """Dataset, prediction and concept drift of a batch against a reference.

    ``model`` names the model whose outputs these are (source, version, sha256);
    ``model_features`` its input columns, for the schema findings.
    """
    if len(current) == 0:
        raise DataError(f"the current batch {current_source} has no rows", "pass a batch with data")
    columns = dataset_drift(reference, current, settings)
    counted = [c for c in columns if c.status != "no_reference"]
    share = sum(c.drifted for c in counted) / len(counted) if counted else 0.0
    known = set(reference.features) | ({reference.target} if reference.target else set())
    report = DriftReport(
        columns=columns,
        drift_share=share,
        share_threshold=settings.drift_share,
        dataset_drift=bool(counted) and share >= settings.drift_share,
        rows_reference=reference.rows,
        rows_current=len(current),
        reference_source=reference.source,
        current_source=current_source,
        extra_columns=[str(c) for c in current.columns if c not in known],
        schema=findings(reference, current, model_features),
        model=model,
    )
    if settings.prediction_drift and labels is not None:
        report.predictions = prediction_drift(reference, labels, proba, classes, settings)
        report.prediction_drift = any(p.drifted for p in report.predictions)
    if reference.target and reference.target in current.columns and labels is not None:
        report.concept = concept_drift(
            reference,
            current[reference.target].to_numpy(),
            labels,
            proba,
            classes,
            settings,
            evaluate,
        )
    elif labels is None:
        report.notes.append("no model applied: prediction and concept drift not measured")
    else:
        report.notes.append("batch has no target column: concept drift not measured")
    return report

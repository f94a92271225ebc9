"""The reference's in-memory form: per-column summaries drift tests read.

:class:`Reference` is built from a stored profile (:mod:`release.reference.profile`) or, at
full resolution, straight from a data frame (``--reference data.parquet``) with
:func:`reference_from_frame`. The column builders here are shared by both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from release.errors import DataError
from release.reference.quantiles import FloatArray, sorted_finite, sorted_quantiles

if TYPE_CHECKING:
    import pandas as pd

    from release.config import Settings

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
FEW_VALUES = 5  # numeric columns with at most this many distinct values are tested as categories
_COUNTS_LIMIT = 20  # numeric columns keep value counts up to this many distinct values
_ANNOTATOR = re.compile(r"annotator_\d+")


# ----------------------------------------------------------------------- column forms
@dataclass
class NumericRef:
    """A numeric column of the reference: sorted values (a sample or all) and summaries."""

    values: FloatArray
    rows: int
    count: int
    null_rate: float
    mean: float
    std: float
    n_unique: int | None  # None: more than 20 distinct values
    counts: dict[str, float] | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    kind: str = "numeric"


@dataclass
class CategoricalRef:
    """A categorical column of the reference: counts per category."""

    counts: dict[str, float]
    rows: int
    count: int
    null_rate: float
    kind: str = "categorical"


ColumnRef = NumericRef | CategoricalRef


@dataclass
class Reference:
    """Everything a drift run compares the current batch against."""

    columns: dict[str, ColumnRef]
    features: list[str]
    target: str | None
    rows: int
    source: str
    task: str | None = None
    predictions: ColumnRef | None = None
    proba: NumericRef | None = None
    proba_class: str | None = None
    classes: list[Any] | None = None
    metric: dict[str, Any] | None = None


# --------------------------------------------------------------------------- helpers
def is_numeric(series: pd.Series) -> bool:
    """True for numeric columns (booleans count as categorical)."""
    import pandas as pd

    return bool(
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
    )


def number_key(value: float) -> str:
    """The category key of a numeric value (so 1, 1.0 and "1.0" agree)."""
    return repr(float(value))


def category_strings(series: pd.Series) -> pd.Series:
    """A column as category strings (missing stays missing); integral floats print as ints."""
    import pandas as pd

    if pd.api.types.is_float_dtype(series.dtype):
        finite = series.dropna()
        if len(finite) and bool((finite == np.round(finite)).all()):
            series = series.astype("Int64")
    out = series.astype("string")
    return out


def value_counts(series: pd.Series) -> dict[str, float]:
    """Counts of the non-missing categories of a column, keyed by their string form."""
    counts = category_strings(series).value_counts(dropna=True, sort=True)
    return {str(k): float(v) for k, v in counts.items()}


def numeric_counts(values: FloatArray) -> dict[str, float]:
    """Counts of the distinct values of a sorted numeric sample."""
    uniq, counts = np.unique(values, return_counts=True)
    return {number_key(u): float(c) for u, c in zip(uniq, counts, strict=True)}


def numeric_ref(series: pd.Series, *, sample: int | None, seed: int) -> NumericRef:
    """Profile a numeric column; keep all values (sample=None) or a seeded sample."""
    import pandas as pd

    rows = len(series)
    raw = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    full = sorted_finite(raw)
    count = int(full.size)
    n_unique = _distinct(full)
    mean = float(full.mean()) if count else math.nan
    std = float(full.std()) if count else math.nan
    counts = (
        numeric_counts(full) if n_unique is not None and 0 < n_unique <= _COUNTS_LIMIT else None
    )
    quantiles = (
        {
            f"{q:g}": float(v)
            for q, v in zip(QUANTILES, sorted_quantiles(full, QUANTILES), strict=True)
        }
        if count
        else {}
    )
    values = full
    if sample is not None and count > sample:
        rng = np.random.default_rng(seed)
        values = np.sort(full[rng.choice(count, size=sample, replace=False)])
    return NumericRef(
        values=values,
        rows=rows,
        count=count,
        null_rate=(rows - count) / rows if rows else 0.0,
        mean=mean,
        std=std,
        n_unique=n_unique,
        counts=counts,
        quantiles=quantiles,
    )


def _distinct(values: FloatArray) -> int | None:
    """Distinct values of a sorted array; None when surely more than the counts limit."""
    if values.size > 4 * _COUNTS_LIMIT:
        # Cheap first look: distinct values among evenly spaced order statistics.
        probe = values[np.linspace(0, values.size - 1, 4 * _COUNTS_LIMIT + 1).astype(np.int64)]
        if np.count_nonzero(probe[1:] != probe[:-1]) + 1 > _COUNTS_LIMIT:
            return None
    return int(np.count_nonzero(values[1:] != values[:-1]) + 1) if values.size else 0


def categorical_ref(series: pd.Series) -> CategoricalRef:
    """Profile a categorical column."""
    rows = len(series)
    counts = value_counts(series)
    count = int(sum(counts.values()))
    return CategoricalRef(
        counts=counts, rows=rows, count=count, null_rate=(rows - count) / rows if rows else 0.0
    )


def column_ref(series: pd.Series, *, sample: int | None, seed: int) -> ColumnRef:
    """Profile one column by its kind."""
    if is_numeric(series):
        return numeric_ref(series, sample=sample, seed=seed)
    return categorical_ref(series)


def feature_columns(
    settings: Settings, columns: Sequence[str], features: Sequence[str] | None = None
) -> list[str]:
    """The model's input columns: given, from params, or every column but target/annotators."""
    if features is not None:
        return [str(c) for c in features]
    data = settings.data
    if isinstance(data.features, list):
        return list(data.features)
    skip = {data.target, *data.exclude, *data.annotators}
    return [str(c) for c in columns if c not in skip and not _ANNOTATOR.fullmatch(str(c))]


def reference_from_frame(
    df: pd.DataFrame,
    features: Sequence[str],
    *,
    target: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    source: str = "data",
) -> Reference:
    """A reference straight from data (all values unless ``sample`` caps them)."""
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise DataError(
            f"reference data lacks feature columns: {', '.join(missing)}",
            "use the data the model was evaluated on, or a saved reference profile",
        )
    columns = {c: column_ref(df[c], sample=sample, seed=seed + i) for i, c in enumerate(features)}
    tgt = target if target is not None and target in df.columns else None
    return Reference(
        columns=columns, features=list(features), target=tgt, rows=len(df), source=source
    )


def attach_outputs(
    reference: Reference,
    *,
    task: str,
    labels: Any,
    proba: Any,
    classes: Sequence[Any] | None,
    metric: dict[str, Any] | None = None,
) -> None:
    """Give a data reference the model's outputs on it (as a profile carries them)."""
    import pandas as pd

    reference.task = task
    reference.classes = list(classes) if classes is not None else None
    series = pd.Series(np.asarray(labels))
    reference.predictions = (
        numeric_ref(series, sample=None, seed=0)
        if task == "regression"
        else categorical_ref(series)
    )
    if proba is not None and classes is not None and len(classes) == 2:
        arr = np.asarray(proba, dtype=np.float64)
        reference.proba = numeric_ref(pd.Series(arr[:, 1]), sample=None, seed=0)
        reference.proba_class = str(plain(classes[1]))
    reference.metric = metric


def plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

"""Which columns are features, and of which kind: one answer for every stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import Settings
from release.errors import ConfigError, DataError


@dataclass(frozen=True)
class Columns:
    """The roles of a dataset's columns."""

    target: str
    numeric: list[str]
    categorical: list[str]
    annotators: list[str]

    @property
    def features(self) -> list[str]:
        """Feature columns, numeric first."""
        return [*self.numeric, *self.categorical]


def feature_names(settings: Settings, present: list[str]) -> list[str]:
    """The feature columns params.yaml asks for (a listed name absent from ``present`` too)."""
    data = settings.data
    if data.features == "all":
        skip = {data.target, *data.annotators, *data.exclude}
        return [c for c in present if c not in skip]
    return list(data.features)


def resolve_columns(settings: Settings, frame: Any) -> Columns:
    """Decide feature columns and kinds from params and the data's dtypes."""
    import pandas as pd

    data = settings.data
    present = [str(c) for c in frame.columns]
    for key in ("annotators", "exclude", "slice_columns", "protected"):
        for col in getattr(data, key):
            if col not in present:
                raise ConfigError(
                    f"data.{key} names column {col!r}, which is not in the data",
                    "available columns: " + ", ".join(present),
                )
    if data.target not in present:
        raise DataError(
            f"target column {data.target!r} is absent from the data",
            "set data.target to one of: " + ", ".join(present),
        )
    features = feature_names(settings, present)
    if data.features != "all":
        missing = [c for c in features if c not in present]
        if missing:
            raise ConfigError(
                f"data.features names columns not in the data: {', '.join(missing)}",
                "available columns: " + ", ".join(present),
            )
    if not settings.train.use_protected:
        # Protected attributes are measured (fairness), not used, unless asked for.
        features = [c for c in features if c not in data.protected]
    if not features:
        raise ConfigError("no feature columns left", "list data.features or shrink data.exclude")
    declared = settings.validate.dtypes
    numeric, categorical = [], []
    for col in features:
        kind = declared.get(col)
        if kind in ("numeric", "integer"):
            numeric.append(col)
        elif kind in ("categorical", "bool"):
            categorical.append(col)
        elif pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(
            frame[col]
        ):
            numeric.append(col)
        else:
            categorical.append(col)
    return Columns(data.target, numeric, categorical, list(data.annotators))


def coerce_declared_numeric(frame: Any, columns: Columns, source: str) -> Any:
    """Convert numeric columns read as text; a non-numeric value is a DataError."""
    import pandas as pd

    for col in columns.numeric:
        if pd.api.types.is_numeric_dtype(frame[col]):
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = frame[col].notna() & converted.isna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            value = frame[col].iloc[row]
            raise DataError(
                f"{source}: column {col!r} is numeric but row {row} holds {value!r}",
                "if it marks a missing value, list it in data.na_values; otherwise fix the"
                " value or declare the column categorical in validate.dtypes",
            )
        frame[col] = converted
    return frame


def category_label(value: Any) -> Any:
    """The one text form of a category value; NaN (missing) stays NaN.

    A numeric code reads the same whether pandas parsed it as 1 or 1.0, and whether it
    arrives from a CSV, a Parquet split or a JSON request: ``"1"``.
    """
    import math

    if value is None:
        return math.nan
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalar to Python
    if isinstance(value, float):
        if math.isnan(value):
            return math.nan
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def coerce_declared_categorical(frame: Any, categorical: list[str], source: str) -> Any:
    """Store numeric columns that are categories (``validate.dtypes``) as their labels.

    Codes are whole numbers; a fractional one (0.0507) means a measurement declared
    categorical by mistake, refused here as the dtype rule refuses it in a batch.
    """
    import pandas as pd

    for col in categorical:
        series = frame[col]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            continue
        fractional = series.notna() & (series != series.round())
        if fractional.any():
            row = int(fractional.to_numpy().nonzero()[0][0])
            raise DataError(
                f"{source}: column {col!r} is declared categorical but row {row} holds"
                f" the fraction {series.iloc[row]!r}",
                "categorical codes are whole numbers or text: declare the column numeric"
                " in validate.dtypes, or recode it",
            )
        frame[col] = series.astype(object).map(category_label).astype(object)
    return frame


def require_finite(x: Any, numeric: list[str], source: str | Path) -> None:
    """Refuse +inf/-inf in numeric columns: estimators fail on them with a traceback."""
    import numpy as np

    bad = {col: int(np.isinf(x[col].to_numpy(dtype="float64")).sum()) for col in numeric}
    bad = {col: n for col, n in bad.items() if n}
    if bad:
        listed = ", ".join(f"{col!r} ({n})" for col, n in bad.items())
        raise DataError(
            f"{source} holds non-finite numbers (+inf/-inf) in {listed}",
            "fix or drop those values in the source; `release data validate` reports them",
        )

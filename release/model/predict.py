"""Turn request columns into a typed DataFrame and predict with a fitted pipeline."""

from __future__ import annotations

import math
from typing import Any

from release.data.schema import category_label, require_finite
from release.errors import UsageError


def feature_names(meta: dict[str, Any]) -> list[str]:
    """The model's input columns, in order."""
    return [f["name"] for f in meta["features"]]


def frame_from_records(meta: dict[str, Any], columns: dict[str, list[Any]]) -> Any:
    """Build the model's input frame from column lists, checking names, lengths and types."""
    import pandas as pd

    arrays = arrays_from_records(meta, columns)
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype="object") if values.dtype == object else values
            for name, values in arrays.items()
        },
        columns=list(arrays),
    )


def arrays_from_records(meta: dict[str, Any], columns: dict[str, list[Any]]) -> dict[str, Any]:
    """The model's input columns as numpy arrays, in model order (no pandas).

    Numeric columns are float64 with NaN for null; categorical ones are object arrays of
    category labels with NaN for missing. Names, lengths and types are checked.
    """
    import numpy as np

    expected = feature_names(meta)
    unknown = sorted(set(columns) - set(expected))
    if unknown:
        raise UsageError(
            f"unknown input column(s): {', '.join(unknown)}",
            "expected columns: " + ", ".join(expected),
        )
    missing = [c for c in expected if c not in columns]
    if missing:
        raise UsageError(
            f"missing input column(s): {', '.join(missing)}",
            "send one input per feature column",
        )
    lengths = {len(columns[c]) for c in expected}
    if len(lengths) != 1:
        raise UsageError("input columns have different lengths", "send one value per row in each")
    data: dict[str, Any] = {}
    for feature in meta["features"]:
        name = feature["name"]
        values = columns[name]
        if feature["kind"] == "numeric":
            fast = _plain_numbers(values)
            if fast is not None:
                data[name] = fast
                continue
            out = np.empty(len(values), dtype="float64")
            for i, v in enumerate(values):
                if v is None:
                    out[i] = math.nan
                elif isinstance(v, bool) or not isinstance(v, int | float):
                    raise UsageError(
                        f"column {name!r} row {i}: {v!r} is not a number",
                        "send numbers (or null) for numeric columns",
                    )
                else:
                    out[i] = float(v)
            data[name] = out
        elif isinstance(values, list) and set(map(type, values)) <= {str}:
            column = np.empty(len(values), dtype=object)  # the common case: all labels
            column[:] = values
            data[name] = column
        else:
            cleaned: list[Any] = []
            for i, v in enumerate(values):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    cleaned.append(math.nan)
                elif isinstance(v, str | int | float) and not isinstance(v, bool):
                    cleaned.append(category_label(v))  # 1 and 1.0 are the code "1"
                else:
                    raise UsageError(
                        f"column {name!r} row {i}: {v!r} is not a category",
                        "send strings (or null) for categorical columns",
                    )
            column = np.empty(len(cleaned), dtype=object)
            column[:] = cleaned
            data[name] = column
    return data


_NUMBERS = {int, float, type(None)}


def _plain_numbers(values: Any) -> Any | None:
    """``values`` as float64 (None as NaN) when they are all plain numbers, else None.

    One C-level pass over the types instead of a Python loop per value; anything else
    (a bool, a string, an int too large for a float) takes the checking loop, which names
    the bad row.
    """
    import numpy as np

    if not isinstance(values, list) or not set(map(type, values)) <= _NUMBERS:
        return None
    try:
        return np.array(values, dtype="float64")
    except (OverflowError, TypeError, ValueError):
        return None


def normalize_frame(df: Any, numeric: list[str], categorical: list[str]) -> Any:
    """Numeric columns as float64, categorical as Python strings with NaN for missing.

    One representation everywhere (training, evaluation, serving), whatever pandas read.
    """
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for col in numeric:
        out[col] = pd.to_numeric(df[col], errors="raise").astype("float64")
    for col in categorical:
        series = df[col]
        values = series.astype(object).where(series.notna(), np.nan)
        out[col] = values.map(category_label).astype(object)
    return out[[*numeric, *categorical]] if not df.columns.empty else out


def meta_kinds(meta: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) feature names from model metadata."""
    numeric = [f["name"] for f in meta["features"] if f["kind"] == "numeric"]
    categorical = [f["name"] for f in meta["features"] if f["kind"] != "numeric"]
    return numeric, categorical


def predict(pipeline: Any, meta: dict[str, Any], df: Any) -> tuple[Any, Any | None]:
    """Predict labels (or values) and, for classifiers, class probabilities."""
    numeric, categorical = meta_kinds(meta)
    x = normalize_frame(df, numeric, categorical)[feature_names(meta)]
    require_finite(x, numeric, "the data to predict")
    if meta.get("task") == "regression":
        return pipeline.predict(x), None
    proba = pipeline.predict_proba(x)
    classes = pipeline.classes_
    labels = classes[proba.argmax(axis=1)]
    return labels, proba

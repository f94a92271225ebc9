"""Turn request columns into a typed DataFrame and predict with a fitted pipeline."""

from __future__ import annotations

import math
from typing import Any

from release.errors import UsageError


def feature_names(meta: dict[str, Any]) -> list[str]:
    """The model's input columns, in order."""
    return [f["name"] for f in meta["features"]]


def frame_from_records(meta: dict[str, Any], columns: dict[str, list[Any]]) -> Any:
    """Build the model's input frame from column lists, checking names, lengths and types."""
    import numpy as np
    import pandas as pd

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
        else:
            cleaned: list[Any] = []
            for i, v in enumerate(values):
                if v is None or (isinstance(v, float) and math.isnan(v)):
                    cleaned.append(None)
                elif isinstance(v, str | int) and not isinstance(v, bool):
                    cleaned.append(str(v))
                else:
                    raise UsageError(
                        f"column {name!r} row {i}: {v!r} is not a category",
                        "send strings (or null) for categorical columns",
                    )
            data[name] = pd.Series(cleaned, dtype="object")
    return pd.DataFrame(data, columns=expected)


def predict(pipeline: Any, meta: dict[str, Any], df: Any) -> tuple[Any, Any | None]:
    """Predict labels (or values) and, for classifiers, class probabilities."""
    x = df[feature_names(meta)]
    if meta.get("task") == "regression":
        return pipeline.predict(x), None
    proba = pipeline.predict_proba(x)
    classes = pipeline.classes_
    labels = classes[proba.argmax(axis=1)]
    return labels, proba

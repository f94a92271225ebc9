"""The reference profile: what drift tests need from the test set, without the test set.

``release evaluate`` writes ``models/reference_profile.json`` with :func:`build_profile` and
:func:`write_profile`; it is a pipeline output, so every registered model version carries
the reference it was measured on. Per numeric column: a seeded sample of up to
``evaluate.profile_sample`` sorted values, quantiles, mean/std (of the whole column), null
rate, and value counts when the column has few distinct values. Per categorical column:
value counts. Plus the model's prediction distribution and its metric on the test set.

:class:`~release.reference.refs.Reference` is the in-memory form drift tests read
(:mod:`release.reference.refs`); :func:`reference_from_profile` builds it from a profile.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from release.errors import DataError
from release.fsio import write_text
from release.reference.refs import (
    FEW_VALUES,
    QUANTILES,
    CategoricalRef,
    ColumnRef,
    NumericRef,
    Reference,
    attach_outputs,
    categorical_ref,
    category_strings,
    column_ref,
    feature_columns,
    is_numeric,
    number_key,
    numeric_counts,
    numeric_ref,
    plain,
    reference_from_frame,
    value_counts,
)

# Re-exported: the profile's readers have long imported the in-memory forms from here.
__all__ = [
    "FEW_VALUES",
    "FORMAT",
    "QUANTILES",
    "CategoricalRef",
    "ColumnRef",
    "NumericRef",
    "Reference",
    "attach_outputs",
    "build_profile",
    "categorical_ref",
    "category_strings",
    "check_profile",
    "column_ref",
    "feature_columns",
    "is_numeric",
    "number_key",
    "numeric_counts",
    "numeric_ref",
    "read_profile",
    "reference_from_frame",
    "reference_from_profile",
    "value_counts",
    "write_profile",
]

if TYPE_CHECKING:
    import pandas as pd

    from release.config import Settings

FORMAT = "release.reference_profile/1"


# ------------------------------------------------------------------------ the profile
def build_profile(
    settings: Settings,
    df: pd.DataFrame,
    *,
    predictions: Any = None,
    proba: Any = None,
    classes: Sequence[Any] | None = None,
    metric_name: str | None = None,
    metric_value: float | None = None,
    n_test: int | None = None,
    features: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The reference profile of the test set ``df`` (and the model's predictions on it)."""
    feats = feature_columns(settings, list(df.columns), features)
    sample = settings.evaluate.profile_sample
    seed = settings.evaluate.seed
    ref = reference_from_frame(df, feats, target=settings.data.target, sample=sample, seed=seed)
    profile: dict[str, Any] = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rows": len(df),
        "target": settings.data.target,
        "task": settings.data.task,
        "features": [{"name": c, "kind": ref.columns[c].kind} for c in feats],
        "sample_size": sample,
        "seed": seed,
        "columns": {c: _column_json(ref.columns[c]) for c in feats},
        "target_profile": (
            _column_json(column_ref(df[settings.data.target], sample=sample, seed=seed))
            if settings.data.target in df.columns
            else None
        ),
        "classes": [plain(c) for c in classes] if classes is not None else None,
        "predictions": None,
        "proba": None,
        "metric": None,
    }
    import pandas as pd

    if predictions is not None:
        pred = pd.Series(np.asarray(predictions))
        kind = "numeric" if settings.data.task == "regression" else "categorical"
        profile["predictions"] = _column_json(
            numeric_ref(pred, sample=sample, seed=seed)
            if kind == "numeric"
            else categorical_ref(pred)
        )
    if proba is not None and classes is not None and len(classes) == 2:
        arr = np.asarray(proba, dtype=np.float64)
        positive = arr[:, 1] if arr.ndim == 2 else arr
        profile["proba"] = {
            "class": str(plain(classes[1])),
            **_column_json(numeric_ref(pd.Series(positive), sample=sample, seed=seed)),
        }
    if metric_name is not None and metric_value is not None:
        from release.config import LOWER_IS_BETTER

        profile["metric"] = {
            "name": metric_name,
            "value": float(metric_value),
            "n_test": int(n_test if n_test is not None else len(df)),
            "higher_is_better": metric_name not in LOWER_IS_BETTER,
        }
    return profile


def write_profile(path: str | os.PathLike[str], profile: Mapping[str, Any]) -> None:
    """Write a profile atomically as compact, stable JSON."""
    text = json.dumps(profile, sort_keys=True, separators=(",", ":"), allow_nan=False)
    write_text(path, text + "\n")


def read_profile(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a profile file."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise DataError(
            f"reference profile {path} not found",
            "run `release evaluate` (dvc repro) or pass --reference FILE",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(
            f"{path} is not a JSON reference profile", "pass a profile written by release evaluate"
        ) from None
    return check_profile(data, str(path))


def check_profile(data: Any, where: str) -> dict[str, Any]:
    """Validate a parsed profile's shape; raise DataError naming the problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(
            f"{where} is not a reference profile (format {FORMAT!r} expected)",
            "pass a profile written by release evaluate, or a CSV/Parquet data file",
        )
    if not isinstance(data.get("columns"), dict) or not isinstance(data.get("features"), list):
        raise DataError(f"{where} has no columns or features", "rebuild it with release evaluate")
    return data


def reference_from_profile(profile: Mapping[str, Any], source: str = "profile") -> Reference:
    """The in-memory reference of a (checked) profile."""
    feats = [str(f["name"]) for f in profile["features"]]
    columns = {c: _column_from_json(profile["columns"][c]) for c in feats}
    proba_json = profile.get("proba")
    proba = _column_from_json(proba_json) if proba_json else None
    pred_json = profile.get("predictions")
    return Reference(
        columns=columns,
        features=feats,
        target=profile.get("target"),
        rows=int(profile.get("rows", 0)),
        source=source,
        task=profile.get("task"),
        predictions=_column_from_json(pred_json) if pred_json else None,
        proba=proba if isinstance(proba, NumericRef) else None,
        proba_class=proba_json.get("class") if proba_json else None,
        classes=profile.get("classes"),
        metric=profile.get("metric"),
    )


# ----------------------------------------------------------------------- JSON shapes
def _compact(v: float) -> float:
    return float(f"{v:.10g}")


def _column_json(col: ColumnRef) -> dict[str, Any]:
    if isinstance(col, CategoricalRef):
        return {
            "kind": "categorical",
            "rows": col.rows,
            "count": col.count,
            "null_rate": col.null_rate,
            "counts": {k: int(v) for k, v in col.counts.items()},
        }
    return {
        "kind": "numeric",
        "rows": col.rows,
        "count": col.count,
        "null_rate": col.null_rate,
        "mean": col.mean if col.count else None,
        "std": col.std if col.count else None,
        "n_unique": col.n_unique,
        "quantiles": col.quantiles,
        "counts": {k: int(v) for k, v in col.counts.items()} if col.counts else None,
        "sample": [_compact(v) for v in col.values.tolist()],
    }


def _column_from_json(data: Mapping[str, Any]) -> ColumnRef:
    if data.get("kind") == "categorical":
        return CategoricalRef(
            counts={str(k): float(v) for k, v in data["counts"].items()},
            rows=int(data["rows"]),
            count=int(data["count"]),
            null_rate=float(data["null_rate"]),
        )
    values = np.asarray(data.get("sample") or [], dtype=np.float64)
    values.sort()
    counts = data.get("counts")
    return NumericRef(
        values=values,
        rows=int(data["rows"]),
        count=int(data["count"]),
        null_rate=float(data["null_rate"]),
        mean=float(data["mean"]) if data.get("mean") is not None else math.nan,
        std=float(data["std"]) if data.get("std") is not None else math.nan,
        n_unique=int(data["n_unique"]) if data.get("n_unique") is not None else None,
        counts={str(k): float(v) for k, v in counts.items()} if counts else None,
        quantiles={str(k): float(v) for k, v in (data.get("quantiles") or {}).items()},
    )

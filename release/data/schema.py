"""Which columns are features, and of which kind: one answer for every stage."""

from __future__ import annotations

from dataclasses import dataclass
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
    if data.features == "all":
        skip = {data.target, *data.annotators, *data.exclude}
        features = [c for c in present if c not in skip]
    else:
        features = list(data.features)
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
                "fix the value or declare the column categorical in validate.dtypes",
            )
        frame[col] = converted
    return frame

"""What a table means: task, missing-value markers, dtypes, ID-like and protected columns.

:func:`infer` is a pure function of the raw table (read by
:func:`release.scaffold.table.read_data`) and the user's choices; it returns an
:class:`Inference` that says, in ``notes``, every guess it made so a person can check each.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from release.errors import UsageError
from release.scaffold.table import detect_na_values, typed
from release.scaffold.task import TaskChoice, category_code, infer_task, primary_metric

Kind = Literal["numeric", "integer", "categorical", "bool"]

# Name tokens of attributes that are usually protected (measured per slice, never silently).
PROTECTED_TOKENS = frozenset(
    {
        "sex",
        "gender",
        "race",
        "ethnicity",
        "ethnic",
        "age",
        "religion",
        "nationality",
        "native",
        "citizenship",
        "marital",
        "disability",
        "pregnancy",
        "orientation",
    }
)
_ID_NAME = re.compile(r"(^|[_\-\s])(id|uuid|guid|key)$|^(id|index|row|unnamed: ?0)$", re.I)
MAX_CODES = 5  # integer columns with at most this many values are codes of a category
MAX_SLICE_LEVELS = 12
MAX_SLICES = 4
MAX_CATEGORIES = 30  # categories listed as a validation rule


@dataclass(frozen=True)
class Column:
    """One column as inferred: its kind, and the rule material validation will use."""

    name: str
    kind: Kind
    nulls: int
    distinct: int
    categories: list[str] | None = None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Inference:
    """Everything ``release init`` concluded about the data, with the reason for each."""

    rows: int
    target: str
    task: Literal["binary", "multiclass", "regression"]
    classes: list[str]
    columns: list[Column]
    na_values: list[str]
    id_like: list[str]
    protected: list[str]  # every protected attribute, found by name or given
    # the ones for data.protected: validation requires rows for each of their values,
    # so numeric and many-valued ones are measured through bins or left to the card text
    protected_checked: list[str]
    slice_columns: list[str]
    bins: dict[str, list[float | str]]
    primary_metric: str
    duplicate_rows: int
    delimiter: str | None
    nonnegative: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        return next(c for c in self.columns if c.name == name)


def infer(
    raw: Any,
    target: str,
    *,
    task: TaskChoice = "auto",
    protected: list[str] | None = None,
    slices: list[str] | None = None,
    delimiter: str | None = ",",
) -> Inference:
    """Infer the project's settings from ``raw`` (text cells from CSV, or typed Parquet)."""
    import pandas as pd

    notes: list[str] = []
    _check_names(raw, target, protected, slices)
    if delimiter not in (None, ","):
        notes.append(
            f"delimiter {delimiter!r} detected: release reads comma-separated CSV, "
            "so convert the file (or save it as Parquet) before `dvc repro`"
        )
    na_values = detect_na_values(raw)
    if na_values:
        notes.append("missing-value markers found: " + ", ".join(repr(v) for v in na_values))
    frame = typed(raw, na_values)
    duplicates = int(frame.duplicated().sum())
    if duplicates:
        notes.append(f"{duplicates} exact duplicate row(s) in the data")
    columns = [_column(frame[c], str(c)) for c in frame.columns]
    for col in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[col.name])
        if col.kind == "categorical" and numeric and col.name != target:
            notes.append(f"{col.name}: {col.distinct} numeric codes, treated as categories")
    y = frame[target]
    chosen, classes, why = infer_task(y, task)
    notes.append(f"task {chosen}: {why}")
    if int(y.isna().sum()):
        notes.append(f"target {target} has {int(y.isna().sum())} missing value(s)")
    features = [c for c in columns if c.name != target]
    id_like = [c.name for c in features if _is_id_like(frame[c.name], c)]
    for name in id_like:
        notes.append(f"{name}: looks like an identifier, excluded from the features")
    used = [c for c in features if c.name not in id_like]
    nonnegative = _describe_features(used, notes)
    chosen_protected = _choose_protected(used, protected, notes)
    slice_columns, bins = _choose_slices(
        frame, target, features, id_like, chosen_protected, slices, notes
    )
    kinds = {c.name: c for c in features}
    checked, protected_notes = checked_protected(chosen_protected, kinds, bins)
    notes += protected_notes
    metric = primary_metric(chosen, y)
    notes.append(f"primary metric {metric}")
    return Inference(
        rows=len(frame),
        target=target,
        task=chosen,
        classes=classes,
        columns=columns,
        na_values=na_values,
        id_like=id_like,
        protected=chosen_protected,
        protected_checked=checked,
        slice_columns=slice_columns,
        bins=bins,
        primary_metric=metric,
        duplicate_rows=duplicates,
        delimiter=delimiter,
        nonnegative=nonnegative,
        notes=notes,
    )


def _check_names(
    raw: Any, target: str, protected: list[str] | None, slices: list[str] | None
) -> None:
    """UsageError when the target or a given column is not in the data."""
    if target not in raw.columns:
        raise UsageError(
            f"target column {target!r} is not in the data",
            "columns: " + ", ".join(map(str, list(raw.columns)[:20])),
        )
    for given, what in ((protected or [], "--protected"), (slices or [], "--slices")):
        missing = [c for c in given if c not in raw.columns]
        if missing:
            raise UsageError(f"{what} column {missing[0]!r} is not in the data", "check the name")


def _describe_features(used: list[Column], notes: list[str]) -> list[str]:
    """Note the features' dtypes and observed categories; return the never-negative ones."""
    counts = {
        k: sum(c.kind == k for c in used) for k in ("numeric", "integer", "categorical", "bool")
    }
    notes.append(
        "dtypes (validate.dtypes): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    )
    listed = [c.name for c in used if c.kind == "categorical" and c.categories is not None]
    if listed:
        notes.append("allowed categories as observed (validate.categories): " + ", ".join(listed))
    nonnegative = [
        c.name
        for c in used
        if c.kind in ("numeric", "integer") and c.low is not None and c.low >= 0
    ]
    if nonnegative:
        notes.append("never negative, ranges [0, null]: " + ", ".join(nonnegative))
    return nonnegative


def _choose_protected(
    used: list[Column], protected: list[str] | None, notes: list[str]
) -> list[str]:
    """The protected attributes: as given, else the features whose names suggest one."""
    found = [c.name for c in used if _protected_name(c.name)]
    chosen = list(protected) if protected else found
    if protected:
        notes.append("protected attributes as given: " + ", ".join(chosen))
    elif found:
        notes.append("protected attributes by name (check them): " + ", ".join(found))
    else:
        notes.append("no protected attribute found by name (pass --protected COL if any)")
    return chosen


def _choose_slices(
    frame: Any,
    target: str,
    features: list[Column],
    id_like: list[str],
    chosen_protected: list[str],
    slices: list[str] | None,
    notes: list[str],
) -> tuple[list[str], dict[str, list[float | str]]]:
    """Slice columns (given or suggested) and quartile bins for numeric ones that matter."""
    kinds = {c.name: c for c in features}
    if slices:
        slice_columns = list(slices)
        notes.append("slice columns as given: " + ", ".join(slice_columns))
    else:
        slice_columns = suggest_slices(features, id_like, chosen_protected)
        notes.append(
            "slice columns suggested: "
            + (", ".join(slice_columns) or "none (no low-cardinality categorical column)")
        )
    bins: dict[str, list[float | str]] = {}
    for name in chosen_protected:
        found_col = kinds.get(name)
        numeric = found_col is not None and found_col.kind in ("numeric", "integer")
        if numeric and name not in slice_columns:
            edges = quartile_edges(frame[name])
            if edges:
                bins[name] = edges
                notes.append(f"{name}: numeric protected attribute, sliced by quartile bins")
    if not slice_columns and not bins:
        related = most_related(frame, [c for c in features if c.name not in id_like], target)
        edges = quartile_edges(frame[related]) if related else []
        if related and edges:
            bins[related] = edges
            notes.append(
                f"no categorical slice column: {related} (the numeric feature most correlated "
                "with the target) sliced by quartile bins"
            )
    return slice_columns, bins


def _column(series: Any, name: str) -> Column:
    import pandas as pd

    values = series.dropna()
    distinct = int(values.nunique())
    nulls = int(series.isna().sum())
    if pd.api.types.is_bool_dtype(series):
        return Column(name, "bool", nulls, distinct)
    if pd.api.types.is_numeric_dtype(series):
        numbers = values.astype(float)
        finite = numbers[numbers.map(math.isfinite)]
        integral = bool(len(finite)) and bool((finite == finite.round()).all())
        low = float(finite.min()) if len(finite) else None
        high = float(finite.max()) if len(finite) else None
        if integral and 1 < distinct <= MAX_CODES:
            codes = sorted({category_code(v) for v in finite})
            return Column(name, "categorical", nulls, distinct, codes)
        return Column(name, "integer" if integral else "numeric", nulls, distinct, None, low, high)
    cats = sorted(map(str, values.unique())) if distinct <= MAX_CATEGORIES else None
    return Column(name, "categorical", nulls, distinct, cats)


def _is_id_like(series: Any, col: Column) -> bool:
    """An identifier: named like one, or unique on every row (integers counting or text)."""
    if _ID_NAME.search(col.name):
        return True
    rows = int(series.notna().sum())
    if rows < 20 or col.distinct < rows:
        return False
    if col.kind == "categorical":
        return True
    values = series.dropna()
    return col.kind == "integer" and bool(values.is_monotonic_increasing)


def checked_protected(
    protected: list[str], kinds: dict[str, Column], bins: dict[str, list[float | str]]
) -> tuple[list[str], list[str]]:
    """The protected columns validation can require rows for each value of, and why not others.

    Coverage needs rows for every value, so a numeric attribute is measured through its
    bins and a many-valued one is left to the card's text until its values are grouped.
    """
    checked, notes = [], []
    for name in protected:
        col = kinds.get(name)
        if col is None:
            continue
        categorical = col.kind in ("categorical", "bool")
        if categorical and col.distinct <= MAX_SLICE_LEVELS:
            checked.append(name)
        elif categorical:
            notes.append(
                f"{name}: protected, but {col.distinct} values are too many to require rows "
                "for each, so it is not in data.protected (group its values to measure it)"
            )
        elif name in bins:
            notes.append(f"{name}: numeric, so measured through its bins, not in data.protected")
    return checked, notes


def _protected_name(name: str) -> bool:
    tokens = {t for t in re.split(r"[^a-z0-9]+", name.lower()) if t}
    return bool(tokens & PROTECTED_TOKENS)


def suggest_slices(features: list[Column], id_like: list[str], protected: list[str]) -> list[str]:
    """Categorical columns with few levels (protected ones first), at most :data:`MAX_SLICES`."""
    eligible = [
        c
        for c in features
        if c.name not in id_like
        and c.kind in ("categorical", "bool")
        and 1 < c.distinct <= MAX_SLICE_LEVELS
    ]
    ranked = sorted(eligible, key=lambda c: (c.name not in protected, c.distinct, c.name))
    return [c.name for c in ranked[:MAX_SLICES]]


def most_related(frame: Any, features: list[Column], target: str) -> str | None:
    """The numeric feature with the largest absolute correlation with the (coded) target."""
    import pandas as pd

    y = frame[target]
    if not pd.api.types.is_numeric_dtype(y):
        y = pd.Series(pd.factorize(y)[0], index=y.index).where(y.notna())
    best, score = None, -1.0
    for col in features:
        if col.kind not in ("numeric", "integer"):
            continue
        r = frame[col.name].astype(float).corr(y.astype(float))
        if r == r and abs(r) > score:  # (r == r: not NaN)
            best, score = col.name, abs(r)
    return best


def quartile_edges(series: Any) -> list[float | str]:
    """Bin edges at the quartiles (rounded, distinct), open at the top."""
    values = series.dropna().astype(float)
    if values.nunique() < 4:
        return []
    qs = [float(values.min())] + [float(values.quantile(q)) for q in (0.25, 0.5, 0.75)]
    edges = sorted({_round(v) for v in qs})
    return [*edges, "inf"] if len(edges) >= 2 else []


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return round(value, digits)

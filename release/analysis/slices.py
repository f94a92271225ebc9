"""Slices of the test set, built from ``evaluate.slices`` (and ``data.slice_columns``).

Four kinds, each a boolean row mask with a stable name:

* ``value``: every value of a declared column (``region=north``; missing values get
  ``region=<missing>``);
* ``bin``: numeric bins from edges, half-open ``[low, high)`` except the last one, which
  is closed (``age=[25, 60)``); missing values get ``age=<missing>``;
* ``predicate``: a named condition in the safe language of :mod:`predicate`
  (``senior: "age >= 60"``);
* ``intersection``: every non-empty pair of levels of two columns, each column split by
  its bins when it has some and by its values otherwise (``sex=female & age=[25, 60)``).

A bad definition (unknown column, unparsable predicate) raises one
:class:`~release.errors.ConfigError` naming the setting and how to fix it. A declared bin
or predicate that no test row falls in is kept with zero rows: the analysis reports it as
a warning instead of failing the pipeline (a small test set can miss a rare slice).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from release.analysis import predicate
from release.config import SliceSettings
from release.errors import ConfigError

# A column with more distinct values than this needs bins, not one slice per value.
MAX_VALUES = 100
MISSING_LABEL = "<missing>"


@dataclass(frozen=True)
class Slice:
    """A named subset of the test rows."""

    name: str
    kind: str  # value | bin | predicate | intersection
    mask: np.ndarray

    @property
    def rows(self) -> int:
        """How many test rows fall in the slice."""
        return int(self.mask.sum())


def format_value(value: Any) -> str:
    """A value as it appears in a slice name (integral floats without ``.0``)."""
    if isinstance(value, float | np.floating):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if float(value).is_integer():
            return str(int(value))
        return f"{float(value):g}"
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _require_column(df: Any, column: str, setting: str) -> None:
    if column not in df.columns:
        raise ConfigError(
            f"{setting} names unknown column {column!r}",
            "use one of: " + ", ".join(map(str, df.columns)),
        )


def value_levels(df: Any, column: str, setting: str) -> list[Slice]:
    """One slice per distinct value of ``column`` (plus missing values, if any)."""
    import pandas as pd

    _require_column(df, column, setting)
    series = df[column]
    present = series.notna().to_numpy()
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # values of mixed types cannot be sorted: keep first-seen order
        codes, uniques = pd.factorize(series, sort=False)
    if len(uniques) > MAX_VALUES:
        raise ConfigError(
            f"{setting} column {column!r} has {len(uniques)} distinct values",
            f"declare numeric bins for it under evaluate.slices.bins.{column}",
        )
    levels = [
        Slice(f"{column}={format_value(value)}", "value", codes == i)
        for i, value in enumerate(uniques)
    ]
    if not present.all():
        levels.append(Slice(f"{column}={MISSING_LABEL}", "value", ~present))
    return levels


def parse_edges(column: str, edges: list[float | str]) -> list[float]:
    """Bin edges as floats (``inf``/``-inf`` allowed), strictly increasing."""
    out: list[float] = []
    for edge in edges:
        try:
            value = float(edge)
        except (TypeError, ValueError):
            raise ConfigError(
                f"evaluate.slices.bins.{column} edge {edge!r} is not a number",
                "use numbers, inf or -inf",
            ) from None
        if math.isnan(value):
            raise ConfigError(f"evaluate.slices.bins.{column} edge is NaN", "use numbers")
        out.append(value)
    if any(b <= a for a, b in itertools.pairwise(out)):
        raise ConfigError(
            f"evaluate.slices.bins.{column} = {edges!r} is not strictly increasing",
            "list the edges from low to high, e.g. [0, 25, 60, inf]",
        )
    return out


def bin_levels(df: Any, column: str, edges: list[float | str]) -> list[Slice]:
    """One slice per bin of ``column`` (plus missing values, if any); a bin may be empty."""
    import pandas as pd

    setting = f"evaluate.slices.bins.{column}"
    _require_column(df, column, setting)
    series = df[column]
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise ConfigError(
            f"{setting}: column {column!r} is not numeric",
            "list it under evaluate.slices.columns to get one slice per value instead",
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bounds = parse_edges(column, edges)
    levels = []
    last = len(bounds) - 2
    for i, (low, high) in enumerate(itertools.pairwise(bounds)):
        closed = i == last and math.isfinite(high)
        upper = values <= high if closed else values < high
        mask = (values >= low) & upper
        name = f"{column}=[{format_value(low)}, {format_value(high)}{']' if closed else ')'}"
        levels.append(Slice(name, "bin", mask))
    missing = np.isnan(values)
    if missing.any():
        levels.append(Slice(f"{column}={MISSING_LABEL}", "bin", missing))
    return levels


def predicate_slice(df: Any, name: str, text: str) -> Slice:
    """The slice of rows where the named predicate holds."""
    setting = f"evaluate.slices.predicates.{name}"
    try:
        node = predicate.parse(text)
        for column in sorted(predicate.columns(node)):
            _require_column(df, column, f"{setting} ({text!r})")
        mask = predicate.evaluate(node, df)
    except predicate.PredicateError as exc:
        raise ConfigError(
            f"{setting} = {text!r} is invalid: {exc}",
            'write comparisons such as age >= 60 and region == "north", joined by and/or/not',
        ) from None
    return Slice(name, "predicate", mask)


def column_levels(df: Any, column: str, settings: SliceSettings, setting: str) -> list[Slice]:
    """A column split by its bins when it has some, else by its values."""
    if column in settings.bins:
        return bin_levels(df, column, settings.bins[column])
    return value_levels(df, column, setting)


def build_slices(
    df: Any, settings: SliceSettings, extra_columns: list[str] | tuple[str, ...] = ()
) -> list[Slice]:
    """Every slice the settings declare, in declaration order; names are unique."""
    found: list[Slice] = []
    columns = list(dict.fromkeys([*settings.columns, *extra_columns]))
    for column in columns:
        if column in settings.bins:
            continue  # binned columns are split by their bins below
        found.extend(value_levels(df, column, "evaluate.slices.columns"))
    for column, edges in settings.bins.items():
        found.extend(bin_levels(df, column, edges))
    for name, text in settings.predicates.items():
        found.append(predicate_slice(df, name, text))
    for pair in settings.intersections:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(
                f"evaluate.slices.intersections entry {pair!r} is invalid",
                "give pairs of two different columns, e.g. [sex, age]",
            )
        setting = "evaluate.slices.intersections"
        left = column_levels(df, pair[0], settings, setting)
        right = column_levels(df, pair[1], settings, setting)
        for a in left:
            for b in right:
                mask = a.mask & b.mask
                if mask.any():
                    found.append(Slice(f"{a.name} & {b.name}", "intersection", mask))
    seen: set[str] = set()
    for item in found:
        if item.name in seen:
            raise ConfigError(
                f"slice name {item.name!r} is defined twice",
                "rename the predicate or remove the duplicate declaration",
            )
        seen.add(item.name)
    return found

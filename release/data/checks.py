"""Every setting that names a column, checked against the data before anything trains.

``release data prepare`` (on the source) and ``release data validate`` (on the prepared
splits) call :func:`check_settings`, so a typo in a slice, a protected attribute, a rule
or a predicate fails in seconds with the setting's name, instead of at ``evaluate``
after the model has trained.
"""

from __future__ import annotations

import difflib
from typing import Any

from release.analysis import predicate
from release.analysis.slices import MAX_VALUES, parse_edges
from release.config import Settings
from release.errors import ConfigError

MAX_LISTED = 30  # columns named in a fix; a wide table would make the line unreadable


def column_references(settings: Settings) -> list[tuple[str, str]]:
    """Every (setting, column) pair in params.yaml that must name a column of the data."""
    data, rules, slices = settings.data, settings.validate, settings.evaluate.slices
    refs: list[tuple[str, str]] = [("data.target", data.target)]
    if isinstance(data.features, list):
        refs += [("data.features", c) for c in data.features]
    for key in ("exclude", "annotators", "slice_columns", "protected"):
        refs += [(f"data.{key}", c) for c in getattr(data, key)]
    for key in ("dtypes", "null_rate", "ranges", "categories"):
        refs += [(f"validate.{key}", c) for c in getattr(rules, key)]
    refs += [("evaluate.slices.columns", c) for c in slices.columns]
    refs += [("evaluate.slices.bins", c) for c in slices.bins]
    refs += [("evaluate.slices.intersections", c) for pair in slices.intersections for c in pair]
    refs += [("monitor.drift.methods", c) for c in settings.monitor.drift.methods]
    return refs


def check_columns(settings: Settings, present: list[str], where: str) -> None:
    """Raise one ConfigError listing every setting that names a column not in ``present``."""
    known = set(present)
    unknown: dict[str, list[str]] = {}
    for setting, column in column_references(settings):
        if column not in known and column not in unknown.setdefault(setting, []):
            unknown[setting].append(column)
    problems = [
        f"{setting} {', '.join(_named(c, present) for c in columns)}"
        for setting, columns in unknown.items()
        if columns
    ]
    if problems:
        listed = ", ".join(present[:MAX_LISTED]) + (" ..." if len(present) > MAX_LISTED else "")
        raise ConfigError(
            f"params.yaml names columns that are not in {where}: {'; '.join(problems)}",
            f"fix the names in params.yaml; the data has: {listed}",
        )


def check_settings(settings: Settings, frame: Any, where: str) -> None:
    """Raise one ConfigError if a setting names an absent column or a predicate is bad.

    ``frame`` is the data as the pipeline will see it (after type conversion); ``where``
    names it in the message (the source path, or the prepared splits).
    """
    check_columns(settings, [str(c) for c in frame.columns], where)
    _check_bins(settings, frame)
    _check_value_slices(settings, frame)
    for name, text in settings.evaluate.slices.predicates.items():
        check_predicate(name, text, frame)


def check_predicate(name: str, text: str, frame: Any) -> None:
    """A slice predicate must parse, name columns of ``frame`` and fit their types."""
    setting = f"evaluate.slices.predicates.{name}"
    try:
        node = predicate.parse(text)
        absent = sorted(c for c in predicate.columns(node) if c not in frame.columns)
        if absent:
            present = [str(c) for c in frame.columns]
            raise predicate.PredicateError(
                "unknown column " + ", ".join(_named(c, present) for c in absent)
            )
        predicate.evaluate(node, frame)  # type mismatches (number vs text) surface here
    except predicate.PredicateError as exc:
        hint = predicate.quoting_hint(text)
        fix = (
            f"write {hint}"
            if hint
            else 'write comparisons such as age >= 60 and region == "north"; a column name'
            " holding '-' or spaces goes in backticks, as in `hours-per-week` > 40"
        )
        raise ConfigError(f"{setting} = {text!r} is invalid: {exc}", fix) from None


def _check_bins(settings: Settings, frame: Any) -> None:
    import pandas as pd

    for column, edges in settings.evaluate.slices.bins.items():
        parse_edges(column, edges)  # increasing numbers, or one line naming the setting
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            raise ConfigError(
                f"evaluate.slices.bins.{column}: column {column!r} is not numeric",
                "list it under evaluate.slices.columns to get one slice per value instead",
            )


def _check_value_slices(settings: Settings, frame: Any) -> None:
    """A column sliced by value needs few values; evaluate would refuse it after training."""
    slices = settings.evaluate.slices
    paired = [c for pair in slices.intersections for c in pair]
    wanted = [*slices.columns, *settings.data.slice_columns, *paired]
    for column in dict.fromkeys(c for c in wanted if c not in slices.bins):
        distinct = int(frame[column].nunique(dropna=True))
        if distinct > MAX_VALUES:
            raise ConfigError(
                f"slice column {column!r} has {distinct} distinct values (at most {MAX_VALUES}"
                " make one slice each)",
                f"declare numeric bins for it under evaluate.slices.bins.{column}",
            )


def _named(column: str, present: list[str]) -> str:
    close = difflib.get_close_matches(column, present, n=1, cutoff=0.75)
    return f"{column!r} (did you mean {close[0]!r}?)" if close else repr(column)

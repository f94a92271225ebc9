"""The evaluate stage's JSON contracts, ``reports/metrics.json`` and ``reports/slices.json``:
one typed reader and one writer each, for every part that hands them on (the analysis and
evaluation write them; the policy gates, the card and the site read them).

Each contract is a frozen dataclass with the schema version it understands. A reader takes
the raw bytes (from a git object, or a file through :func:`load_metrics` and
:func:`load_slices`) and either returns the typed fact or raises :class:`FactError`
naming the file, the version and the key that is missing or malformed, so a gate that
needs the fact fails closed instead of skipping it. Files written before the contracts
carried a ``schema_version`` are read as version 1. ``metrics.json`` stays flat numbers
without a ``schema_version`` key (``dvc metrics diff`` would list it as a metric).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release import paths
from release.errors import CheckFailed
from release.fsio import dumps_json, parse_json, write_text

METRICS_SCHEMA = 1
SLICES_SCHEMA = 1
MAX_BYTES = 32 * 1024 * 1024  # a fact file larger than this is not a report we wrote
MAX_SLICES = 100_000


class FactError(CheckFailed):
    """A fact a gate needs is missing or malformed."""


@dataclass(frozen=True)
class Metrics:
    """``reports/metrics.json``: flat metric values (``dvc metrics diff`` reads it too)."""

    schema_version: int
    values: dict[str, float]

    def value(self, metric: str, where: str) -> float:
        """The metric's value; FactError naming it when absent or not a number."""
        if metric not in self.values:
            raise FactError(f"{metric} missing from {where}", "re-run release evaluate")
        return self.values[metric]


@dataclass(frozen=True)
class SliceFact:
    """One slice of ``reports/slices.json``."""

    name: str
    rows: int
    metric: float | None
    ci_low: float | None
    ci_high: float | None
    small: bool


@dataclass(frozen=True)
class Slices:
    """``reports/slices.json``: the primary metric per slice, with its interval."""

    schema_version: int
    primary_metric: str
    higher_is_better: bool
    slices: tuple[SliceFact, ...]
    # The whole parsed document, for the decisions that read more than these fields (the
    # slice gate's exact tests, the fairness block); validated above, never written back.
    doc: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def by_name(self) -> dict[str, SliceFact]:
        """Slices keyed by name."""
        return {s.name: s for s in self.slices}


def _where(path: str, version: str) -> str:
    return f"{path} at {version}"


def _object(blob: bytes | None, path: str, version: str, schema: int) -> dict[str, Any]:
    where = _where(path, version)
    if blob is None:
        raise FactError(
            f"{path} is not committed in git at {version}",
            "commit it; for a DVC output set cache: false",
        )
    data = parse_json(
        blob, where, FactError, "re-run release evaluate", max_bytes=MAX_BYTES, kind="a report"
    )
    found = data.get("schema_version", 1)
    if found != schema:
        raise FactError(
            f"{where} has schema_version {found!r}; this release reads {schema}",
            "re-run release evaluate with this release",
        )
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return value  # counts (n_test) stay integers
    return None if math.isnan(value) else float(value)


def read_metrics(blob: bytes | None, version: str, path: str = paths.METRICS) -> Metrics:
    """Parse ``metrics.json``: every value that is a number is kept; others are ignored
    (counts, labels), and a gate asking for one of them is told it is missing."""
    data = _object(blob, path, version, METRICS_SCHEMA)
    values = {
        str(k): n
        for k, v in data.items()
        if k != "schema_version" and (n := _number(v)) is not None
    }
    return Metrics(METRICS_SCHEMA, values)


def _field(entry: dict[str, Any], key: str, where: str, *, optional: bool = False) -> float | None:
    if key not in entry:
        raise FactError(f"{where}: {key} missing", "re-run release evaluate")
    value = entry[key]
    if value is None and optional:
        return None
    number = _number(value)
    if number is None:
        raise FactError(f"{where}: {key} = {value!r} is not a number", "re-run release evaluate")
    return number


def read_slices(blob: bytes | None, version: str, path: str = paths.SLICES_JSON) -> Slices:
    """Parse ``slices.json``; FactError naming the first missing or malformed key."""
    where = _where(path, version)
    data = _object(blob, path, version, SLICES_SCHEMA)
    metric = data.get("primary_metric")
    if not isinstance(metric, str) or not metric:
        raise FactError(f"{where}: primary_metric missing", "re-run release evaluate")
    higher = data.get("higher_is_better")
    if not isinstance(higher, bool):
        raise FactError(f"{where}: higher_is_better missing", "re-run release evaluate")
    raw = data.get("slices")
    if not isinstance(raw, list):
        raise FactError(f"{where}: slices missing", "re-run release evaluate")
    if len(raw) > MAX_SLICES:
        raise FactError(f"{where}: more than {MAX_SLICES} slices", "reduce evaluate.slices")
    out: list[SliceFact] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        at = f"{where}: slices[{i}]"
        if not isinstance(entry, dict):
            raise FactError(f"{at} is not an object", "re-run release evaluate")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise FactError(f"{at}: name missing", "re-run release evaluate")
        if name in seen:
            raise FactError(f"{at}: slice {name!r} appears twice", "re-run release evaluate")
        seen.add(name)
        at = f"{where}: slice {name!r}"
        rows = entry.get("rows")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise FactError(f"{at}: rows missing or not a count", "re-run release evaluate")
        small = entry.get("small")
        if not isinstance(small, bool):
            raise FactError(f"{at}: small missing", "re-run release evaluate")
        out.append(
            SliceFact(
                name=name,
                rows=rows,
                metric=_field(entry, "metric", at, optional=True),
                ci_low=_field(entry, "ci_low", at, optional=True),
                ci_high=_field(entry, "ci_high", at, optional=True),
                small=small,
            )
        )
    return Slices(SLICES_SCHEMA, metric, higher, tuple(out), doc=data)


def _file_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FactError(f"{path} missing", "run release evaluate (dvc repro evaluate)")
    if path.stat().st_size > MAX_BYTES:
        raise FactError(f"{path} is larger than {MAX_BYTES} bytes", "regenerate it")
    return path.read_bytes()


def load_metrics(path: str | Path, version: str = "the working tree") -> Metrics:
    """:func:`read_metrics` of a file."""
    return read_metrics(_file_bytes(Path(path)), version, str(path))


def load_slices(path: str | Path, version: str = "the working tree") -> Slices:
    """:func:`read_slices` of a file."""
    return read_slices(_file_bytes(Path(path)), version, str(path))


def write_metrics(path: str | Path, values: dict[str, Any]) -> Metrics:
    """Write ``metrics.json`` (flat, for ``dvc metrics diff``) atomically; return it typed.

    Every value must be a number (NaN is written as null): what the reader would drop is
    refused here instead.
    """
    bad = sorted(
        str(k)
        for k, v in values.items()
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real))
    )
    if bad or "schema_version" in values:
        raise ValueError(f"metrics.json takes numbers only; not {bad or ['schema_version']}")
    text = dumps_json(values)
    typed = read_metrics(text.encode("utf-8"), "the evaluation", str(path))
    write_text(path, text)
    return typed


def write_slices(path: str | Path, doc: dict[str, Any]) -> Slices:
    """Write ``slices.json`` with its ``schema_version``, atomically; return it typed.

    The document is checked by :func:`read_slices` first, so nothing is written that the
    readers would refuse.
    """
    stamped: dict[str, Any] = {"schema_version": SLICES_SCHEMA}
    stamped.update((k, v) for k, v in doc.items() if k != "schema_version")
    text = dumps_json(stamped)
    typed = read_slices(text.encode("utf-8"), "the evaluation", str(path))
    write_text(path, text)
    return typed

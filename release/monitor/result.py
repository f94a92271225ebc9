"""The drift result: one run's answer, its JSON form and the flat ``drift.json`` numbers.

Two JSON contracts, each with one writer and one reader here:

- the whole report (``release monitor drift --json``): :meth:`DriftReport.to_dict` and
  :meth:`DriftReport.from_dict`;
- the flat metrics file ``reports/drift.json`` (``dvc metrics diff`` friendly, read by the
  registry site over git history): :meth:`DriftReport.flat_metrics` and
  :func:`read_drift_metrics`.

Both carry ``schema_version``; a file without one is version 1 (the same fields,
written before versions), and readers take both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from release.monitor.concept import ConceptDrift
from release.monitor.schema import Finding, broken_feed

SCHEMA_VERSION = 2
_DERIVED = ("drifted_columns", "drift_detected", "missing_features")


@dataclass
class ColumnDrift:
    """The drift verdict of one column (or of the model's predictions)."""

    column: str
    kind: str
    status: str  # tested | missing | all_null | type_changed | no_reference
    drifted: bool
    method: str | None = None
    score: float | None = None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    n_reference: int = 0
    n_current: int = 0
    null_rate_reference: float | None = None
    null_rate_current: float | None = None
    new_categories: list[str] = field(default_factory=list)
    unseen_rate: float | None = None
    note: str = ""
    distribution: dict[str, Any] | None = None


@dataclass
class DriftReport:
    """The whole answer of one drift run."""

    columns: list[ColumnDrift]
    drift_share: float
    share_threshold: float
    dataset_drift: bool
    rows_reference: int
    rows_current: int
    reference_source: str
    current_source: str
    predictions: list[ColumnDrift] = field(default_factory=list)
    prediction_drift: bool = False
    concept: ConceptDrift | None = None
    extra_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema: list[Finding] = field(default_factory=list)
    # The model applied to the batch: {"source", "version", "sha256"} (None: no model).
    model: dict[str, Any] | None = None

    @property
    def model_line(self) -> str:
        """Which model's outputs the report judges: the first line of every report."""
        if self.model is None:
            return "model: none applied (prediction and concept drift not measured)"
        sha = str(self.model.get("sha256") or "")
        if self.model.get("version") is None:
            return (
                f"model: the workspace model is used ({self.model.get('source')}, sha256 {sha}); "
                "pass --stage or --version to apply a registered version"
            )
        return f"model: {self.model.get('source')}, sha256 {sha}"

    @property
    def missing_features(self) -> list[str]:
        """Model features the batch lacks: the feed is broken when this is not empty."""
        return broken_feed(self.schema)

    @property
    def drifted_columns(self) -> list[str]:
        """Names of drifted columns."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def drift_detected(self) -> bool:
        """Confirmed drift of any kind: dataset, prediction or concept."""
        return (
            self.dataset_drift
            or self.prediction_drift
            or bool(self.concept is not None and self.concept.drifted)
        )

    def to_dict(self) -> dict[str, Any]:
        """The one writer: everything, as JSON-ready data (distributions left out)."""
        out = {"schema_version": SCHEMA_VERSION, **asdict(self)}
        for col in out["columns"] + out["predictions"]:
            col.pop("distribution", None)
        out["drifted_columns"] = self.drifted_columns
        out["drift_detected"] = self.drift_detected
        out["missing_features"] = self.missing_features
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        """Read :meth:`to_dict`'s form back (see :func:`report_from_dict`)."""
        return report_from_dict(data)

    def flat_metrics(self) -> dict[str, float | int | None]:
        """Flat numbers for ``reports/drift.json`` (``dvc metrics diff`` friendly)."""
        tested = [c for c in self.columns if c.status != "no_reference"]
        flat: dict[str, float | int | None] = {
            "schema_version": SCHEMA_VERSION,
            "drift_detected": int(self.drift_detected),
            "dataset_drift": int(self.dataset_drift),
            "drift_share": round(self.drift_share, 6),
            "drifted_columns": len(self.drifted_columns),
            "columns": len(tested),
            "rows_current": self.rows_current,
            "rows_reference": self.rows_reference,
            "prediction_drift": int(self.prediction_drift),
            "concept_drift": int(bool(self.concept and self.concept.drifted)),
            "missing_features": len(self.missing_features),
            "schema_findings": len(self.schema),
        }
        for col in self.columns + self.predictions:
            prefix = "prediction" if col in self.predictions else "column"
            flat[f"{prefix}.{col.column}.score"] = _num(col.score)
            flat[f"{prefix}.{col.column}.drifted"] = int(col.drifted)
        if self.concept is not None:
            c = self.concept
            flat.update(
                {
                    "concept.metric_reference": _num(c.reference),
                    "concept.metric_current": _num(c.current),
                    "concept.metric_ci_low": _num(c.ci_low),
                    "concept.metric_ci_high": _num(c.ci_high),
                    "concept.metric_drop": _num(c.drop),
                }
            )
        return flat


def _version(data: dict[str, Any], what: str) -> int:
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise ValueError(f"{what} has schema_version {version!r}; readable: 1 to {SCHEMA_VERSION}")
    return version


def _column(data: dict[str, Any]) -> ColumnDrift:
    names = {f.name for f in fields(ColumnDrift)}
    return ColumnDrift(**{k: v for k, v in data.items() if k in names})


def report_from_dict(data: dict[str, Any]) -> DriftReport:
    """The one reader of a report's JSON form (v1 or v2); ValueError when it is not one."""
    _version(data, "drift report")
    names = {f.name for f in fields(DriftReport)}
    kwargs = {k: v for k, v in data.items() if k in names and k not in _DERIVED}
    kwargs["columns"] = [_column(c) for c in data.get("columns", [])]
    kwargs["predictions"] = [_column(c) for c in data.get("predictions", [])]
    kwargs["schema"] = [Finding(**f) for f in data.get("schema", [])]
    if data.get("concept") is not None:
        kwargs["concept"] = ConceptDrift(**data["concept"])
    try:
        return DriftReport(**kwargs)
    except TypeError as exc:
        raise ValueError(f"not a drift report: {exc}") from None


@dataclass(frozen=True)
class DriftMetrics:
    """``reports/drift.json`` as read back: the headline numbers and the rest by key."""

    schema_version: int
    drift_detected: bool
    dataset_drift: bool
    drift_share: float | None
    drifted_columns: int
    values: dict[str, float | int | None]

    def to_dict(self) -> dict[str, float | int | None]:
        """The flat form, as the writer wrote it (the version made current)."""
        return {**self.values, "schema_version": SCHEMA_VERSION}


def read_drift_metrics(data: Any) -> DriftMetrics | None:
    """The one reader of ``drift.json`` (v1 or v2); None when ``data`` is not one."""
    if not isinstance(data, dict):
        return None
    try:
        version = _version(data, "drift.json")
    except ValueError:
        return None
    values = {
        str(k): v
        for k, v in data.items()
        if k != "schema_version" and (v is None or isinstance(v, (int, float)))
    }
    share = values.get("drift_share")
    return DriftMetrics(
        schema_version=version,
        drift_detected=bool(values.get("drift_detected")),
        dataset_drift=bool(values.get("dataset_drift")),
        drift_share=float(share) if share is not None else None,
        drifted_columns=int(values.get("drifted_columns") or 0),
        values=values,
    )


def _num(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)

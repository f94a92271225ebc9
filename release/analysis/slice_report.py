"""The ``reports/slices.json`` document: per-slice metric with its interval, HLP, potential
impact and rank, computed purely from arrays (:func:`analyse_slices`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from release.analysis import hlp, impact
from release.analysis.fairness import analyse_fairness
from release.analysis.slices import build_slices
from release.config import Settings
from release.errors import ConfigError, DataError
from release.stats import bootstrap
from release.stats import metrics as m
from release.stats.metrics import encode as encode_outcomes

BOUNDED_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1", "roc_auc"})
# the overall entry's fields, in the document's order
_OVERALL_FIELDS = (
    "metric",
    "ci_low",
    "ci_high",
    "interval",
    "rows",
    "hlp",
    "hlp_annotator_accuracy",
    "hlp_agreement",
    "impact_model",
)


def _hlp_plan(settings: Settings, df: Any, names: list[str]) -> tuple[bool, dict[str, float]]:
    """Whether to measure HLP from annotators, and the given per-slice HLP values."""
    cfg = settings.evaluate.hlp
    annotators = list(settings.data.annotators)
    regression = settings.data.task == "regression"
    given = dict(cfg.given) if cfg.source in ("auto", "given") else {}
    known = {"overall", *names}
    for name, value in given.items():
        if name not in known:
            raise ConfigError(
                f"evaluate.hlp.given names slice {name!r}, which is not defined",
                "use a slice name from reports/slices.md or 'overall'",
            )
        metric = settings.evaluate.primary_metric
        if not isinstance(value, int | float) or (
            metric in BOUNDED_METRICS and not 0 <= value <= 1
        ):
            raise ConfigError(
                f"evaluate.hlp.given.{name} = {value!r} is invalid",
                "give HLP as a fraction between 0 and 1 (0.96 for 96%)",
            )
    if cfg.source == "given" and not given:
        raise ConfigError(
            "evaluate.hlp.source is 'given' but evaluate.hlp.given is empty",
            "add slice: value pairs under evaluate.hlp.given or use source: auto",
        )
    use_annotators = cfg.source in ("auto", "annotators") and bool(annotators) and not regression
    if cfg.source == "annotators" and not use_annotators:
        raise ConfigError(
            "evaluate.hlp.source is 'annotators' but no annotator labels can be used",
            "list annotator columns in data.annotators (classification only)",
        )
    return use_annotators, given


@dataclass(frozen=True)
class _Measure:
    """What measuring one slice needs: the outcomes, the metric and the HLP sources."""

    settings: Settings
    out: m.Outcomes
    metric: str
    impact_metric: str
    correct: Any
    rows_hlp: Any
    given: dict[str, float]

    def __call__(self, name: str, mask: np.ndarray | None) -> dict[str, Any]:
        ev = self.settings.evaluate
        sub = self.out if mask is None else self.out.take(np.flatnonzero(mask))
        est = bootstrap.estimate(
            self.metric,
            sub,
            resamples=ev.bootstrap,
            confidence=ev.confidence,
            rng=bootstrap.rng_for(ev.seed, name),
        )
        if self.impact_metric == self.metric:
            model_value = est.value
        elif self.correct is not None:
            part = self.correct if mask is None else self.correct[mask]
            model_value = float(part.mean()) if part.size else None
        else:
            model_value = m.point(self.impact_metric, sub)
        acc, agr = self.rows_hlp.on(mask) if self.rows_hlp is not None else (None, None)
        value: float | None
        source: str | None
        if name in self.given:
            value, source = float(self.given[name]), "given"
        elif self.rows_hlp is not None:
            value = acc if ev.hlp.kind == "annotator_accuracy" else agr
            source = "annotators" if value is not None else None
        else:
            value, source = None, None
        return {
            "rows": est.rows,
            "metric": est.value,
            "ci_low": est.low,
            "ci_high": est.high,
            "interval": est.method,
            "impact_model": model_value,
            "hlp": value,
            "hlp_source": source,
            "hlp_annotator_accuracy": acc,
            "hlp_agreement": agr,
        }


def _check_inputs(settings: Settings, test_df: Any, n: int, has_proba: bool) -> None:
    metric = settings.evaluate.primary_metric
    if n == 0:
        raise DataError("the test set is empty", "check data.test_size and the data source")
    if len(test_df) != n:
        raise DataError(
            f"test data has {len(test_df)} rows but there are {n} predictions",
            "pass the predictions of exactly these rows",
        )
    if metric in ("roc_auc", "log_loss") and not has_proba:
        raise ConfigError(
            f"evaluate.primary_metric {metric} needs class probabilities",
            "use a classifier with predict_proba or another primary metric",
        )


def _rank(entries: list[dict[str, Any]], overall: dict[str, Any], hib: bool) -> str:
    """Rank the slices in place by potential impact (or, without HLP, by the shortfall
    to the overall metric); return which ranking was used."""
    ranking = "hlp" if any(e["potential_impact"] is not None for e in entries) else "gap"
    if ranking == "gap":
        # Without HLP, the only yardstick is the overall metric: rank the share-weighted shortfall.
        for e in entries:
            e["gap_impact"] = impact.potential_impact(
                overall["impact_model"], e["impact_model"], e["share"], higher_is_better=hib
            )
    key = "potential_impact" if ranking == "hlp" else "gap_impact"
    ranks = impact.rank([impact.Candidate(e["name"], e.get(key), e["small"]) for e in entries])
    for e in entries:
        e["rank"] = ranks[e["name"]]
    return ranking


def _hlp_kind(settings: Settings, sources: set[str | None]) -> str | None:
    sources = sources - {None}
    if not sources:
        return None
    if sources == {"given"}:
        return "given"
    return settings.evaluate.hlp.kind


def analyse_slices(
    settings: Settings,
    test_df: Any,
    y_true: Any,
    y_pred: Any,
    proba: Any = None,
    classes: list[Any] | None = None,
) -> dict[str, Any]:
    """The ``reports/slices.json`` document: per-slice metric with CI, HLP, impact, rank."""
    ev = settings.evaluate
    task = settings.data.task
    metric = ev.primary_metric
    m.check_metric(metric, task)
    out, classes = encode_outcomes(task, y_true, y_pred, proba, classes)
    n = len(out)
    _check_inputs(settings, test_df, n, out.proba is not None)
    slices = build_slices(test_df, ev.slices, settings.data.slice_columns)
    use_annotators, given = _hlp_plan(settings, test_df, [s.name for s in slices])
    warnings = [empty_slice_warning(s, ev.slices.predicates) for s in slices if s.rows == 0]
    slices = [s for s in slices if s.rows > 0]
    rows_hlp = (
        hlp.row_hlp_from_frame(test_df, list(settings.data.annotators), y_true)
        if use_annotators
        else None
    )
    impact_metric = "accuracy" if use_annotators else metric
    hib = m.higher_is_better(impact_metric)
    correct = out.correct() if impact_metric == "accuracy" and task != "regression" else None
    measure = _Measure(settings, out, metric, impact_metric, correct, rows_hlp, given)

    overall = measure("overall", None)
    entries: list[dict[str, Any]] = []
    for s in slices:
        entry = {"name": s.name, "kind": s.kind, **measure(s.name, s.mask)}
        entry["share"] = entry["rows"] / n
        entry["small"] = entry["rows"] < ev.min_slice_size
        entry["gap"] = (
            None
            if entry["metric"] is None or overall["metric"] is None
            else entry["metric"] - overall["metric"]
        )
        entry["potential_impact"] = impact.potential_impact(
            entry["hlp"], entry["impact_model"], entry["share"], higher_is_better=hib
        )
        entries.append(entry)
    ranking = _rank(entries, overall, hib)
    sources = {e["hlp_source"] for e in entries} | {overall["hlp_source"]}
    return {
        "primary_metric": metric,
        "higher_is_better": m.higher_is_better(metric),
        "overall": {k: overall[k] for k in _OVERALL_FIELDS},
        "hlp_kind": _hlp_kind(settings, sources),
        "impact_metric": impact_metric,
        "ranking": ranking,
        "confidence": ev.confidence,
        "bootstrap": ev.bootstrap,
        "seed": ev.seed,
        "min_slice_size": ev.min_slice_size,
        "task": task,
        "slices": entries,
        "warnings": warnings,
        "fairness": analyse_fairness(settings, test_df, out, classes),
    }


def empty_slice_warning(item: Any, predicates: dict[str, str]) -> str:
    """The report's line for a declared slice that no test row falls in."""
    text = predicates.get(item.name) if item.kind == "predicate" else None
    what = f"slice {item.name} ({text})" if text else f"slice {item.name}"
    return f"{what} matches no test row, so it has no metrics; check its definition"


def top_slice(result: dict[str, Any]) -> dict[str, Any] | None:
    """The slice ranked first (or, failing a ranking, the largest impact or worst gap)."""
    entries = result["slices"]
    ranked = [e for e in entries if e["rank"] is not None]
    if ranked:
        return min(ranked, key=lambda e: e["rank"])
    with_gap = [e for e in entries if e["gap"] is not None]
    if not with_gap:
        return None
    sign = 1.0 if result["higher_is_better"] else -1.0
    return min(with_gap, key=lambda e: (sign * e["gap"], e["name"]))

"""Error analysis end to end: slices, intervals, HLP, potential impact, explanations.

:func:`analyse_slices` is pure (arrays in, the ``reports/slices.json`` document out);
:func:`explain_model` computes ``explain.json`` and ``examples.json``;
:func:`run_error_analysis` runs both and writes the report files.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from release.analysis import counterfactual, explain, hlp, impact
from release.analysis.fairness import analyse_fairness
from release.analysis.slices import build_slices
from release.config import Settings
from release.errors import ConfigError, DataError
from release.stats import bootstrap
from release.stats import metrics as m
from release.stats.metrics import encode as encode_outcomes

BOUNDED_METRICS = frozenset({"accuracy", "balanced_accuracy", "f1", "roc_auc"})


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
    if n == 0:
        raise DataError("the test set is empty", "check data.test_size and the data source")
    if len(test_df) != n:
        raise DataError(
            f"test data has {len(test_df)} rows but there are {n} predictions",
            "pass the predictions of exactly these rows",
        )
    if metric in ("roc_auc", "log_loss") and out.proba is None:
        raise ConfigError(
            f"evaluate.primary_metric {metric} needs class probabilities",
            "use a classifier with predict_proba or another primary metric",
        )
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

    def measure(name: str, mask: np.ndarray | None) -> dict[str, Any]:
        sub = out if mask is None else out.take(np.flatnonzero(mask))
        est = bootstrap.estimate(
            metric,
            sub,
            resamples=ev.bootstrap,
            confidence=ev.confidence,
            rng=bootstrap.rng_for(ev.seed, name),
        )
        if impact_metric == metric:
            model_value = est.value
        elif correct is not None:
            part = correct if mask is None else correct[mask]
            model_value = float(part.mean()) if part.size else None
        else:
            model_value = m.point(impact_metric, sub)
        acc, agr = rows_hlp.on(mask) if rows_hlp is not None else (None, None)
        value: float | None
        source: str | None
        if name in given:
            value, source = float(given[name]), "given"
        elif rows_hlp is not None:
            value = acc if settings.evaluate.hlp.kind == "annotator_accuracy" else agr
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
    sources = {e["hlp_source"] for e in entries} | {overall["hlp_source"]}
    sources.discard(None)
    if not sources:
        hlp_kind = None
    elif sources == {"given"}:
        hlp_kind = "given"
    else:
        hlp_kind = settings.evaluate.hlp.kind
    return {
        "primary_metric": metric,
        "higher_is_better": m.higher_is_better(metric),
        "overall": {
            "metric": overall["metric"],
            "ci_low": overall["ci_low"],
            "ci_high": overall["ci_high"],
            "interval": overall["interval"],
            "rows": overall["rows"],
            "hlp": overall["hlp"],
            "hlp_annotator_accuracy": overall["hlp_annotator_accuracy"],
            "hlp_agreement": overall["hlp_agreement"],
            "impact_model": overall["impact_model"],
        },
        "hlp_kind": hlp_kind,
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


def feature_frame(
    settings: Settings, test_df: Any, feature_columns: list[str] | None = None
) -> Any:
    """The model's input columns of the test frame."""
    if feature_columns is None:
        drop = {*settings.data.annotators, settings.data.target}
        feature_columns = [c for c in test_df.columns if c not in drop]
    missing = [c for c in feature_columns if c not in test_df.columns]
    if missing:
        raise DataError(
            f"feature column(s) missing from the test data: {', '.join(missing)}",
            "evaluate on data with the model's features",
        )
    return test_df[list(feature_columns)]


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


def explain_model(
    settings: Settings,
    test_df: Any,
    y_true: Any,
    y_pred: Any,
    proba: Any,
    classes: list[Any] | None,
    model: Any,
    slices_result: dict[str, Any],
    *,
    feature_columns: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``explain.json`` (importance, surrogate) and ``examples.json`` (counterfactuals)."""
    ex = settings.evaluate.explain
    task = settings.data.task
    metric = settings.evaluate.primary_metric
    out, classes = encode_outcomes(task, y_true, y_pred, proba, classes)
    x = feature_frame(settings, test_df, feature_columns)
    seed = settings.evaluate.seed
    importance = explain.permutation_importance(
        model,
        x,
        out.y_true,
        metric=metric,
        task=task,
        classes=classes,
        repeats=ex.permutation_repeats,
        max_rows=ex.max_rows,
        top=ex.top_features,
        seed=seed,
    )
    tree = explain.surrogate(
        x, out.y_pred, task=task, classes=classes, depth=ex.surrogate_depth, seed=seed
    )
    explain_doc = {
        "primary_metric": metric,
        "task": task,
        "features": [str(c) for c in x.columns],
        "permutation_importance": importance,
        "surrogate": tree,
    }
    return explain_doc, examples_for(settings, test_df, x, out, classes, model, slices_result)


def examples_for(
    settings: Settings,
    test_df: Any,
    x: Any,
    out: m.Outcomes,
    classes: list[Any] | None,
    model: Any,
    slices_result: dict[str, Any],
) -> dict[str, Any]:
    """Misclassified rows of the top-impact slice, each with a counterfactual."""
    target = top_slice(slices_result)
    doc: dict[str, Any] = {
        "slice": None if target is None else target["name"],
        "rank": None if target is None else target["rank"],
        "potential_impact": None if target is None else target["potential_impact"],
        "examples": [],
    }
    if target is None:
        doc["note"] = "no slice to explain"
        return doc
    mask = _slice_mask(settings, test_df, target["name"])
    positions = np.flatnonzero(mask)
    rng = np.random.default_rng(settings.evaluate.seed)
    count = settings.evaluate.explain.examples
    if out.task == "regression":
        err = np.abs(out.y_true[positions] - out.y_pred[positions])
        chosen = positions[np.argsort(-err, kind="stable")[:count]]
        doc["note"] = "largest absolute errors; counterfactuals apply to classification only"
        for pos in chosen:
            doc["examples"].append(_example(test_df, x, out, classes, int(pos), None))
        return doc
    wrong = positions[out.y_true[positions] != out.y_pred[positions]]
    doc["misclassified_rows"] = len(wrong)
    if len(wrong) == 0:
        doc["note"] = "the model makes no mistake in this slice"
        return doc
    chosen = np.sort(rng.choice(wrong, size=min(count, len(wrong)), replace=False))
    assert classes is not None
    fixes = counterfactual.find(model, x.iloc[chosen], out.y_true[chosen], x, classes)
    protected = set(settings.data.protected)
    for pos, fix in zip(chosen, fixes, strict=True):
        if fix is not None:
            # A flip by a protected attribute alone is a fairness finding, not advice.
            fix["protected"] = fix["feature"] in protected
        doc["examples"].append(_example(test_df, x, out, classes, int(pos), fix))
    return doc


def _slice_mask(settings: Settings, test_df: Any, name: str) -> np.ndarray:
    for s in build_slices(test_df, settings.evaluate.slices, settings.data.slice_columns):
        if s.name == name:
            return s.mask
    raise DataError(f"slice {name!r} not found", "re-run the error analysis")  # pragma: no cover


def _example(
    test_df: Any,
    x: Any,
    out: m.Outcomes,
    classes: list[Any] | None,
    pos: int,
    fix: dict[str, Any] | None,
) -> dict[str, Any]:
    import pandas as pd

    row = x.iloc[pos]
    features = {str(k): (None if pd.isna(v) else v) for k, v in row.items()}
    if out.task == "regression":
        return {
            "row": _label(test_df.index[pos]),
            "features": features,
            "y_true": float(out.y_true[pos]),
            "y_pred": float(out.y_pred[pos]),
            "counterfactual": None,
        }
    assert classes is not None
    entry: dict[str, Any] = {
        "row": _label(test_df.index[pos]),
        "features": features,
        "y_true": classes[int(out.y_true[pos])],
        "y_pred": classes[int(out.y_pred[pos])],
        "counterfactual": fix,
    }
    if out.proba is not None:
        entry["proba"] = {str(c): float(p) for c, p in zip(classes, out.proba[pos], strict=True)}
    if fix is None:
        entry["note"] = "no single-feature change found that gives the true label"
    return entry


def _label(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run_error_analysis(
    settings: Settings,
    test_df: Any,
    y_true: Any,
    y_pred: Any,
    proba: Any,
    classes: list[Any] | None,
    model: Any,
    reports_dir: str | os.PathLike[str] = "reports",
    *,
    feature_columns: list[str] | None = None,
) -> dict[str, Any]:
    """Analyse errors by slice, explain the model, and write the report files.

    Writes ``slices.json``, ``slices.md``, ``plots/slices.csv``, ``explain.json`` and
    ``examples.json`` under ``reports_dir`` (each atomically, after everything is
    computed). Returns a small summary for the command to print.
    """
    from release.analysis.report import write_reports

    result = analyse_slices(settings, test_df, y_true, y_pred, proba, classes)
    explain_doc: dict[str, Any] | None = None
    examples_doc: dict[str, Any] | None = None
    if model is not None:
        explain_doc, examples_doc = explain_model(
            settings,
            test_df,
            y_true,
            y_pred,
            proba,
            classes,
            model,
            result,
            feature_columns=feature_columns,
        )
    written = write_reports(reports_dir, result, explain_doc, examples_doc)
    top = top_slice(result)
    return {
        "primary_metric": result["primary_metric"],
        "overall": result["overall"]["metric"],
        "overall_ci": [result["overall"].get("ci_low"), result["overall"].get("ci_high")],
        "slices": len(result["slices"]),
        "top_slice": None if top is None else top["name"],
        "top_impact": None if top is None else top["potential_impact"],
        "surrogate_fidelity": None if explain_doc is None else explain_doc["surrogate"]["fidelity"],
        "files": written,
    }

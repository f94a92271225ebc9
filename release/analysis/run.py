"""Error analysis end to end: slices, intervals, HLP, potential impact, explanations.

:func:`analyse_slices` (in :mod:`release.analysis.slice_report`) is pure: arrays in, the
``reports/slices.json`` document out;
:func:`explain_model` computes ``explain.json`` and ``examples.json``;
:func:`run_error_analysis` runs both and writes the report files.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from release.analysis import counterfactual, explain
from release.analysis.slice_report import analyse_slices, top_slice
from release.analysis.slices import build_slices
from release.config import Settings
from release.errors import DataError
from release.stats import metrics as m
from release.stats.metrics import encode as encode_outcomes


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

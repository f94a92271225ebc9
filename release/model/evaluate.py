"""``release evaluate``: metrics, predictions, plot data, error analysis and profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from release import paths
from release.config import Settings
from release.facts import write_metrics
from release.fsio import atomic_path
from release.model.metrics import compute_metrics


def evaluate(settings: Settings, root: str | Path = ".") -> dict[str, Any]:
    """Evaluate the saved model on the test split; write every report; return metrics."""
    import numpy as np
    import pandas as pd

    from release.analysis.run import run_error_analysis
    from release.data.prepare import read_split
    from release.data.schema import resolve_columns
    from release.model.persist import load_model, read_metadata
    from release.model.predict import predict
    from release.reference.profile import build_profile, write_profile

    root = Path(root)
    test = read_split(root / paths.TEST)
    meta = read_metadata(root / paths.MODEL_META)
    model = load_model(root / paths.MODEL, expected_sha256=meta["sha256"])
    columns = resolve_columns(settings, test)
    y_true = test[settings.data.target].to_numpy()
    y_pred, proba = predict(model, meta, test)
    classes = meta.get("classes")
    task = settings.data.task

    metrics: dict[str, Any] = compute_metrics(task, y_true, y_pred, proba, classes)
    metrics["n_test"] = len(test)

    predictions = pd.DataFrame({"y_true": y_true, "y_pred": y_pred})
    if proba is not None and classes is not None:
        for i, cls in enumerate(classes):
            predictions[f"proba_{cls}"] = proba[:, i]
    with atomic_path(root / paths.PREDICTIONS) as tmp:
        predictions.to_parquet(tmp, index=False)
    _write_plots(root / paths.PLOTS_DIR, task, y_true, y_pred, proba, classes)

    summary = run_error_analysis(
        settings,
        test,
        y_true,
        y_pred,
        proba,
        classes,
        model,
        reports_dir=str(root / paths.REPORTS),
        feature_columns=columns.features,
    )
    # The overall interval, flat beside the metric, for `dvc metrics diff`.
    metric = settings.evaluate.primary_metric
    for key, value in zip(("ci_low", "ci_high"), summary.get("overall_ci") or (), strict=False):
        if value is not None:
            metrics[f"{metric}_{key}"] = value
    profile = build_profile(
        settings,
        test[[*columns.features, settings.data.target]],
        predictions=np.asarray(y_pred),
        proba=proba,
        classes=classes,
        metric_name=metric,
        metric_value=metrics.get(metric),
        n_test=len(test),
    )
    write_profile(root / paths.REFERENCE_PROFILE, profile)
    write_metrics(root / paths.METRICS, metrics)
    return metrics


def _write_plots(
    out: Path, task: str, y_true: Any, y_pred: Any, proba: Any, classes: list[Any] | None
) -> None:
    """Plot data as CSV for ``dvc plots`` (templates are declared in dvc.yaml)."""
    import numpy as np
    import pandas as pd
    from sklearn import metrics as m

    def write(name: str, frame: Any) -> None:
        with atomic_path(out / name) as tmp:
            frame.to_csv(tmp, index=False, float_format="%.6g")

    if task == "regression":
        write("predicted_vs_actual.csv", pd.DataFrame({"actual": y_true, "predicted": y_pred}))
        write("residuals.csv", pd.DataFrame({"predicted": y_pred, "residual": y_true - y_pred}))
        return
    write(
        "confusion.csv",
        pd.DataFrame({"actual": [str(v) for v in y_true], "predicted": [str(v) for v in y_pred]}),
    )
    if proba is None or classes is None:
        return
    if task == "binary":
        positive = np.asarray(y_true) == classes[-1]
        scores = proba[:, -1]
    else:  # micro-average one-vs-rest
        onehot = np.asarray(y_true)[:, None] == np.asarray(classes)[None, :]
        positive, scores = onehot.ravel(), proba.ravel()
    fpr, tpr, thr = m.roc_curve(positive, scores)
    write("roc.csv", _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr})))
    precision, recall, _ = m.precision_recall_curve(positive, scores)
    write("precision_recall.csv", _thin(pd.DataFrame({"recall": recall, "precision": precision})))


def _thin(frame: Any, max_points: int = 400) -> Any:
    """Keep curves small enough to diff and render: at most ``max_points`` rows."""
    if len(frame) <= max_points:
        return frame.replace([float("inf"), -float("inf")], 1.0)
    step = len(frame) / max_points
    idx = sorted({int(i * step) for i in range(max_points)} | {len(frame) - 1})
    return frame.iloc[idx].replace([float("inf"), -float("inf")], 1.0)

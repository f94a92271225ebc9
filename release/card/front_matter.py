"""The Hugging Face front matter of a card: license, tags, datasets and a ``model-index``
whose results are the card's own metric values (so the Hub shows what the card states)."""

from __future__ import annotations

from typing import Any

from release.cardspec import is_placeholder

METRIC_NAMES = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
    "mae": "Mean absolute error",
    "rmse": "Root mean squared error",
    "r2": "R2",
}
TASK_NAMES = {
    "binary": "Binary classification",
    "multiclass": "Multiclass classification",
    "regression": "Regression",
}


def front_matter(
    card: dict[str, Any], content: dict[str, Any], dataset_id: str, dataset_name: str
) -> dict[str, Any]:
    """Hugging Face metadata; ``model-index`` results are the card's own metric values."""
    task = card["metrics"]["task"]
    pipeline_tag = "tabular-regression" if task == "regression" else "tabular-classification"
    tags = [pipeline_tag, "sklearn", "skops", "model-card", *content.get("tags", [])]
    values = card["metrics"]["values"]
    fm: dict[str, Any] = {}
    license_ = card["model_details"]["license"]
    if not is_placeholder(license_):
        fm["license"] = license_
    fm.update(
        {
            "library_name": "sklearn",
            "pipeline_tag": pipeline_tag,
            "tags": list(dict.fromkeys(tags)),
            "datasets": [dataset_id],
            "metrics": list(values),
            "model-index": [
                {
                    "name": card["model_details"]["name"],
                    "results": [
                        {
                            "task": {"type": pipeline_tag, "name": TASK_NAMES.get(task, task)},
                            "dataset": {"type": dataset_id, "name": dataset_name, "split": "test"},
                            "metrics": [
                                {"type": k, "value": v, "name": METRIC_NAMES.get(k, k)}
                                for k, v in values.items()
                            ],
                        }
                    ],
                }
            ],
        }
    )
    return fm

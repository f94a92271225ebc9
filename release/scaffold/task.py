"""What a new project's target asks for: the task, its classes, the primary metric."""

from __future__ import annotations

from typing import Any, Literal

from release.errors import UsageError

TaskChoice = Literal["auto", "binary", "multiclass", "regression"]
MAX_CLASSES = 20  # integer targets with at most this many values are classes


def category_code(value: float) -> str:
    """A numeric category as text: ``1`` for 1.0, ``2.5`` for 2.5."""
    return str(int(value)) if float(value).is_integer() else str(value)


def infer_task(y: Any, task: TaskChoice) -> tuple[Any, list[str], str]:
    """The task, the classes (empty for regression) and the reason, from the target."""
    import pandas as pd

    values = y.dropna()
    distinct = int(values.nunique())
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    integral = numeric and bool(len(values)) and bool((values == values.round()).all())
    if task != "auto":
        chosen, why = task, "as given (--task)"
    elif distinct == 2:
        chosen, why = "binary", "the target has two values"
    elif not numeric:
        chosen, why = "multiclass", f"the target has {distinct} text values"
    elif integral and distinct <= MAX_CLASSES and distinct <= max(3, len(values) // 20):
        chosen, why = "multiclass", f"the target has {distinct} integer values (classes)"
    else:
        chosen, why = "regression", f"the target is numeric with {distinct} distinct values"
    if chosen != "regression" and distinct < 2:
        raise UsageError(
            f"the target has {distinct} class(es)", "a classifier needs at least two classes"
        )
    if chosen == "binary" and distinct != 2:
        raise UsageError(f"the target has {distinct} values, not 2", "use --task multiclass")
    if chosen == "regression" and not numeric:
        raise UsageError("the target is not numeric", "use --task binary or multiclass")
    classes = (
        []
        if chosen == "regression"
        else sorted(category_code(v) if numeric else str(v) for v in values.unique())
    )
    return chosen, classes, why


def primary_metric(task: str, y: Any) -> str:
    """MAE for regression; balanced accuracy when a class is rare (under 20%), else accuracy."""
    if task == "regression":
        return "mae"
    shares = y.dropna().astype(str).value_counts(normalize=True)
    return "balanced_accuracy" if len(shares) and float(shares.min()) < 0.2 else "accuracy"

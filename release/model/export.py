"""Write a fitted pipeline's numpy serving form (``release.model.portable``).

Only the shapes ``release train`` builds are exported: a ColumnTransformer of numeric
(median/mean/constant imputation, optional standard scaling) and categorical (constant
imputation, one-hot ignoring unknowns) blocks, then LogisticRegression, LinearRegression,
Ridge, HistGradientBoosting (no native categorical splits, identity or logit link) or a
RandomForest. Anything else returns None and the model is served through scikit-learn.
An exported form is kept only if it gives the pipeline's labels, and its probabilities
or values within :data:`TOLERANCE`, on the rows it is checked on.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from release.model.portable import (
    ARRAYS,
    FORMAT,
    FORMAT_VERSION,
    HEADER,
    Categorical,
    Linear,
    Numeric,
    PortableModel,
    Trees,
    skops_types,
)

TOLERANCE = 1e-12  # numpy's exp may differ from scipy's expit in the last bit or so


def export(pipeline: Any) -> PortableModel | None:
    """The numpy form of ``pipeline``, or None when its shape is not one we export."""
    try:
        blocks = preprocessing_blocks(pipeline)
        if blocks is None:
            return None
        estimator = pipeline.steps[-1][1]
        form = _linear(estimator) or _hist(estimator) or _forest(estimator)
        if form is None:
            return None
        classes = getattr(estimator, "classes_", None)
        return PortableModel(blocks, form, None if classes is None else np.asarray(classes), {})
    except (AttributeError, TypeError, ValueError):  # a shape we do not know
        return None


def preprocessing_blocks(pipeline: Any) -> list[Numeric | Categorical] | None:
    """The pipeline's fitted preprocessing as numpy blocks, None for another shape."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    pre, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(pre, ColumnTransformer) or hasattr(estimator, "feature_names_in_"):
        return None
    if getattr(pre, "sparse_output_", False) or _pandas_output(pipeline, pre):
        return None
    blocks: list[Numeric | Categorical] = []
    for name, step, columns in pre.transformers_:
        if name == "remainder":
            if step != "drop":
                return None
            continue
        block = _block(step, tuple(str(c) for c in columns))
        if block is None:
            return None
        blocks.append(block)
    return blocks or None


def _pandas_output(*steps: Any) -> bool:
    return any(
        getattr(s, "_sklearn_output_config", {}).get("transform") not in (None, "default")
        for s in steps
    )


def _block(step: Any, columns: tuple[str, ...]) -> Numeric | Categorical | None:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if not isinstance(step, Pipeline) or _pandas_output(step):
        return None
    parts = [s for _, s in step.steps]
    imputer = parts[0]
    if type(imputer) is not SimpleImputer or imputer.add_indicator:
        return None
    if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
        return None
    stats = imputer.statistics_
    if len(stats) != len(columns):  # a column dropped at fit (all missing)
        return None
    if len(parts) == 2 and type(parts[1]) is OneHotEncoder:
        encoder = parts[1]
        if imputer.strategy != "constant" or encoder.drop is not None:
            return None
        if encoder.handle_unknown not in ("ignore", "infrequent_if_exist"):
            return None
        infrequent = getattr(encoder, "infrequent_categories_", None) or []
        if any(c is not None for c in infrequent) or encoder.dtype not in (np.float64, float):
            return None
        return Categorical(columns, stats[0], tuple(encoder.categories_))
    if stats.dtype.kind != "f" or np.isnan(stats).any():
        return None
    if len(parts) == 1:
        return Numeric(columns, stats, None, None)
    scaler = parts[1]
    if len(parts) != 2 or type(scaler) is not StandardScaler:
        return None
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None
    return Numeric(columns, stats, mean, scale)


def _linear(estimator: Any) -> Linear | None:
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    if type(estimator) in (LinearRegression, Ridge):
        return Linear(
            np.asarray(estimator.coef_, dtype="float64"), _f8(estimator.intercept_), "identity"
        )
    if type(estimator) is LogisticRegression:
        link = "logistic" if len(estimator.classes_) <= 2 else "softmax"
        return Linear(_f8(estimator.coef_), _f8(estimator.intercept_), link)
    return None


def _f8(value: Any) -> Any:
    return np.asarray(value, dtype="float64")


def _hist(estimator: Any) -> Trees | None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if type(estimator) not in (HistGradientBoostingClassifier, HistGradientBoostingRegressor):
        return None
    if getattr(estimator, "_preprocessor", None) is not None:
        return None  # native categorical handling: not exported
    link_name = type(estimator._loss.link).__name__
    per_round = estimator.n_trees_per_iteration_
    if isinstance(estimator, HistGradientBoostingClassifier):
        link = "logistic" if per_round == 1 else "softmax"
        if link_name not in ("LogitLink", "MultinomialLogit"):
            return None
    elif link_name == "IdentityLink":
        link = "identity"
    else:
        return None
    arrays = []
    for round_ in estimator._predictors:
        for predictor in round_:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                return None
            arrays.append(
                _tree(
                    nodes["is_leaf"].astype(bool),
                    nodes["feature_idx"],
                    nodes["num_threshold"],
                    nodes["missing_go_to_left"],
                    nodes["left"],
                    nodes["right"],
                    nodes["value"][:, None],
                    int(nodes["depth"].max()),
                )
            )
    baseline = np.asarray(estimator._baseline_prediction, dtype="float64").reshape(-1)
    return _stack(arrays, "boost", baseline, per_round, float32=False, link=link)


def _forest(estimator: Any) -> Trees | None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if type(estimator) not in (RandomForestClassifier, RandomForestRegressor):
        return None
    if estimator.n_outputs_ != 1:
        return None
    arrays = []
    for tree in estimator.estimators_:
        t = tree.tree_
        value = t.value[:, 0, :]
        if isinstance(estimator, RandomForestClassifier):
            value = value[:, : estimator.n_classes_]
        arrays.append(
            _tree(
                t.children_left < 0,
                t.feature,
                t.threshold,
                t.missing_go_to_left,
                t.children_left,
                t.children_right,
                value,
                int(t.max_depth),
            )
        )
    link = "none" if isinstance(estimator, RandomForestClassifier) else "identity"
    return _stack(arrays, "mean", np.zeros(1), 1, float32=True, link=link)


def _tree(
    leaf: Any,
    feature: Any,
    threshold: Any,
    missing_left: Any,
    left: Any,
    right: Any,
    value: Any,
    depth: int,
) -> tuple[Any, ...]:
    """One tree's node arrays with every leaf made a fixed point: its children are
    itself, and it reads feature 0 against threshold 0, so walking on changes nothing."""
    own = np.arange(len(leaf))
    return (
        np.where(leaf, 0, feature),
        np.where(leaf, 0.0, threshold),
        missing_left,
        np.where(leaf, own, left),
        np.where(leaf, own, right),
        value,
        depth,
    )


def _stack(
    arrays: list[tuple[Any, ...]],
    combine: str,
    baseline: Any,
    per_round: int,
    *,
    float32: bool,
    link: str,
) -> Trees:
    """One flat node table for all trees: child indices offset by each tree's start."""
    sizes = [len(a[0]) for a in arrays]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int64")
    return Trees(
        feature=np.concatenate([a[0] for a in arrays]).astype("int64"),
        threshold=np.concatenate([a[1] for a in arrays]).astype("float64"),
        missing_left=np.concatenate([a[2] for a in arrays]).astype("uint8"),
        left=np.concatenate([a[3] + s for a, s in zip(arrays, starts, strict=True)]).astype(
            "int64"
        ),
        right=np.concatenate([a[4] + s for a, s in zip(arrays, starts, strict=True)]).astype(
            "int64"
        ),
        value=np.concatenate([a[5] for a in arrays]).astype("float64"),
        roots=starts,
        depths=np.array([a[6] for a in arrays], dtype="int64"),
        combine=combine,
        baseline=np.asarray(baseline, dtype="float64"),
        per_round=per_round,
        float32=float32,
        link=link,
    )


def check(form: PortableModel, pipeline: Any, frame: Any) -> float | None:
    """The largest difference from the pipeline's answers on ``frame``; None if labels differ."""
    columns = {c: frame[c].to_numpy() for c in frame.columns}
    if form.is_classifier:
        expected = pipeline.predict_proba(frame)
        got = form.predict_proba(columns)
        if not np.array_equal(form.predict(columns), pipeline.predict(frame)):
            return None
    else:
        expected, got = pipeline.predict(frame), form.predict(columns)
    if got.shape != expected.shape:
        return None
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return diff if diff <= TOLERANCE else None


def members(form: PortableModel, schema: bytes) -> dict[str, bytes]:
    """The two archive members that hold ``form`` (deterministic bytes).

    ``schema`` is the archive's skops ``schema.json``: its sha256 and the types it names
    are recorded, so a skops part changed afterwards is refused (``read_form``).
    """
    blob = bytearray()
    index: dict[str, Any] = {}

    def put(value: Any) -> str:
        array = np.ascontiguousarray(value)
        dtype = {"f": "<f8", "i": "<i8", "u": "|u1", "b": "|u1"}[array.dtype.kind]
        array = array.astype(dtype)
        name = f"a{len(index)}"
        index[name] = {"dtype": dtype, "shape": list(array.shape), "offset": len(blob)}
        blob.extend(array.tobytes())
        return name

    blocks: list[dict[str, Any]] = []
    for block in form.blocks:
        if isinstance(block, Numeric):
            blocks.append(
                {
                    "kind": "numeric",
                    "columns": list(block.columns),
                    "fill": put(block.fill),
                    "mean": None if block.mean is None else put(block.mean),
                    "scale": None if block.scale is None else put(block.scale),
                }
            )
        else:
            blocks.append(
                {
                    "kind": "categorical",
                    "columns": list(block.columns),
                    "fill": _plain(block.fill),
                    "categories": [[_plain(v) for v in known] for known in block.categories],
                }
            )
    header = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "blocks": blocks,
        "estimator": _estimator_spec(form.estimator, put),
        "classes": None if form.classes_ is None else [_plain(c) for c in form.classes_],
        "checked": form.checked,
        "arrays": index,
        "skops_schema_sha256": hashlib.sha256(schema).hexdigest(),
        "skops_types": sorted(skops_types(schema)),
    }
    text = json.dumps(header, sort_keys=True, allow_nan=False).encode()
    return {HEADER: text, ARRAYS: bytes(blob)}


def _estimator_spec(estimator: Linear | Trees, put: Any) -> dict[str, Any]:
    if isinstance(estimator, Linear):
        return {
            "kind": "linear",
            "coef": put(estimator.coef),
            "intercept": put(estimator.intercept),
            "link": estimator.link,
        }
    spec: dict[str, Any] = {"kind": "trees", "link": estimator.link}
    for name in (
        "feature",
        "threshold",
        "missing_left",
        "left",
        "right",
        "value",
        "roots",
        "depths",
        "baseline",
    ):
        spec[name] = put(getattr(estimator, name))
    spec.update(
        combine=estimator.combine,
        per_round=estimator.per_round,
        float32=estimator.float32,
    )
    return spec


def _plain(value: Any) -> Any:
    """A JSON scalar for a category or class (numpy scalars to Python); refuses others."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or (isinstance(value, float) and np.isfinite(value)):
        return value
    raise ValueError(f"{value!r} cannot be written to the serving form")


CHECK_ROWS = 4096


def serving_members(pipeline: Any, frame: Any, schema: bytes) -> dict[str, bytes]:
    """The serving form's archive members, checked on ``frame``; empty when not exported.

    Checked on up to :data:`CHECK_ROWS` of the training rows (evenly spaced) plus, for
    every column, a row with the value missing and one with an unseen category.
    """
    form = export(pipeline)
    if form is None or len(frame) == 0:
        return {}
    step = max(1, len(frame) // CHECK_ROWS)
    rows = frame.iloc[::step].head(CHECK_ROWS)
    edges = [rows.iloc[[0]].copy() for _ in range(2 * len(frame.columns))]
    for i, column in enumerate(frame.columns):
        edges[2 * i][column] = np.nan
        if rows[column].dtype == object:
            edges[2 * i + 1][column] = "__unseen__"
    import pandas as pd

    sample = pd.concat([rows, *edges], ignore_index=True)
    diff = check(form, pipeline, sample)
    if diff is None:
        return {}
    # Not the difference itself: it may vary in the last bit with the CPU's exp, and the
    # archive must stay byte-identical wherever the same model is trained again.
    form.checked = {"rows": len(sample), "tolerance": TOLERANCE}
    return members(form, schema)

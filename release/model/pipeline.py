"""Build the scikit-learn Pipeline named in ``params.yaml``.

Numeric columns: median imputation, then scaling (optional). Categorical columns:
constant imputation, then one-hot encoding that ignores categories unseen in training.
Hyperparameters are checked against the estimator's own parameters, so a typo fails
with the allowed names instead of being silently ignored.
"""

from __future__ import annotations

from typing import Any

from release.config import Settings
from release.errors import ConfigError


def estimator_class(name: str, task: str) -> type:
    """The scikit-learn class for an estimator name and a task."""
    from sklearn import ensemble, linear_model

    classification = task != "regression"
    table: dict[str, type] = {
        "logistic_regression": linear_model.LogisticRegression,
        "linear_regression": linear_model.LinearRegression,
        "ridge": linear_model.Ridge,
        "random_forest": (
            ensemble.RandomForestClassifier if classification else ensemble.RandomForestRegressor
        ),
        "gradient_boosting": (
            ensemble.GradientBoostingClassifier
            if classification
            else ensemble.GradientBoostingRegressor
        ),
        "hist_gradient_boosting": (
            ensemble.HistGradientBoostingClassifier
            if classification
            else ensemble.HistGradientBoostingRegressor
        ),
    }
    if name not in table:
        raise ConfigError(
            f"train.estimator = {name!r} is invalid", "expected one of " + ", ".join(table)
        )
    return table[name]


def make_estimator(settings: Settings) -> Any:
    """Instantiate the estimator with validated hyperparameters and a fixed seed."""
    cls = estimator_class(settings.train.estimator, settings.data.task)
    allowed = set(cls().get_params())
    params = dict(settings.train.params)
    for key in params:
        if key not in allowed:
            raise ConfigError(
                f"train.params.{key} is not a parameter of {cls.__name__}",
                "allowed: " + ", ".join(sorted(allowed)),
            )
    if "random_state" in allowed and "random_state" not in params:
        params["random_state"] = settings.data.seed
    if cls.__name__ == "LogisticRegression" and "max_iter" not in params:
        params["max_iter"] = 1000
    try:
        estimator = cls(**params)
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"train.params for {settings.train.estimator} are invalid: {exc}".splitlines()[0],
            "see the scikit-learn documentation of " + cls.__name__,
        ) from None
    return estimator


def build_pipeline(settings: Settings, numeric: list[str], categorical: list[str]) -> Any:
    """The full preprocessing + estimator Pipeline for these feature columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if settings.train.scale_numeric:
        num_steps.append(("scale", StandardScaler()))
    cat_steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="constant", fill_value="__missing__")),
        (
            "onehot",
            OneHotEncoder(
                handle_unknown="ignore",
                max_categories=settings.train.max_categories,
                sparse_output=False,
            ),
        ),
    ]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(("numeric", Pipeline(num_steps), numeric))
    if categorical:
        transformers.append(("categorical", Pipeline(cat_steps), categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", pre), ("model", make_estimator(settings))])

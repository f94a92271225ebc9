"""Settings of the DVC pipeline's stages: data, validate, train and evaluate.

Part of :mod:`release.config`, which re-exports every name here; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from release.config_loader import check

Task = Literal["binary", "multiclass", "regression"]
Source = Literal["builtin", "csv", "parquet"]
Estimator = Literal[
    "logistic_regression",
    "linear_regression",
    "ridge",
    "random_forest",
    "gradient_boosting",
    "hist_gradient_boosting",
]

CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss")
REGRESSION_METRICS = ("mae", "rmse", "r2")
LOWER_IS_BETTER = frozenset({"log_loss", "mae", "rmse"})
CLASSIFIERS = frozenset(
    {"logistic_regression", "random_forest", "gradient_boosting", "hist_gradient_boosting"}
)
REGRESSORS = frozenset(
    {"linear_regression", "ridge", "random_forest", "gradient_boosting", "hist_gradient_boosting"}
)


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class DataSettings:
    """Where the data comes from and what it means."""

    source: Source = "builtin"
    path: str | None = None
    rows: int = 20_000
    target: str = "default"
    task: Task = "binary"
    features: list[str] | Literal["all"] = "all"
    exclude: list[str] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)
    slice_columns: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    test_size: float = 0.25
    seed: int = 42
    # Strings a CSV source reads as missing (the empty field always is); null keeps
    # pandas' own list (NA, NaN, null, ...). Parquet has real nulls and ignores this.
    na_values: list[str] | None = None
    # Drop exact duplicate rows of the source at prepare (the count goes to provenance).
    deduplicate: bool = False
    delimiter: str = ","  # the CSV field separator (";" or "\t" for some exports)

    def __post_init__(self) -> None:
        check(0 < self.test_size < 1, "data.test_size", self.test_size, "a number between 0 and 1")
        check(self.rows >= 100, "data.rows", self.rows, "an integer >= 100")
        if self.source != "builtin":
            check(bool(self.path), "data.path", self.path, f"a file path for source {self.source}")
        for key in ("features", "exclude", "annotators", "slice_columns", "protected"):
            value = getattr(self, key)
            if isinstance(value, list):
                check(
                    self.target not in value,
                    f"data.{key}",
                    value,
                    f"columns other than the target {self.target!r}",
                )
        check(
            len(self.delimiter) == 1 and self.delimiter not in '"\r\n',
            "data.delimiter",
            self.delimiter,
            "one character such as ',', ';' or a tab",
        )
        if self.na_values is not None:
            check(
                all(len(v) <= 64 and "\n" not in v for v in self.na_values),
                "data.na_values",
                self.na_values,
                "a list of short one-line markers such as ['?', 'NA', '-']",
            )


# ------------------------------------------------------------------------- validate
@dataclass(frozen=True)
class ValidateSettings:
    """Data quality rules, applied to training data and to production batches alike."""

    min_rows: int = 100
    dtypes: dict[str, Literal["numeric", "integer", "categorical", "bool"]] = field(
        default_factory=dict
    )
    max_null_rate: float = 0.3
    null_rate: dict[str, float] = field(default_factory=dict)
    ranges: dict[str, list[float | None]] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)
    max_duplicate_rate: float = 0.01
    max_leakage_rows: int = 0
    min_slice_rows: int = 20
    max_examples: int = 5

    def __post_init__(self) -> None:
        check(self.min_rows >= 1, "validate.min_rows", self.min_rows, "an integer >= 1")
        for key, rate in {"max_null_rate": self.max_null_rate, **self.null_rate}.items():
            name = f"validate.null_rate.{key}"
            if key == "max_null_rate":
                name = "validate.max_null_rate"
            check(0 <= rate <= 1, name, rate, "a rate between 0 and 1")
        check(
            0 <= self.max_duplicate_rate <= 1,
            "validate.max_duplicate_rate",
            self.max_duplicate_rate,
            "a rate between 0 and 1",
        )
        for col, bounds in self.ranges.items():
            check(
                len(bounds) == 2
                and (bounds[0] is None or bounds[1] is None or bounds[0] <= bounds[1]),
                f"validate.ranges.{col}",
                bounds,
                "[low, high] with low <= high (null for an open side)",
            )


# ---------------------------------------------------------------------------- train
@dataclass(frozen=True)
class TrainSettings:
    """The estimator and its hyperparameters (checked against the estimator when built)."""

    estimator: Estimator = "hist_gradient_boosting"
    params: dict[str, Any] = field(default_factory=dict)
    scale_numeric: bool = True
    max_categories: int = 50
    # Protected attributes (data.protected) are not model inputs unless this is true;
    # the card states which was chosen.
    use_protected: bool = False


# ------------------------------------------------------------------------- evaluate
@dataclass(frozen=True)
class SliceSettings:
    """Which slices of the test set get their own metrics."""

    columns: list[str] = field(default_factory=list)
    bins: dict[str, list[float | str]] = field(default_factory=dict)
    predicates: dict[str, str] = field(default_factory=dict)
    intersections: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for pair in self.intersections:
            check(len(pair) == 2, "evaluate.slices.intersections", pair, "pairs of two columns")
        for col, edges in self.bins.items():
            check(len(edges) >= 2, f"evaluate.slices.bins.{col}", edges, "at least two edges")


@dataclass(frozen=True)
class HLPSettings:
    """Human-level performance: measured from annotators, or given per slice."""

    source: Literal["auto", "annotators", "given", "none"] = "auto"
    kind: Literal["annotator_accuracy", "agreement"] = "annotator_accuracy"
    given: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExplainSettings:
    """Explanations: permutation importance, a surrogate tree, counterfactual examples."""

    permutation_repeats: int = 5
    max_rows: int = 2000
    surrogate_depth: int = 3
    top_features: int = 10
    examples: int = 5


@dataclass(frozen=True)
class EvaluateSettings:
    """Metrics, intervals and error analysis."""

    primary_metric: str = "accuracy"
    bootstrap: int = 1000
    confidence: float = 0.95
    min_slice_size: int = 50
    seed: int = 0
    slices: SliceSettings = field(default_factory=SliceSettings)
    hlp: HLPSettings = field(default_factory=HLPSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    profile_sample: int = 5000

    def __post_init__(self) -> None:
        allowed = CLASSIFICATION_METRICS + REGRESSION_METRICS
        check(
            self.primary_metric in allowed,
            "evaluate.primary_metric",
            self.primary_metric,
            "one of " + ", ".join(allowed),
        )
        check(0 < self.confidence < 1, "evaluate.confidence", self.confidence, "between 0 and 1")
        check(self.bootstrap >= 0, "evaluate.bootstrap", self.bootstrap, "an integer >= 0")

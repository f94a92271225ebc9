"""Typed, validated settings loaded once from ``params.yaml``.

No other module reads YAML for settings. Each section is a frozen dataclass; the loader
checks unknown keys, types and values, and every problem becomes one
:class:`~release.errors.ConfigError` naming the key, the value and what is allowed.
Parts of the system that need more settings add fields to their own section here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from release.bounds import check_bounds
from release.errors import ConfigError, UsageError
from release.registry.grammar import validate_name, validate_stage
from release.strict_yaml import MAX_YAML_BYTES, load_yaml

PARAMS_FILE = "params.yaml"

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
Strategy = Literal["direct", "canary", "shadow", "bluegreen"]

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
        _check(0 < self.test_size < 1, "data.test_size", self.test_size, "a number between 0 and 1")
        _check(self.rows >= 100, "data.rows", self.rows, "an integer >= 100")
        if self.source != "builtin":
            _check(bool(self.path), "data.path", self.path, f"a file path for source {self.source}")
        for key in ("features", "exclude", "annotators", "slice_columns", "protected"):
            value = getattr(self, key)
            if isinstance(value, list):
                _check(
                    self.target not in value,
                    f"data.{key}",
                    value,
                    f"columns other than the target {self.target!r}",
                )
        _check(
            len(self.delimiter) == 1 and self.delimiter not in '"\r\n',
            "data.delimiter",
            self.delimiter,
            "one character such as ',', ';' or a tab",
        )
        if self.na_values is not None:
            _check(
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
        _check(self.min_rows >= 1, "validate.min_rows", self.min_rows, "an integer >= 1")
        for key, rate in {"max_null_rate": self.max_null_rate, **self.null_rate}.items():
            name = f"validate.null_rate.{key}"
            if key == "max_null_rate":
                name = "validate.max_null_rate"
            _check(0 <= rate <= 1, name, rate, "a rate between 0 and 1")
        _check(
            0 <= self.max_duplicate_rate <= 1,
            "validate.max_duplicate_rate",
            self.max_duplicate_rate,
            "a rate between 0 and 1",
        )
        for col, bounds in self.ranges.items():
            _check(
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
            _check(len(pair) == 2, "evaluate.slices.intersections", pair, "pairs of two columns")
        for col, edges in self.bins.items():
            _check(len(edges) >= 2, f"evaluate.slices.bins.{col}", edges, "at least two edges")


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
        _check(
            self.primary_metric in allowed,
            "evaluate.primary_metric",
            self.primary_metric,
            "one of " + ", ".join(allowed),
        )
        _check(0 < self.confidence < 1, "evaluate.confidence", self.confidence, "between 0 and 1")
        _check(self.bootstrap >= 0, "evaluate.bootstrap", self.bootstrap, "an integer >= 0")


# -------------------------------------------------------------------------- release
@dataclass(frozen=True)
class StagePolicy:
    """Gates checked before a version may be assigned to a stage."""

    requires: str | None = None
    min_metrics: dict[str, float] = field(default_factory=dict)
    max_metrics: dict[str, float] = field(default_factory=dict)
    max_slice_regression: float | None = None
    card_complete: bool = False
    # Largest allowed fairness gap (demographic parity or equalized odds difference, or
    # mean-error gap for regression) over data.protected, from reports/slices.json.
    max_fairness_gap: float | None = None
    # Deploy-time: may a `promote --force --reason` record carry an assignment past failed
    # gates, and must the assignment tag be signed by a key of release.allowed_signers?
    force: Literal["allowed", "forbidden"] = "allowed"
    require_signed: bool = False


@dataclass(frozen=True)
class CanaryStep:
    """One canary step: traffic weight (%), and when the judge may decide."""

    weight: int
    min_requests: int = 100
    min_duration: float = 5.0
    max_duration: float = 60.0

    def __post_init__(self) -> None:
        _check(0 < self.weight <= 100, "release.deploy.canary.steps.weight", self.weight, "1..100")
        _check(
            self.max_duration >= self.min_duration,
            "release.deploy.canary.steps.max_duration",
            self.max_duration,
            "a duration >= min_duration",
        )


@dataclass(frozen=True)
class CanarySettings:
    """Canary rollout steps."""

    steps: list[CanaryStep] = field(
        default_factory=lambda: [CanaryStep(10), CanaryStep(50), CanaryStep(100)]
    )


@dataclass(frozen=True)
class JudgeSettings:
    """Thresholds of the canary judge (candidate against baseline, same window)."""

    alpha: float = 0.05
    max_error_rate_increase: float = 0.01
    max_latency_increase_ms: float = 25.0
    max_latency_ratio: float = 1.5
    max_prediction_psi: float = 0.25
    max_accuracy_drop: float = 0.05
    min_labelled: int = 50
    min_shadow_agreement: float = 0.95
    # 1.0 could never fail: a row whose probability moves by more than half is a changed answer.
    max_shadow_proba_diff: float = 0.5
    max_golden_mismatch: float = 0.0
    # Small counts and regression (issue 13): the error-rate check cannot fail on fewer
    # candidate errors than this; regression canaries compare the error metric with labels
    # (relative increase tolerated), prediction distributions by Wasserstein distance in
    # baseline standard deviations, and shadow outputs within a tolerance in those units.
    min_errors: int = 3
    regression_metric: Literal["mae", "rmse"] = "mae"
    max_error_increase: float = 0.1
    max_prediction_wasserstein: float = 0.25
    shadow_tolerance: float = 0.1

    def __post_init__(self) -> None:
        _check(self.min_errors >= 1, "release.deploy.judge.min_errors", self.min_errors, ">= 1")
        _check(
            self.max_error_increase >= 0,
            "release.deploy.judge.max_error_increase",
            self.max_error_increase,
            "a relative increase >= 0 (0.1 for 10%)",
        )
        _check(
            self.shadow_tolerance >= 0,
            "release.deploy.judge.shadow_tolerance",
            self.shadow_tolerance,
            "a number >= 0 (baseline standard deviations)",
        )


@dataclass(frozen=True)
class ServerSettings:
    """Model server tuning."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    threads: int = 1


@dataclass(frozen=True)
class BakeSettings:
    """Blue/green's bake window after the switch, judged like a canary step against the
    old version's pre-switch traffic."""

    duration: float = 30.0
    min_requests: int = 50

    def __post_init__(self) -> None:
        _check(self.duration >= 0, "release.deploy.bluegreen.bake.duration", self.duration, ">= 0")
        _check(
            self.min_requests >= 1,
            "release.deploy.bluegreen.bake.min_requests",
            self.min_requests,
            "an integer >= 1",
        )


@dataclass(frozen=True)
class BlueGreenSettings:
    """Blue/green: the bake window after the switch (duration 0 turns it off)."""

    bake: BakeSettings = field(default_factory=BakeSettings)


OnInconclusive = Literal["rollback", "hold"]


# Kubernetes target (issue 17): cluster-side choices of `release deploy --target kubernetes`.
ScrapeMode = Literal["servicemonitor", "annotations"]


@dataclass(frozen=True)
class KubernetesSettings:
    """What the rendered manifests run and where: image, namespace, model source, scraping.

    ``image`` has no default: it is the image built from the repository's Dockerfile, and
    rendering refuses to guess one. ``model_secret`` names the Secret whose keys become the
    init container's environment (the repository URL and the DVC remote's credentials);
    the serving container never sees them.
    """

    image: str | None = None
    namespace: str = "models"
    replicas: int = 2
    prometheus_url: str = "http://prometheus-operated.monitoring.svc:9090"
    scrape: ScrapeMode = "servicemonitor"
    scrape_interval: int = 15
    servicemonitor_labels: dict[str, str] = field(default_factory=dict)
    model_secret: str = "release-model-source"  # noqa: S105 (a Secret's name, not a secret)
    gateways: list[str] = field(default_factory=lambda: ["mesh"])
    cpu_request: str = "250m"
    cpu_limit: str = "1"
    memory_request: str = "256Mi"
    run_as_user: int = 10001
    # Largest Kolmogorov-Smirnov distance between the canary's and the baseline's
    # prediction histograms before the analysis fails.
    max_prediction_ks: float = 0.2


@dataclass(frozen=True)
class DeploySettings:
    """How each stage is deployed."""

    strategies: dict[str, Strategy] = field(
        default_factory=lambda: {"dev": "direct", "staging": "bluegreen", "prod": "canary"}
    )
    canary: CanarySettings = field(default_factory=CanarySettings)
    judge: JudgeSettings = field(default_factory=JudgeSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    sticky_header: str | None = None
    state_dir: str = ".release/deployments"
    shadow: CanaryStep = field(default_factory=lambda: CanaryStep(100))
    # A port (each stage adds its index) or "auto": a free one, kept in the stage's record.
    router_port: int | Literal["auto"] = 8700
    golden_rows: int = 200
    start_timeout: float = 60.0
    poll_interval: float = 0.5
    bluegreen: BlueGreenSettings = field(default_factory=BlueGreenSettings)
    # Per stage: what an inconclusive step leads to (rollback unless a stage says hold).
    on_inconclusive: dict[str, OnInconclusive] = field(default_factory=dict)
    kubernetes: KubernetesSettings = field(default_factory=KubernetesSettings)

    def __post_init__(self) -> None:
        if self.router_port != "auto":
            _check(
                isinstance(self.router_port, int) and 1024 <= self.router_port <= 65535,
                "release.deploy.router_port",
                self.router_port,
                "a port in 1024-65535 or auto",
            )


@dataclass(frozen=True)
class ReleaseSettings:
    """Registry and delivery policy."""

    artifact: str = "model"
    stages: list[str] = field(default_factory=lambda: ["dev", "staging", "prod"])
    policy: dict[str, StagePolicy] = field(default_factory=dict)
    deploy: DeploySettings = field(default_factory=DeploySettings)
    # Where deploy reads the policy from (never the tagged commit or the working tree):
    # None means the remote's default branch (origin/HEAD), else main, else master.
    policy_ref: str | None = None
    # git's gpg.ssh.allowedSignersFile format, read from the policy ref.
    allowed_signers: str = ".release/allowed_signers"

    def __post_init__(self) -> None:
        _check_names(self)
        _check(
            len(self.stages) == len(set(self.stages)) and len(self.stages) > 0,
            "release.stages",
            self.stages,
            "a non-empty list of distinct stage names",
        )
        for stage, pol in self.policy.items():
            _check(stage in self.stages, f"release.policy.{stage}", stage, f"one of {self.stages}")
            if pol.requires is not None:
                _check(
                    pol.requires in self.stages,
                    f"release.policy.{stage}.requires",
                    pol.requires,
                    f"one of {self.stages}",
                )
        for stage in self.deploy.strategies:
            _check(
                stage in self.stages,
                f"release.deploy.strategies.{stage}",
                stage,
                f"one of {self.stages}",
            )
        for stage in self.deploy.on_inconclusive:
            _check(
                stage in self.stages,
                f"release.deploy.on_inconclusive.{stage}",
                stage,
                f"one of {self.stages}",
            )


def _check_names(release: ReleaseSettings) -> None:
    """The artifact and stage names by the grammar ``release register`` accepts (gto's):
    they become tag names, paths and command arguments."""
    names: list[tuple[str, str, Callable[[str], str]]] = [
        ("release.artifact", release.artifact, validate_name)
    ]
    names += [(f"release.stages[{i}]", s, validate_stage) for i, s in enumerate(release.stages)]
    for key, value, check in names:
        try:
            check(value)
        except UsageError as exc:
            raise ConfigError(
                f"{key} = {_show(value)} is invalid", f"set {key} to a GTO name: {exc.fix}"
            ) from None


# -------------------------------------------------------------------------- monitor
@dataclass(frozen=True)
class DriftSettings:
    """Drift tests. Defaults follow Evidently's: statistical tests on small samples,
    distances on large ones."""

    large_rows: int = 1000
    alpha: float = 0.05
    numeric_small: Literal["ks", "wasserstein", "psi"] = "ks"
    numeric_large: Literal["ks", "wasserstein", "psi"] = "wasserstein"
    categorical_small: Literal["chi2", "jensenshannon", "psi"] = "chi2"
    categorical_large: Literal["chi2", "jensenshannon", "psi"] = "jensenshannon"
    wasserstein_threshold: float = 0.1
    jensenshannon_threshold: float = 0.1
    psi_threshold: float = 0.2
    methods: dict[str, Literal["ks", "wasserstein", "psi", "chi2", "jensenshannon"]] = field(
        default_factory=dict
    )
    drift_share: float = 0.5
    prediction_drift: bool = True
    max_metric_drop: float = 0.05
    fail_on_drift: bool = True
    # A categorical column drifts when more than this share of its batch values are
    # categories the reference never saw (a signal of its own, whatever the test says).
    max_unseen_rate: float = 0.05


@dataclass(frozen=True)
class SignalSettings:
    """Golden-signal thresholds for a serving deployment."""

    max_p50_ms: float = 50.0
    max_p99_ms: float = 200.0
    max_error_rate: float = 0.01
    min_requests: int = 1
    max_in_flight: float = 64.0
    max_memory_mb: float = 2048.0


@dataclass(frozen=True)
class QualitySettings:
    """Rules for production batches: the training rules (``validate``) with these changes.

    A production batch is judged by the same code as training data; only its size and,
    when set, its null and duplicate limits differ (None keeps the training limit).
    """

    min_rows: int = 1
    max_null_rate: float | None = None
    max_duplicate_rate: float | None = None

    def __post_init__(self) -> None:
        _check(self.min_rows >= 1, "monitor.quality.min_rows", self.min_rows, "an integer >= 1")
        for key in ("max_null_rate", "max_duplicate_rate"):
            rate = getattr(self, key)
            if rate is not None:
                _check(0 <= rate <= 1, f"monitor.quality.{key}", rate, "a rate between 0 and 1")


@dataclass(frozen=True)
class MonitorSettings:
    """Monitoring policy."""

    drift: DriftSettings = field(default_factory=DriftSettings)
    signals: SignalSettings = field(default_factory=SignalSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)


# ---------------------------------------------------------------------------- serve
@dataclass(frozen=True)
class ServeSettings:
    """What the model server accepts (``release serve``); see release/serve/body.py."""

    unknown_category: Literal["error", "warn"] = "error"
    max_body_mb: int = 16
    max_depth: int = 32


# ------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """Everything in ``params.yaml``."""

    data: DataSettings = field(default_factory=DataSettings)
    validate: ValidateSettings = field(default_factory=ValidateSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)

    def __post_init__(self) -> None:
        task = self.data.task
        metric = self.evaluate.primary_metric
        allowed = REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS
        _check(
            metric in allowed,
            "evaluate.primary_metric",
            metric,
            f"for task {task}: one of " + ", ".join(allowed),
        )
        estimators = REGRESSORS if task == "regression" else CLASSIFIERS
        _check(
            self.train.estimator in estimators,
            "train.estimator",
            self.train.estimator,
            f"for task {task}: one of " + ", ".join(sorted(estimators)),
        )


def load_settings(path: str | os.PathLike[str] = PARAMS_FILE) -> Settings:
    """Load and validate ``params.yaml``; raise ConfigError with one clear line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} not found", "run from the project root or pass --params PATH")
    raw = load_yaml(path)
    if raw is None:
        raise ConfigError(
            f"{path} is empty", "write the settings, or `{}` to use every default explicitly"
        )
    return settings_from_dict(raw, source=str(path))


def settings_from_yaml(text: bytes | str, source: str = PARAMS_FILE) -> Settings:
    """Build Settings from YAML text (a file read from git, not the working tree)."""
    if isinstance(text, bytes):
        if len(text) > MAX_YAML_BYTES:
            raise ConfigError(
                f"{source} is {len(text)} bytes; a settings file may hold at most {MAX_YAML_BYTES}",
                "remove generated or repeated content",
            )
        text = text.decode("utf-8", errors="replace")
    raw = load_yaml(source, text=text)  # the same strict reader as the working tree's
    return settings_from_dict(raw or {}, source=source)


def settings_from_dict(raw: Any, source: str = PARAMS_FILE) -> Settings:
    """Build Settings from a parsed mapping (the same checks as load_settings)."""
    try:
        settings = _build(Settings, raw, "")
        check_bounds(settings)
        return settings
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc.what}", exc.fix) from None


# --------------------------------------------------------------------------- loader
def _show(value: Any) -> str:
    """A value's repr cut to one short line (a list from a YAML alias may be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key} = {_show(value)} is invalid", f"expected {allowed}")


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{prefix or 'top level'} = {_show(raw)} is invalid", "expected a mapping of keys"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(map(str, raw)) - names)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown key {key}", "allowed keys here: " + ", ".join(sorted(names)))
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    absent = [name for name in required if name not in raw]
    if absent:
        raise ConfigError(f"{prefix}{absent[0]} is missing", f"set {prefix}{absent[0]}")
    kwargs = {name: _coerce(hints[name], raw[name], f"{prefix}{name}") for name in raw}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{key} = {_show(value)} is invalid", f"expected {_describe(tp)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key} = {_show(value)} is invalid", "expected null")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(
            f"{key} = {_show(value)} is invalid", "expected one of " + ", ".join(map(str, args))
        )
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} = {_show(value)} is invalid", f"expected {_describe(tp)}")
        return [_coerce(args[0], item, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} = {_show(value)} is invalid", f"expected {_describe(tp)}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():  # `1e9` in YAML is a float
            return int(value)
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "-inf", ".inf"):
            return math.inf if not value.strip().startswith("-") else -math.inf
    elif tp is str and isinstance(value, str):
        return value
    raise ConfigError(f"{key} = {_show(value)} is invalid", f"expected {_describe(tp)}")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin is list:
        return f"a list of {_describe(args[0])}"
    if origin is dict:
        return f"a mapping to {_describe(args[1])}"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )

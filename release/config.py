"""Typed, validated settings loaded once from ``params.yaml``.

No other module reads YAML for settings. Each section is a frozen dataclass; the loader
checks unknown keys, types and values, and every problem becomes one
:class:`~release.errors.ConfigError` naming the key, the value and what is allowed.
Parts of the system that need more settings add fields to their own section here (the
pipeline's sections are in ``config_pipeline``, monitoring's in ``config_monitor``, the
strict mapping-to-dataclass builder in ``config_loader``; every name is importable here).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from release.bounds import check_bounds
from release.config_deploy import KubernetesSettings, ScrapeMode
from release.config_loader import build as _build
from release.config_loader import check as _check
from release.config_loader import show as _show
from release.config_monitor import (
    DriftSettings,
    MonitorSettings,
    QualitySettings,
    SignalSettings,
)
from release.config_pipeline import (
    CLASSIFICATION_METRICS,
    CLASSIFIERS,
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    REGRESSORS,
    DataSettings,
    Estimator,
    EvaluateSettings,
    ExplainSettings,
    HLPSettings,
    SliceSettings,
    Source,
    Task,
    TrainSettings,
    ValidateSettings,
)
from release.errors import ConfigError, UsageError
from release.grammar import validate_name, validate_stage
from release.strict_yaml import MAX_YAML_BYTES, load_yaml

__all__ = [
    "CLASSIFICATION_METRICS",
    "CLASSIFIERS",
    "LOWER_IS_BETTER",
    "PARAMS_FILE",
    "REGRESSION_METRICS",
    "REGRESSORS",
    "BakeSettings",
    "BlueGreenSettings",
    "CanarySettings",
    "CanaryStep",
    "DataSettings",
    "DeploySettings",
    "DriftSettings",
    "Estimator",
    "EvaluateSettings",
    "ExplainSettings",
    "HLPSettings",
    "JudgeSettings",
    "KubernetesSettings",
    "MonitorSettings",
    "OnInconclusive",
    "QualitySettings",
    "ReleaseSettings",
    "ScrapeMode",
    "ServeSettings",
    "ServerSettings",
    "Settings",
    "SignalSettings",
    "SliceSettings",
    "Source",
    "StagePolicy",
    "Strategy",
    "Task",
    "TrainSettings",
    "ValidateSettings",
    "load_settings",
    "settings_from_dict",
    "settings_from_yaml",
]

PARAMS_FILE = "params.yaml"

Strategy = Literal["direct", "canary", "shadow", "bluegreen"]


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

"""Settings of monitoring: drift tests, golden-signal thresholds, production batch rules.

Part of :mod:`release.config`, which re-exports every name here; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from release.config_loader import check


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
        check(self.min_rows >= 1, "monitor.quality.min_rows", self.min_rows, "an integer >= 1")
        for key in ("max_null_rate", "max_duplicate_rate"):
            rate = getattr(self, key)
            if rate is not None:
                check(0 <= rate <= 1, f"monitor.quality.{key}", rate, "a rate between 0 and 1")


@dataclass(frozen=True)
class MonitorSettings:
    """Monitoring policy."""

    drift: DriftSettings = field(default_factory=DriftSettings)
    signals: SignalSettings = field(default_factory=SignalSettings)
    quality: QualitySettings = field(default_factory=QualitySettings)

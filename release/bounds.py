"""The allowed range of every numeric setting, and the check that applies them.

Each numeric field of the settings dataclasses has an entry in :data:`BOUNDS` (a test
enforces it, so a new setting cannot forget one). A value outside its range is refused
before any work starts, with one line naming the setting, the value and the range: a
bootstrap of 10^9 resamples would run out of memory, 2*10^9 generated rows would run
until killed.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from release.errors import ConfigError

_SEED = (0, 2**32 - 1)
_RATE = (0.0, 1.0)
_ANY_NUMBER = (-math.inf, math.inf)  # data values and bin edges: inf is an open edge
_METRIC = (-1e12, 1e12)
_STEP = {"weight": (1, 100), "min_requests": (0, 10_000_000)}
_STEP_TIMES = {"min_duration": (0.0, 86_400.0), "max_duration": (0.0, 604_800.0)}

# Every numeric setting and its allowed range, inclusive. ``*`` stands for any key of a
# mapping, ``[]`` for any item of a list. A value outside its range is refused before
# any work starts (a bootstrap of 1e9 resamples, say, would run out of memory).
BOUNDS: dict[str, tuple[float, float]] = {
    "data.rows": (100, 100_000_000),
    "data.test_size": _RATE,
    "data.seed": _SEED,
    "validate.min_rows": (1, 1_000_000_000),
    "validate.max_null_rate": _RATE,
    "validate.null_rate.*": _RATE,
    "validate.ranges.*[]": _ANY_NUMBER,
    "validate.max_duplicate_rate": _RATE,
    "validate.max_leakage_rows": (0, 1_000_000_000),
    "validate.min_slice_rows": (0, 1_000_000_000),
    "validate.max_examples": (0, 1_000),
    "train.params.*": (-1e9, 1e9),
    "train.params.max_iter": (1, 100_000),
    "train.params.n_estimators": (1, 10_000),
    "train.params.max_depth": (1, 1_000),
    "train.max_categories": (1, 10_000),
    "evaluate.bootstrap": (0, 100_000),
    "evaluate.confidence": _RATE,
    "evaluate.min_slice_size": (1, 1_000_000_000),
    "evaluate.seed": _SEED,
    "evaluate.slices.bins.*[]": _ANY_NUMBER,
    "evaluate.hlp.given.*": _METRIC,  # [0, 1] for rate metrics: checked in analysis.run
    "evaluate.explain.permutation_repeats": (1, 1_000),
    "evaluate.explain.max_rows": (1, 1_000_000),
    "evaluate.explain.surrogate_depth": (1, 32),
    "evaluate.explain.top_features": (1, 10_000),
    "evaluate.explain.examples": (0, 1_000),
    "evaluate.profile_sample": (1, 10_000_000),
    "release.policy.*.min_metrics.*": _METRIC,
    "release.policy.*.max_metrics.*": _METRIC,
    "release.policy.*.max_slice_regression": (0.0, 1e12),
    **{f"release.deploy.canary.steps[].{k}": v for k, v in {**_STEP, **_STEP_TIMES}.items()},
    **{f"release.deploy.shadow.{k}": v for k, v in {**_STEP, **_STEP_TIMES}.items()},
    "release.deploy.judge.alpha": _RATE,
    "release.deploy.judge.max_error_rate_increase": _RATE,
    "release.deploy.judge.max_latency_increase_ms": (0.0, 3_600_000.0),
    "release.deploy.judge.max_latency_ratio": (0.0, 1_000.0),
    "release.deploy.judge.max_prediction_psi": (0.0, 100.0),
    "release.deploy.judge.max_accuracy_drop": _RATE,
    "release.deploy.judge.min_labelled": (0, 10_000_000),
    "release.deploy.judge.min_shadow_agreement": _RATE,
    "release.deploy.judge.max_shadow_proba_diff": _RATE,
    "release.deploy.judge.max_golden_mismatch": _RATE,
    "release.policy.*.max_fairness_gap": _RATE,
    "release.deploy.judge.min_errors": (1, 10_000_000),
    "release.deploy.judge.max_error_increase": (0.0, 1e12),
    "release.deploy.judge.max_prediction_wasserstein": (0.0, 1e6),
    "release.deploy.judge.shadow_tolerance": (0.0, 1e12),
    "release.deploy.bluegreen.bake.duration": (0.0, 86_400.0),
    "release.deploy.bluegreen.bake.min_requests": (0, 10_000_000),
    "monitor.drift.max_unseen_rate": _RATE,
    "monitor.quality.min_rows": (0, 1_000_000_000),
    "monitor.quality.max_null_rate": _RATE,
    "monitor.quality.max_duplicate_rate": _RATE,
    "release.deploy.server.max_batch_size": (1, 65_536),
    "release.deploy.server.max_wait_ms": (0.0, 10_000.0),
    "release.deploy.server.threads": (1, 256),
    "release.deploy.router_port": (0, 65_535),
    "release.deploy.golden_rows": (0, 100_000),
    "release.deploy.start_timeout": (0.0, 3_600.0),
    "release.deploy.poll_interval": (0.0, 60.0),
    "monitor.drift.large_rows": (1, 1_000_000_000),
    "monitor.drift.alpha": _RATE,
    "monitor.drift.wasserstein_threshold": (0.0, 1e12),
    "monitor.drift.jensenshannon_threshold": _RATE,
    "monitor.drift.psi_threshold": (0.0, 100.0),
    "monitor.drift.drift_share": _RATE,
    "monitor.drift.max_metric_drop": (0.0, 1e12),
    "monitor.signals.max_p50_ms": (0.0, 3_600_000.0),
    "monitor.signals.max_p99_ms": (0.0, 3_600_000.0),
    "monitor.signals.max_error_rate": _RATE,
    "monitor.signals.min_requests": (0, 1_000_000_000),
    "monitor.signals.max_in_flight": (0.0, 1_000_000.0),
    "monitor.signals.max_memory_mb": (0.0, 10_000_000.0),
    "serve.max_body_mb": (1, 1_024),
    "serve.max_depth": (5, 1_000),
    "release.deploy.kubernetes.replicas": (1, 100),
    "release.deploy.kubernetes.scrape_interval": (1, 300),
    "release.deploy.kubernetes.run_as_user": (1, 2**31 - 1),
    "release.deploy.kubernetes.max_prediction_ks": _RATE,
}


def numeric_settings(cls: type, prefix: str = "") -> list[str]:
    """Every numeric setting as a BOUNDS pattern (for the docs and the coverage test)."""
    found: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        found.extend(_numeric_patterns(hints[f.name], prefix + f.name))
    return list(dict.fromkeys(found))


def _numeric_patterns(tp: Any, key: str) -> list[str]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return numeric_settings(tp, key + ".")
    if origin in (typing.Union, types.UnionType):
        return [p for a in args for p in _numeric_patterns(a, key)]
    if origin is list:
        return _numeric_patterns(args[0], key + "[]")
    if origin is dict:
        return _numeric_patterns(args[1], key + ".*")
    return [key] if tp in (int, float) or tp is Any else []


def check_bounds(settings: Any, prefix: str = "", pattern: str = "") -> None:
    """Refuse any numeric setting outside its range in :data:`BOUNDS`, naming both."""
    for f in dataclasses.fields(settings):
        _check_value(getattr(settings, f.name), prefix + f.name, pattern + f.name)


def _check_value(value: Any, key: str, pattern: str) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        check_bounds(value, key + ".", pattern + ".")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_value(v, f"{key}.{k}", f"{pattern}.*")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_value(v, f"{key}[{i}]", f"{pattern}[]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        bounds = BOUNDS.get(key) or BOUNDS.get(pattern)
        if bounds is None:
            return
        low, high = bounds
        if not (low <= value <= high) or (isinstance(value, float) and math.isnan(value)):
            raise ConfigError(
                f"{key} = {value!r} is out of range",
                f"allowed {_number(low)} to {_number(high)}",
            )


def _number(value: float) -> str:
    if isinstance(value, int) or (
        isinstance(value, float) and value.is_integer() and abs(value) < 1e15
    ):
        return f"{int(value):,}"
    return f"{value:g}"

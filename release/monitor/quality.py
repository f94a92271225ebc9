"""Quality rules for production batches: the training rules' code, production's limits."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from release.config import Settings
    from release.data.validate import QualityReport


def production_settings(settings: Settings) -> Settings:
    """``settings`` with ``validate`` adjusted by ``monitor.quality`` (min_rows 1 by default).

    Dtypes, ranges, categories and per-column null rates stay the training rules: a batch
    the model cannot score correctly fails the same way a training set would.
    """
    quality = settings.monitor.quality
    changes: dict[str, object] = {"min_rows": quality.min_rows}
    if quality.max_null_rate is not None:
        changes["max_null_rate"] = quality.max_null_rate
    if quality.max_duplicate_rate is not None:
        changes["max_duplicate_rate"] = quality.max_duplicate_rate
    rules = dataclasses.replace(settings.validate, **changes)  # type: ignore[arg-type]
    return dataclasses.replace(settings, validate=rules)


def check_batch(batch: pd.DataFrame, settings: Settings, dataset: str) -> QualityReport:
    """Apply the production rules to one batch (the target column is optional)."""
    from release.data.validate import validate_frame

    return validate_frame(
        batch, production_settings(settings), require_target=False, dataset=dataset
    )

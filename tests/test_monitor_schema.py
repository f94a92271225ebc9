"""Schema findings per column, and the unseen-category rate as a drift signal."""

from __future__ import annotations

import numpy as np
import pandas as pd

from release.config import DriftSettings, EvaluateSettings, Settings
from release.monitor.drift import run_drift
from release.monitor.quality import check_batch
from release.monitor.schema import findings
from release.reference.profile import reference_from_frame


def frame(n: int, seed: int, regions=("north", "south", "east")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "region": rng.choice(list(regions), n),
            "default": rng.integers(0, 2, n),
        }
    )


REF = reference_from_frame(frame(2000, 1), ["age", "region"], target="default", seed=0)


def test_each_difference_is_a_finding() -> None:
    batch = frame(300, 2, regions=("north", "mars"))
    batch["age"] = batch["age"].astype(object)
    batch.loc[:4, "age"] = "unknown"
    batch["extra"] = 1
    found = {(f.column, f.kind): f for f in findings(REF, batch)}
    assert found[("age", "dtype_changed")].rate == 5 / 300
    unseen = found[("region", "unseen_categories")]
    assert unseen.values == ["mars"] and 0.4 < (unseen.rate or 0) < 0.6
    assert ("extra", "unexpected_column") in found
    missing = findings(REF, batch.drop(columns=["region"]))
    assert ("region", "missing_feature") in [(f.column, f.kind) for f in missing]


def test_unseen_categories_drift_on_their_own() -> None:
    batch = frame(300, 3)
    batch.loc[:29, "region"] = "mars"  # 10% unseen: above the 5% default
    report = run_drift(REF, batch, DriftSettings(), EvaluateSettings())
    region = next(c for c in report.columns if c.column == "region")
    assert region.drifted and region.unseen_rate == 0.1
    assert "unseen in the reference" in region.note
    # A test on the known categories alone (Jensen-Shannon over a small shift) stays calm;
    # the unseen share still decides.
    settings = DriftSettings(methods={"region": "jensenshannon"}, jensenshannon_threshold=0.5)
    loud = run_drift(REF, batch, settings, EvaluateSettings())
    assert next(c for c in loud.columns if c.column == "region").drifted
    quiet = DriftSettings(
        methods={"region": "jensenshannon"}, jensenshannon_threshold=0.5, max_unseen_rate=0.2
    )
    calm = run_drift(REF, batch, quiet, EvaluateSettings())
    assert not next(c for c in calm.columns if c.column == "region").drifted


def test_production_batches_have_their_own_min_rows() -> None:
    settings = Settings()
    assert settings.validate.min_rows == 100 and settings.monitor.quality.min_rows == 1
    result = check_batch(frame(95, 4), settings, "batch")
    rule = next(r for r in result.rules if r.name == "min_rows")
    assert rule.passed and rule.limit == 1

"""Human-level performance from annotator labels: the seed's 68% / 80% figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from release.analysis.hlp import row_hlp, row_hlp_from_frame
from release.analysis.run import analyse_slices
from release.config import settings_from_dict
from release.errors import ConfigError


def panel_80_20() -> tuple[pd.DataFrame, np.ndarray]:
    """Three annotators who each say "A" with probability 0.8, in exact proportions.

    Every pattern of three labels appears in 1,000 rows exactly as often as its
    probability says (AAA 512, each AAB order 128, each ABB order 32, BBB 8).
    """
    rows = []
    for pattern in ["AAA", "AAB", "ABA", "BAA", "ABB", "BAB", "BBA", "BBB"]:
        b = pattern.count("B")
        count = round(1000 * 0.8 ** (3 - b) * 0.2**b)
        rows += [list(pattern)] * count
    frame = pd.DataFrame(rows, columns=["a1", "a2", "a3"])
    assert len(frame) == 1000
    return frame, np.array(["A"] * len(frame))


def test_seed_figures_exact():
    frame, reference = panel_80_20()
    acc, agr = row_hlp([frame[c] for c in frame.columns], reference).on()
    assert acc == pytest.approx(0.80)  # one annotator matches the majority label 80%
    assert agr == pytest.approx(0.68)  # two random annotators agree 0.8^2 + 0.2^2


def test_seed_figures_simulated():
    rng = np.random.default_rng(7)
    n = 20_000
    labels = np.where(rng.random((n, 3)) < 0.8, 1, 0)
    acc, agr = row_hlp([labels[:, j] for j in range(3)], np.ones(n, dtype=int)).on()
    assert acc == pytest.approx(0.80, abs=0.01)
    assert agr == pytest.approx(0.68, abs=0.01)


def test_missing_labels_are_skipped_and_numbers_match_floats():
    a1 = pd.Series([1.0, 0.0, np.nan, 1.0])
    a2 = pd.Series([1.0, np.nan, np.nan, 0.0])
    ref = np.array([1, 0, 1, 1])
    rows = row_hlp([a1, a2], ref)
    assert rows.accuracy.tolist()[:2] == [1.0, 1.0]
    assert np.isnan(rows.accuracy[2])  # no label at all
    assert rows.accuracy[3] == 0.5
    assert rows.agreement[0] == 1.0 and rows.agreement[3] == 0.0
    assert np.isnan(rows.agreement[1])  # one label: no pair
    acc, agr = rows.on(np.array([True, True, True, True]))
    assert acc == pytest.approx(2.5 / 3) and agr == pytest.approx(0.5)


def test_hlp_per_slice_and_kind_choice():
    frame, _ = panel_80_20()
    frame = frame.replace({"A": 1, "B": 0})
    easy = pd.DataFrame({"a1": [1] * 200, "a2": [1] * 200, "a3": [1] * 200})
    df = pd.concat([frame, easy], ignore_index=True)
    df["group"] = ["noisy"] * 1000 + ["clear"] * 200
    df["y"] = 1
    y_pred = np.ones(len(df), dtype=int)
    base = {
        "data": {"target": "y", "annotators": ["a1", "a2", "a3"]},
        "evaluate": {"bootstrap": 20, "slices": {"columns": ["group"]}},
    }
    result = analyse_slices(settings_from_dict(base), df, df["y"], y_pred, None, [0, 1])
    by = {s["name"]: s for s in result["slices"]}
    assert by["group=noisy"]["hlp_annotator_accuracy"] == pytest.approx(0.80)
    assert by["group=noisy"]["hlp_agreement"] == pytest.approx(0.68)
    assert by["group=noisy"]["hlp"] == pytest.approx(0.80)  # default kind
    assert by["group=clear"]["hlp"] == pytest.approx(1.0)
    assert result["hlp_kind"] == "annotator_accuracy"
    base["evaluate"]["hlp"] = {"kind": "agreement"}
    result = analyse_slices(settings_from_dict(base), df, df["y"], y_pred, None, [0, 1])
    by = {s["name"]: s for s in result["slices"]}
    assert by["group=noisy"]["hlp"] == pytest.approx(0.68)
    assert result["hlp_kind"] == "agreement"
    # A value given in params.yaml wins over the measured one for that slice.
    base["evaluate"]["hlp"] = {"given": {"group=noisy": 0.9}}
    result = analyse_slices(settings_from_dict(base), df, df["y"], y_pred, None, [0, 1])
    by = {s["name"]: s for s in result["slices"]}
    assert by["group=noisy"]["hlp"] == 0.9 and by["group=noisy"]["hlp_source"] == "given"
    assert by["group=clear"]["hlp_source"] == "annotators"


def test_missing_annotator_column_is_a_config_error():
    df = pd.DataFrame({"a1": [1, 0]})
    with pytest.raises(ConfigError, match="annotator_9"):
        row_hlp_from_frame(df, ["a1", "annotator_9"], np.array([1, 0]))

"""Potential impact and its table: the seed's worked example, computed and measured."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from release.analysis.impact import Candidate, potential_impact, rank
from release.analysis.report import render_markdown
from release.analysis.run import analyse_slices
from release.config import settings_from_dict

SEED_TABLE = {  # slice: (HLP, model, share)
    "mountains": (0.65, 0.60, 0.10),
    "humans": (0.96, 0.90, 0.85),
    "cars": (0.80, 0.40, 0.01),
}


def test_seed_table_impacts_and_ranking():
    impacts = {
        name: potential_impact(h, model, share) for name, (h, model, share) in SEED_TABLE.items()
    }
    assert impacts["mountains"] == pytest.approx(0.005)
    assert impacts["humans"] == pytest.approx(0.051)
    assert impacts["cars"] == pytest.approx(0.004)
    order = rank([Candidate(n, v, False) for n, v in impacts.items()])
    assert order == {"humans": 1, "mountains": 2, "cars": 3}


def test_impact_is_never_negative_and_respects_direction():
    assert potential_impact(0.80, 0.90, 0.5) == 0.0  # model beats humans: nothing to gain
    assert potential_impact(None, 0.9, 0.5) is None
    # Lower-is-better metric (an error): the headroom is model - HLP.
    assert potential_impact(2.0, 3.0, 0.5, higher_is_better=False) == pytest.approx(0.5)
    assert potential_impact(3.0, 2.0, 0.5, higher_is_better=False) == 0.0


def test_small_and_unknown_slices_are_not_ranked():
    order = rank(
        [Candidate("a", 0.01, False), Candidate("b", 0.5, True), Candidate("c", None, False)]
    )
    assert order == {"a": 1, "b": None, "c": None}


def seed_frame() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """1,000 rows whose measured accuracy per scene is the seed's model column."""
    parts = []
    for scene, rows, correct in [
        ("mountains", 100, 60),
        ("humans", 850, 765),
        ("cars", 10, 4),
        ("other", 40, 40),
    ]:
        parts.append(
            pd.DataFrame({"scene": [scene] * rows, "ok": [1] * correct + [0] * (rows - correct)})
        )
    df = pd.concat(parts, ignore_index=True)
    df["label"] = 1
    y_true = df["label"].to_numpy()
    y_pred = df["ok"].to_numpy()  # wrong rows predict 0
    return df, y_true, y_pred


def test_seed_table_measured_end_to_end():
    df, y_true, y_pred = seed_frame()
    settings = settings_from_dict(
        {
            "data": {"target": "label"},
            "evaluate": {
                "min_slice_size": 5,
                "bootstrap": 200,
                "slices": {"columns": ["scene"]},
                "hlp": {
                    "source": "given",
                    "given": {
                        "scene=mountains": 0.65,
                        "scene=humans": 0.96,
                        "scene=cars": 0.80,
                    },
                },
            },
        }
    )
    result = analyse_slices(settings, df, y_true, y_pred, None, [0, 1])
    by = {s["name"]: s for s in result["slices"]}
    assert by["scene=mountains"]["metric"] == pytest.approx(0.60)
    assert by["scene=humans"]["metric"] == pytest.approx(0.90)
    assert by["scene=cars"]["metric"] == pytest.approx(0.40)
    assert by["scene=mountains"]["potential_impact"] == pytest.approx(0.005)
    assert by["scene=humans"]["potential_impact"] == pytest.approx(0.051)
    assert by["scene=cars"]["potential_impact"] == pytest.approx(0.004)
    assert [by[f"scene={n}"]["rank"] for n in ("humans", "mountains", "cars")] == [1, 2, 3]
    assert by["scene=other"]["rank"] is None and by["scene=other"]["hlp"] is None
    assert result["hlp_kind"] == "given"
    markdown = render_markdown(result)
    assert "| scene=humans | 96.0% | 90.0% | 85.0% | 5.1% | 1 |" in markdown
    assert "| scene=mountains | 65.0% | 60.0% | 10.0% | 0.5% | 2 |" in markdown
    assert "| scene=cars | 80.0% | 40.0% | 1.0% | 0.4% | 3 |" in markdown
    lines = [line for line in markdown.splitlines() if line.startswith("| scene=")]
    assert [line.split(" | ")[0] for line in lines[:3]] == [
        "| scene=humans",
        "| scene=mountains",
        "| scene=cars",
    ]


def test_without_hlp_slices_rank_by_shortfall_to_overall():
    df, y_true, y_pred = seed_frame()
    settings = settings_from_dict(
        {
            "data": {"target": "label"},
            "evaluate": {"min_slice_size": 5, "bootstrap": 50, "slices": {"columns": ["scene"]}},
        }
    )
    result = analyse_slices(settings, df, y_true, y_pred, None, [0, 1])
    assert result["ranking"] == "gap" and result["hlp_kind"] is None
    by = {s["name"]: s for s in result["slices"]}
    # overall accuracy 0.869: mountains fall 0.269 short on 10%, cars 0.469 on 1%,
    # humans (0.90) are above the overall figure.
    assert by["scene=mountains"]["gap_impact"] == pytest.approx(0.0269)
    assert by["scene=cars"]["gap_impact"] == pytest.approx(0.00469)
    assert by["scene=humans"]["gap_impact"] == 0.0
    assert [by[f"scene={n}"]["rank"] for n in ("mountains", "cars", "humans")] == [1, 2, 3]
    assert all(s["potential_impact"] is None for s in result["slices"])

"""Fairness metrics agree with fairlearn's MetricFrame on the same predictions (1e-9)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

fairlearn_metrics = pytest.importorskip("fairlearn.metrics")
MetricFrame = fairlearn_metrics.MetricFrame
demographic_parity_difference = fairlearn_metrics.demographic_parity_difference
equalized_odds_difference = fairlearn_metrics.equalized_odds_difference
false_positive_rate = fairlearn_metrics.false_positive_rate
selection_rate = fairlearn_metrics.selection_rate
true_positive_rate = fairlearn_metrics.true_positive_rate

from release.analysis.fairness import analyse_fairness  # noqa: E402
from release.analysis.run import analyse_slices  # noqa: E402
from release.config import settings_from_dict  # noqa: E402
from release.stats.metrics import encode  # noqa: E402


def data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Female", "Male"], n, p=[0.35, 0.65])
    race = rng.choice(["a", "b", "c"], n)
    y = rng.random(n) < np.where(sex == "Male", 0.3, 0.2)
    pred = np.where(rng.random(n) < 0.8, y, ~y) | ((sex == "Male") & (rng.random(n) < 0.1))
    frame = pd.DataFrame({"sex": sex, "race": race, "x": rng.normal(size=n)})
    return frame, y.astype(int), pred.astype(int)


def settings(**extra):  # type: ignore[no-untyped-def]
    return settings_from_dict(
        {
            "data": {"protected": ["sex", "race"], "target": "y"},
            "evaluate": {"bootstrap": 300, **extra},
        }
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_agrees_with_fairlearn_metricframe(seed: int) -> None:

    frame, y, pred = data(3000, seed)
    out, classes = encode("binary", y, pred, None, [0, 1])
    doc = analyse_fairness(settings(), frame, out, classes)
    assert doc is not None and doc["positive_class"] == 1
    for attr in doc["attributes"]:
        column = attr["attribute"]
        mf = MetricFrame(
            metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y,
            y_pred=pred,
            sensitive_features=frame[column],
        )
        for group in attr["groups"]:
            row = mf.by_group.loc[group["group"]]
            assert group["selection_rate"]["value"] == pytest.approx(row["sr"], abs=1e-9)
            assert group["tpr"]["value"] == pytest.approx(row["tpr"], abs=1e-9)
            assert group["fpr"]["value"] == pytest.approx(row["fpr"], abs=1e-9)
            lo, hi = group["selection_rate"]["ci"]
            assert lo < group["selection_rate"]["value"] < hi
        gaps = attr["gaps"]
        dp = demographic_parity_difference(y, pred, sensitive_features=frame[column])
        eo = equalized_odds_difference(y, pred, sensitive_features=frame[column])
        assert gaps["demographic_parity_difference"]["value"] == pytest.approx(dp, abs=1e-9)
        assert gaps["equalized_odds_difference"]["value"] == pytest.approx(eo, abs=1e-9)
        lo, hi = gaps["demographic_parity_difference"]["ci"]
        assert lo <= dp <= hi


def test_fairness_lands_in_slices_json_and_regression_reports_mean_error() -> None:
    frame, y, pred = data(800, 3)
    doc = analyse_slices(settings(), frame, y, pred, None, [0, 1])
    assert doc["fairness"]["largest_gap"]["value"] > 0
    assert doc["fairness"]["used_as_features"] is False
    rng = np.random.default_rng(4)
    truth = rng.normal(100, 20, 800)
    guess = truth + np.where(frame["sex"] == "Male", 15, 5) * rng.standard_normal(800)
    reg = settings_from_dict(
        {
            "data": {"protected": ["sex"], "target": "y", "task": "regression"},
            "train": {"estimator": "ridge"},
            "evaluate": {"primary_metric": "mae", "bootstrap": 200},
        }
    )
    doc = analyse_slices(reg, frame, truth, guess)
    (attr,) = doc["fairness"]["attributes"]
    by = {g["group"]: g for g in attr["groups"]}
    assert by["Male"]["mae"] > by["Female"]["mae"]
    gap = attr["gaps"]["mae_difference"]
    assert gap["value"] == pytest.approx(by["Male"]["mae"] - by["Female"]["mae"])
    assert gap["ci"][0] < gap["value"] < gap["ci"][1]


def test_no_protected_attributes_no_block() -> None:
    frame, y, pred = data(100, 5)
    out, classes = encode("binary", y, pred, None, [0, 1])
    assert analyse_fairness(settings_from_dict({}), frame, out, classes) is None


def test_the_fairness_gate() -> None:
    from release.facts import read_slices
    from release.registry.policy import Facts, gate_fairness

    frame, y, pred = data(2000, 6)
    doc = analyse_slices(settings(), frame, y, pred, None, [0, 1])
    largest = doc["fairness"]["largest_gap"]["value"]
    facts = Facts(version="v1", commit="c" * 40, slices=read_slices(json.dumps(doc).encode(), "v1"))
    assert gate_fairness(largest + 0.01, facts).passed
    failed = gate_fairness(largest - 0.01, facts)
    assert not failed.passed and "fairness gap over" in failed.detail
    empty = {**doc, "fairness": {}}
    no_fairness = read_slices(json.dumps(empty).encode(), "v1")
    assert not gate_fairness(0.5, Facts(version="v1", commit="c" * 40, slices=no_fairness)).passed


def test_perfect_groups_still_get_a_gap_interval() -> None:
    frame, y, _ = data(60, 7)
    out, classes = encode("binary", y, y, None, [0, 1])
    doc = analyse_fairness(settings(), frame, out, classes)
    assert doc is not None
    gap = doc["attributes"][0]["gaps"]["accuracy_difference"]
    assert gap["value"] == 0.0 and gap["ci"][0] == 0.0 and gap["ci"][1] > 0.05


def test_multiclass_rates_and_gaps_agree_with_fairlearn_on_wine() -> None:
    from functools import partial

    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, recall_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wine = load_wine(as_frame=True)
    frame, y = wine.data, wine.target.to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    # magnesium is the protected attribute, binned, and not a model input.
    pred = cross_val_predict(model, frame.drop(columns=["magnesium"]), y, cv=3)
    edges = [70, 90, 105, 162]
    fair = settings_from_dict(
        {
            "data": {"protected": ["magnesium"], "target": "class"},
            "evaluate": {"bootstrap": 300, "slices": {"bins": {"magnesium": edges}}},
        }
    )
    out, classes = encode("multiclass", y, pred, None, [0, 1, 2])
    doc = analyse_fairness(fair, frame, out, classes)
    assert doc is not None and doc["positive_class"] is None
    (attr,) = doc["attributes"]
    names = [g["group"] for g in attr["groups"]]
    assert names == ["[70, 90)", "[90, 105)", "[105, 162]"]
    groups = np.select(
        [frame["magnesium"] < 90, frame["magnesium"] < 105], names[:2], default=names[2]
    )
    per_class = {}
    for c in classes:
        yc, pc = (y == c).astype(int), (pred == c).astype(int)
        mf = MetricFrame(
            metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=yc,
            y_pred=pc,
            sensitive_features=groups,
        )
        per_class[c] = mf.by_group
        for group in attr["groups"]:
            mine, theirs = group["per_class"][str(c)], mf.by_group.loc[group["group"]]
            for key, column in (("selection_rate", "sr"), ("tpr", "tpr"), ("fpr", "fpr")):
                assert mine[key]["value"] == pytest.approx(theirs[column], abs=1e-9)
                lo, hi = mine[key]["ci"]
                assert lo <= mine[key]["value"] <= hi
    macro = MetricFrame(
        metrics={
            "acc": accuracy_score,
            "tpr": partial(recall_score, labels=[0, 1, 2], average="macro"),
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    )
    for group in attr["groups"]:
        row = macro.by_group.loc[group["group"]]
        assert group["accuracy"]["value"] == pytest.approx(row["acc"], abs=1e-9)
        assert group["macro_tpr"] == pytest.approx(row["tpr"], abs=1e-9)
        fprs = [per_class[c].loc[group["group"], "fpr"] for c in classes]
        assert group["macro_fpr"] == pytest.approx(np.mean(fprs), abs=1e-9)
    # The gaps are the worst class's one-vs-rest differences, as fairlearn computes them.
    dp = [
        demographic_parity_difference(y == c, pred == c, sensitive_features=groups) for c in classes
    ]
    eo = [equalized_odds_difference(y == c, pred == c, sensitive_features=groups) for c in classes]
    gaps = attr["gaps"]
    assert gaps["demographic_parity_difference"]["value"] == pytest.approx(max(dp), abs=1e-9)
    assert gaps["demographic_parity_difference"]["class"] == str(classes[int(np.argmax(dp))])
    assert gaps["equalized_odds_difference"]["value"] == pytest.approx(max(eo), abs=1e-9)
    assert gaps["equalized_odds_difference"]["class"] == str(classes[int(np.argmax(eo))])
    assert gaps["accuracy_difference"]["value"] == pytest.approx(
        macro.difference()["acc"], abs=1e-9
    )
    for gap in gaps.values():
        lo, hi = gap["ci"]
        assert lo <= gap["value"] <= hi
    assert max(dp) > 0.3  # magnesium bins differ in class mix: a real gap, not a zero


def test_the_fairness_gate_reads_multiclass_gaps() -> None:
    from release.facts import read_slices
    from release.registry.policy import Facts, gate_fairness

    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"sex": rng.choice(["Female", "Male"], 600)})
    y = rng.integers(0, 3, 600)
    # Class 2 is over-predicted for men: a one-vs-rest gap of that class.
    pred = np.where((frame["sex"] == "Male") & (rng.random(600) < 0.3), 2, y)
    multi = settings_from_dict({"data": {"protected": ["sex"], "target": "y"}})
    doc = analyse_slices(multi, frame, y, pred, None, [0, 1, 2])
    gaps = doc["fairness"]["attributes"][0]["gaps"]
    assert gaps["demographic_parity_difference"]["class"] == "2"
    largest = doc["fairness"]["largest_gap"]["value"]
    assert largest > 0.05
    facts = Facts(version="v1", commit="c" * 40, slices=read_slices(json.dumps(doc).encode(), "v1"))
    assert gate_fairness(largest + 0.01, facts).passed
    failed = gate_fairness(largest - 0.01, facts)
    assert not failed.passed and "fairness gap over" in failed.detail

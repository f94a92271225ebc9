"""Explanations: permutation importance, the surrogate tree, counterfactual search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeClassifier

from release.analysis import counterfactual, explain


@pytest.fixture(scope="module")
def threshold_model():
    """A model that predicts 1 exactly when x1 > ~0 (and ignores x2 and colour)."""
    rng = np.random.default_rng(0)
    n = 3000
    x = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n) * 5,
            "colour": rng.choice(["red", "blue"], size=n),
        }
    )
    y = (x["x1"] > 0).astype(int).to_numpy()
    pre = ColumnTransformer(
        [("num", "passthrough", ["x1", "x2"]), ("cat", OneHotEncoder(), ["colour"])]
    )
    model = make_pipeline(pre, DecisionTreeClassifier(max_depth=1, random_state=0)).fit(x, y)
    threshold = float(model[-1].tree_.threshold[0])
    return model, x, y, threshold


def test_permutation_importance_finds_the_only_driver(threshold_model):
    model, x, y, _ = threshold_model
    result = explain.permutation_importance(
        model, x, y, metric="accuracy", task="binary", classes=[0, 1],
        repeats=4, max_rows=1000, top=3, seed=0,
    )  # fmt: skip
    assert result["rows"] == 1000 and result["repeats"] == 4
    assert result["baseline"] == pytest.approx(1.0)
    first, *rest = result["features"]
    assert first["feature"] == "x1" and first["mean"] == pytest.approx(0.5, abs=0.05)
    assert all(f["mean"] == 0.0 and f["std"] == 0.0 for f in rest)  # ignored features
    again = explain.permutation_importance(
        model, x, y, metric="accuracy", task="binary", classes=[0, 1],
        repeats=4, max_rows=1000, top=3, seed=0,
    )  # fmt: skip
    assert again == result


def test_permutation_importance_for_a_loss_is_positive_when_it_hurts(threshold_model):
    model, x, y, _ = threshold_model
    result = explain.permutation_importance(
        model, x, y, metric="log_loss", task="binary", classes=[0, 1],
        repeats=2, max_rows=500, top=1, seed=1,
    )  # fmt: skip
    assert result["features"][0]["feature"] == "x1" and result["features"][0]["mean"] > 1.0


def test_surrogate_of_a_stump_is_faithful_and_readable(threshold_model):
    model, x, _, threshold = threshold_model
    pred = model.predict(x)
    result = explain.surrogate(x, pred, task="binary", classes=[0, 1], depth=2, seed=0)
    assert result["fidelity"] == pytest.approx(1.0, abs=0.005)
    assert result["holdout_rows"] + result["fit_rows"] == len(x)
    conditions = [c for rule in result["rules"] for c in rule["conditions"]]
    assert all(c.startswith("x1 ") for c in conditions)
    cut = float(conditions[0].split()[-1])
    assert cut == pytest.approx(threshold, abs=0.05)  # the model's own boundary
    assert sum(rule["share"] for rule in result["rules"]) == pytest.approx(1.0)
    assert "THEN predict 1" in result["text"] and "THEN predict 0" in result["text"]


def test_surrogate_rules_name_categories():
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"kind": rng.choice(["a", "b", "c"], size=600), "v": rng.normal(size=600)})
    pred = (x["kind"] == "b").astype(int).to_numpy()
    result = explain.surrogate(x, pred, task="binary", classes=["no", "yes"], depth=1, seed=0)
    assert result["fidelity"] == 1.0
    texts = result["text"].splitlines()
    assert any("kind == 'b'" in t and "predict yes" in t for t in texts)
    assert any("kind != 'b'" in t and "predict no" in t for t in texts)


def test_counterfactual_is_the_smallest_single_change(threshold_model):
    model, x, _, threshold = threshold_model
    rows = pd.DataFrame({"x1": [threshold - 0.3, 2.0], "x2": [1.0, 1.0], "colour": ["red", "red"]})
    # Row 0 is predicted 0 but labelled 1; row 1 is predicted 1 but labelled 0.
    fixes = counterfactual.find(model, rows, np.array([1, 0]), x, [0, 1])
    std = float(x["x1"].std(ddof=0))
    first, second = fixes
    assert first["feature"] == "x1" and first["new_prediction"] == 1
    assert threshold < first["to"] <= threshold + 0.02 * std  # just across the boundary
    assert first["cost"] == pytest.approx(0.3 / std, abs=0.02)
    assert second["feature"] == "x1" and second["to"] <= threshold
    for row, fix in zip(rows.to_dict("records"), fixes, strict=True):
        row[fix["feature"]] = fix["to"]
        assert model.predict(pd.DataFrame([row]))[0] == fix["new_prediction"]


def test_no_counterfactual_when_no_single_feature_flips():
    rng = np.random.default_rng(2)
    x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    model = make_pipeline(DecisionTreeClassifier(max_depth=1)).fit(x, np.zeros(400, dtype=int))
    # A model that only ever says 0 cannot be moved to 1.
    fixes = counterfactual.find(model, x.iloc[:2], np.array([1, 1]), x, [0, 1])
    assert fixes == [None, None]

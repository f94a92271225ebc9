"""Error analysis end to end: a planted hard slice ranks first; files, explanations, examples."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from release.analysis import run_error_analysis
from release.analysis.run import analyse_slices
from release.config import settings_from_dict
from release.errors import ConfigError, DataError

ANNOTATORS = ["ann_1", "ann_2", "ann_3"]
FEATURES = ["x1", "x2", "group", "size"]


def planted(n: int, seed: int) -> pd.DataFrame:
    """Group "hard" (20%): the label depends on a latent the features do not carry, which
    the annotators see; elsewhere the label is a clean function of x1 and x2."""
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c", "hard"], size=n, p=[0.3, 0.3, 0.2, 0.2])
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    latent = rng.normal(size=n)
    score = np.where(group == "hard", latent, 2 * x1 - x2)
    y = (score + 0.2 * rng.normal(size=n) > 0).astype(int)
    frame = pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "group": group.astype(object),
            "size": rng.integers(1, 10, n),
        }
    )
    for name in ANNOTATORS:
        frame[name] = np.where(rng.random(n) < 0.95, y, 1 - y)
    frame["y"] = y
    return frame


def fit_classifier(train: pd.DataFrame) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["x1", "x2", "size"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["group"]),
        ]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=500)).fit(train[FEATURES], train["y"])


SETTINGS = {
    "data": {"target": "y", "annotators": ANNOTATORS, "slice_columns": ["group"]},
    "evaluate": {
        "bootstrap": 300,
        "min_slice_size": 80,
        "slices": {
            "bins": {"x1": ["-inf", -1, 0, 1, "inf"]},
            "predicates": {"big": "size >= 8"},
            "intersections": [["group", "x1"]],
        },
        "explain": {"permutation_repeats": 3, "max_rows": 600, "examples": 4},
    },
}


@pytest.fixture(scope="module")
def fitted():
    frame = planted(6000, 1)
    train, test = frame.iloc[:4000], frame.iloc[4000:].reset_index(drop=True)
    model = fit_classifier(train)
    proba = model.predict_proba(test[FEATURES])
    pred = model.classes_[proba.argmax(axis=1)]
    return test, pred, proba, model


def test_planted_hard_slice_ranks_first_and_reports_are_written(fitted, tmp_path):
    test, pred, proba, model = fitted
    settings = settings_from_dict(SETTINGS)
    summary = run_error_analysis(
        settings, test, test["y"].to_numpy(), pred, proba, [0, 1], model, tmp_path / "reports"
    )
    assert summary["top_slice"] == "group=hard"
    reports = tmp_path / "reports"
    doc = json.loads((reports / "slices.json").read_text())
    assert set(doc) >= {"primary_metric", "higher_is_better", "overall", "hlp_kind", "slices"}
    assert set(doc["overall"]) >= {"metric", "ci_low", "ci_high", "rows"}
    keys = {
        "name", "kind", "rows", "share", "metric", "ci_low", "ci_high", "gap", "small", "hlp",
        "hlp_annotator_accuracy", "hlp_agreement", "potential_impact", "rank",
    }  # fmt: skip
    assert all(keys <= set(s) for s in doc["slices"])
    by = {s["name"]: s for s in doc["slices"]}
    hard = by["group=hard"]
    assert hard["rank"] == 1 and hard["kind"] == "value"
    assert hard["hlp"] == pytest.approx(0.95, abs=0.02)
    assert hard["metric"] < 0.75 < doc["overall"]["metric"]
    assert hard["ci_low"] < hard["metric"] < hard["ci_high"]
    assert hard["gap"] == pytest.approx(hard["metric"] - doc["overall"]["metric"])
    assert {s["kind"] for s in doc["slices"]} == {"value", "bin", "predicate", "intersection"}
    assert doc["hlp_kind"] == "annotator_accuracy"
    # Small slices are reported, never ranked.
    assert all(s["rank"] is None for s in doc["slices"] if s["small"])
    assert any(s["small"] for s in doc["slices"])

    markdown = (reports / "slices.md").read_text()
    first_row = next(line for line in markdown.splitlines() if line.startswith("| group="))
    assert first_row.startswith("| group=hard |")
    with open(reports / "plots" / "slices.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["slice"] == "overall" and rows[1]["slice"] == "group=hard"
    assert float(rows[1]["ci_low"]) <= float(rows[1]["metric"]) <= float(rows[1]["ci_high"])
    assert len(rows) == len(doc["slices"]) + 1

    explain = json.loads((reports / "explain.json").read_text())
    importance = explain["permutation_importance"]["features"]
    assert importance[0]["feature"] == "x1"  # the strongest driver of the label
    assert all(f["std"] >= 0 for f in importance)
    surrogate = explain["surrogate"]
    assert 0.8 <= surrogate["fidelity"] <= 1.0
    assert surrogate["rules"] and "IF " in surrogate["text"]

    examples = json.loads((reports / "examples.json").read_text())
    assert examples["slice"] == "group=hard" and examples["examples"]
    flips = 0
    for ex in examples["examples"]:
        assert ex["features"]["group"] == "hard" and ex["y_true"] != ex["y_pred"]
        fix = ex["counterfactual"]
        if fix is None:
            continue
        changed = dict(ex["features"])
        changed[fix["feature"]] = fix["to"]
        again = model.predict(pd.DataFrame([changed])[FEATURES])[0]
        assert again == ex["y_true"]  # the change really gives the true label
        flips += 1
    assert flips >= 1


def test_same_seed_same_bytes(fitted, tmp_path):
    test, pred, proba, model = fitted
    settings = settings_from_dict(SETTINGS)
    outputs = []
    for name in ("one", "two"):
        run_error_analysis(settings, test, test["y"], pred, proba, [0, 1], model, tmp_path / name)
        outputs.append(
            [
                (tmp_path / name / f).read_bytes()
                for f in ("slices.json", "explain.json", "examples.json")
            ]
        )
    assert outputs[0] == outputs[1]


def test_other_primary_metric_keeps_hlp_on_the_accuracy_scale(fitted):
    test, pred, proba, _ = fitted
    raw = json.loads(json.dumps(SETTINGS))
    raw["evaluate"]["primary_metric"] = "roc_auc"
    result = analyse_slices(settings_from_dict(raw), test, test["y"], pred, proba, [0, 1])
    assert result["primary_metric"] == "roc_auc" and result["impact_metric"] == "accuracy"
    hard = next(s for s in result["slices"] if s["name"] == "group=hard")
    assert hard["rank"] == 1
    assert hard["impact_model"] == pytest.approx(
        np.mean(pred[test["group"] == "hard"] == test["y"][test["group"] == "hard"])
    )
    assert 0.4 < hard["metric"] < 0.8  # the slice's AUC, with its own interval
    assert hard["ci_low"] < hard["metric"] < hard["ci_high"]


@pytest.mark.slow
def test_builtin_data_planted_slice_ranks_first():
    builtin = pytest.importorskip("release.data.builtin")
    frame = builtin.generate(8000, 3)
    features = [*builtin.NUMERIC, *builtin.CATEGORICAL]
    train, test = frame.iloc[:5000], frame.iloc[5000:].reset_index(drop=True)
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), list(builtin.NUMERIC)),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="?"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                list(builtin.CATEGORICAL),
            ),
        ]
    )
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = make_pipeline(pre, HistGradientBoostingClassifier(random_state=0))
    model.fit(train[features], train[builtin.TARGET])
    settings = settings_from_dict(
        {
            "data": {"annotators": list(builtin.ANNOTATORS)},
            "evaluate": {
                "bootstrap": 200,
                "slices": {
                    "columns": ["employment_type", "region", "sex", "home_ownership", "purpose"]
                },
            },
        }
    )
    result = analyse_slices(
        settings, test, test[builtin.TARGET], model.predict(test[features]), None, [0, 1]
    )
    top = min((s for s in result["slices"] if s["rank"]), key=lambda s: s["rank"])
    assert top["name"] == "employment_type=self_employed"


def test_regression_slices_with_given_hlp(tmp_path):
    rng = np.random.default_rng(4)
    n = 2000
    frame = pd.DataFrame({"x": rng.normal(size=n), "zone": rng.choice(["calm", "wild"], size=n)})
    noise = np.where(frame["zone"] == "wild", 3.0, 0.3)
    frame["t"] = 2 * frame["x"] + rng.normal(size=n) * noise
    model = make_pipeline(ColumnTransformer([("n", "passthrough", ["x"])]), LinearRegression()).fit(
        frame[["x", "zone"]], frame["t"]
    )
    pred = model.predict(frame[["x", "zone"]])
    settings = settings_from_dict(
        {
            "data": {"target": "t", "task": "regression"},
            "train": {"estimator": "ridge"},
            "evaluate": {
                "primary_metric": "mae",
                "bootstrap": 200,
                "slices": {"columns": ["zone"]},
                "hlp": {"given": {"zone=wild": 1.0, "zone=calm": 0.5}},
                "explain": {"permutation_repeats": 2, "max_rows": 500, "examples": 3},
            },
        }
    )
    summary = run_error_analysis(settings, frame, frame["t"], pred, None, None, model, tmp_path)
    doc = json.loads((tmp_path / "slices.json").read_text())
    assert doc["higher_is_better"] is False and doc["hlp_kind"] == "given"
    by = {s["name"]: s for s in doc["slices"]}
    wild = by["zone=wild"]
    assert wild["metric"] > 2.0 and wild["ci_low"] < wild["metric"] < wild["ci_high"]
    # Lower is better: impact = (model MAE - HLP MAE) x share.
    assert wild["potential_impact"] == pytest.approx((wild["metric"] - 1.0) * wild["share"])
    assert summary["top_slice"] == "zone=wild"
    explain = json.loads((tmp_path / "explain.json").read_text())
    assert "r2" in explain["surrogate"]["fidelity_measure"]
    examples = json.loads((tmp_path / "examples.json").read_text())
    assert len(examples["examples"]) == 3
    assert all(e["counterfactual"] is None for e in examples["examples"])


def test_errors_are_clear_and_leave_old_reports(fitted, tmp_path):
    test, pred, proba, model = fitted
    ok = settings_from_dict(SETTINGS)
    run_error_analysis(ok, test, test["y"], pred, proba, [0, 1], model, tmp_path)
    before = (tmp_path / "slices.json").read_bytes()
    raw = json.loads(json.dumps(SETTINGS))
    raw["evaluate"]["slices"]["predicates"] = {"broken": "size >="}
    with pytest.raises(ConfigError, match=r"evaluate\.slices\.predicates\.broken"):
        run_error_analysis(
            settings_from_dict(raw), test, test["y"], pred, proba, [0, 1], model, tmp_path
        )
    assert (tmp_path / "slices.json").read_bytes() == before

    raw = json.loads(json.dumps(SETTINGS))
    raw["evaluate"]["hlp"] = {"given": {"group=nowhere": 0.9}}
    with pytest.raises(ConfigError, match="group=nowhere"):
        analyse_slices(settings_from_dict(raw), test, test["y"], pred, proba, [0, 1])
    raw["evaluate"]["hlp"] = {"given": {"group=a": 96}}
    with pytest.raises(ConfigError) as info:
        analyse_slices(settings_from_dict(raw), test, test["y"], pred, proba, [0, 1])
    assert "between 0 and 1" in info.value.one_line()
    with pytest.raises(DataError, match="rows"):
        analyse_slices(ok, test.iloc[:10], test["y"], pred, proba, [0, 1])
    raw = json.loads(json.dumps(SETTINGS))
    raw["evaluate"]["primary_metric"] = "log_loss"
    with pytest.raises(ConfigError, match="probabilities"):
        analyse_slices(settings_from_dict(raw), test, test["y"], pred, None, [0, 1])


def test_multiclass_macro_f1_with_counterfactuals(tmp_path):
    rng = np.random.default_rng(8)
    n = 3000
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "group": rng.choice(["a", "b", "hard"], size=n),
            "size": rng.integers(1, 10, n),
        }
    )
    clean = np.select([frame["x1"] > 0.5, frame["x2"] > 0.0], ["red", "green"], "blue")
    noisy = rng.choice(["red", "green", "blue"], size=n)
    frame["y"] = np.where(frame["group"] == "hard", noisy, clean)
    for name in ANNOTATORS:
        frame[name] = np.where(rng.random(n) < 0.9, frame["y"], rng.choice(["red", "blue"], n))
    train, test = frame.iloc[:2000], frame.iloc[2000:]  # keeps the original row labels
    model = fit_classifier(train)
    classes = list(model.classes_)
    proba = model.predict_proba(test[FEATURES])
    pred = np.asarray(classes)[proba.argmax(axis=1)]
    raw = json.loads(json.dumps(SETTINGS))
    raw["data"]["task"] = "multiclass"
    raw["data"]["protected"] = ["group"]
    raw["evaluate"]["primary_metric"] = "f1"
    summary = run_error_analysis(
        settings_from_dict(raw), test, test["y"].to_numpy(), pred, proba, classes, model, tmp_path
    )
    assert summary["top_slice"] == "group=hard"
    doc = json.loads((tmp_path / "slices.json").read_text())
    from sklearn.metrics import f1_score

    assert doc["overall"]["metric"] == pytest.approx(f1_score(test["y"], pred, average="macro"))
    examples = json.loads((tmp_path / "examples.json").read_text())
    checked = 0
    for ex in examples["examples"]:
        assert ex["row"] >= 2000  # the test frame's own row labels
        assert set(ex["proba"]) == {"blue", "green", "red"}
        fix = ex["counterfactual"]
        if fix is None:
            continue
        assert fix["protected"] is (fix["feature"] == "group")
        changed = dict(ex["features"])
        changed[fix["feature"]] = fix["to"]
        assert model.predict(pd.DataFrame([changed])[FEATURES])[0] == ex["y_true"]
        checked += 1
    assert checked >= 1

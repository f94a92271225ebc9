"""Drift runs on frames: profiles round-trip, edge cases, prediction and concept drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from release.config import Settings, settings_from_dict
from release.errors import ConfigError, DataError
from release.monitor.drift import choose_method, run_drift
from release.monitor.inputs import read_table
from release.reference.profile import (
    FORMAT,
    build_profile,
    read_profile,
    reference_from_frame,
    reference_from_profile,
    write_profile,
)

SETTINGS = Settings()


def frame(n, *, seed=0, shift=0.0, scale=1.0, probs=(0.5, 0.3, 0.2)):
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000 + shift * 10_000, 10_000 * scale, n)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n).astype(float),
            "income": income,
            "lines": rng.integers(0, 3, n).astype(float),  # few distinct values
            "region": rng.choice(["north", "south", "east"], n, p=list(probs)),
            "owner": rng.choice(["rent", "own"], n),
            "default": rng.integers(0, 2, n),
            "annotator_1": rng.integers(0, 2, n),
        }
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    ref = frame(6000, seed=1)
    ref.loc[::50, "income"] = np.nan
    labels = ref["default"].to_numpy()
    proba = np.column_stack([1 - labels * 0.8 - 0.1, labels * 0.8 + 0.1])
    profile = build_profile(
        SETTINGS,
        ref,
        predictions=labels,
        proba=proba,
        classes=[0, 1],
        metric_name="accuracy",
        metric_value=0.9,
        n_test=len(ref),
    )
    path = tmp_path_factory.mktemp("ref") / "reference_profile.json"
    write_profile(path, profile)
    return reference_from_profile(read_profile(path), source=str(path))


def run(reference, current, settings=SETTINGS, **kw):
    return run_drift(reference, current, settings.monitor.drift, settings.evaluate, **kw)


def test_profile_contents(tmp_path):
    ref = frame(8000, seed=2)
    profile = build_profile(SETTINGS, ref, metric_name="accuracy", metric_value=0.8)
    assert profile["format"] == FORMAT
    assert [f["name"] for f in profile["features"]] == ["age", "income", "lines", "region", "owner"]
    assert profile["target"] == "default"
    income = profile["columns"]["income"]
    assert len(income["sample"]) == SETTINGS.evaluate.profile_sample
    assert income["sample"] == sorted(income["sample"])
    assert income["count"] == 8000 and income["null_rate"] == 0
    assert income["std"] == pytest.approx(ref["income"].std(ddof=0))
    assert income["quantiles"]["0.5"] == pytest.approx(ref["income"].median())
    assert profile["columns"]["region"]["counts"] == ref["region"].value_counts().to_dict()
    assert profile["metric"] == {
        "name": "accuracy",
        "value": 0.8,
        "n_test": 8000,
        "higher_is_better": True,
    }
    # seeded: the same profile twice (but for the timestamp)
    again = build_profile(SETTINGS, ref, metric_name="accuracy", metric_value=0.8)
    assert again["columns"] == profile["columns"]
    write_profile(tmp_path / "p.json", profile)
    assert json.loads((tmp_path / "p.json").read_text())["columns"] == profile["columns"]


def test_no_drift_batch_is_not_flagged(reference):
    report = run(reference, frame(3000, seed=5))
    assert not report.dataset_drift and report.drifted_columns == []
    assert report.extra_columns == ["annotator_1"]
    methods = {c.column: c.method for c in report.columns}
    assert methods == {
        "age": "wasserstein",
        "income": "wasserstein",
        "lines": "jensenshannon",
        "region": "jensenshannon",
        "owner": "jensenshannon",
    }
    small = run(reference, frame(500, seed=6))
    assert {c.column: c.method for c in small.columns}["income"] == "ks"
    assert {c.column: c.method for c in small.columns}["region"] == "chi2"


def test_planted_drifts_are_detected(reference):
    report = run(reference, frame(3000, seed=7, shift=0.3, probs=(0.3, 0.3, 0.4)))
    assert set(report.drifted_columns) == {"income", "region"}
    scaled = run(reference, frame(3000, seed=8, scale=1.25))
    assert scaled.drifted_columns == ["income"]
    small = run(reference, frame(800, seed=9, shift=0.3, probs=(0.3, 0.3, 0.4)))
    assert set(small.drifted_columns) == {"income", "region"}
    income = next(c for c in small.columns if c.column == "income")
    assert income.method == "ks" and income.p_value < 0.05 and income.n_current == 800
    assert income.distribution and income.distribution["kind"] == "numeric"


def test_dataset_drift_needs_the_share(reference):
    cur = frame(3000, seed=10, shift=1.0, probs=(0.2, 0.2, 0.6))
    cur["owner"] = "own"
    report = run(reference, cur)
    assert report.drift_share == pytest.approx(3 / 5)
    assert report.dataset_drift and report.drift_detected
    strict = settings_from_dict({"monitor": {"drift": {"drift_share": 0.8}}})
    assert not run(reference, cur, strict).dataset_drift


def test_schema_change_missing_column_and_type_change(reference):
    cur = frame(2000, seed=11).drop(columns=["region"])
    cur["age"] = cur["age"].astype(object)
    cur.loc[:4, "age"] = "unknown"
    report = run(reference, cur)
    by = {c.column: c for c in report.columns}
    assert by["region"].status == "missing" and by["region"].drifted
    assert by["age"].status == "type_changed" and "not numbers" in by["age"].note
    assert "'unknown'" in by["age"].note


def test_new_category_is_named(reference):
    cur = frame(3000, seed=12)
    cur.loc[:1000, "region"] = "mars"
    col = next(c for c in run(reference, cur).columns if c.column == "region")
    assert col.new_categories == ["mars"] and "mars" in col.note and col.drifted


def test_all_null_column(reference):
    cur = frame(2000, seed=13)
    cur["income"] = np.nan
    cur["owner"] = None
    by = {c.column: c for c in run(reference, cur).columns}
    assert by["income"].status == "all_null" and by["income"].drifted
    assert by["owner"].status == "all_null" and by["owner"].null_rate_current == 1.0


def test_empty_batch_is_a_clear_error(reference, tmp_path):
    with pytest.raises(DataError, match="no rows"):
        run(reference, frame(10).iloc[:0])
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert len(read_table(path)) == 0


@pytest.mark.parametrize("name,content", [("batch.txt", "a,b"), ("batch.json", "{}"), ("b", "x")])
def test_wrong_file_type_is_a_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match="unsupported file type"):
        read_table(path)


def test_corrupt_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_text("not parquet at all")
    with pytest.raises(DataError, match="cannot read"):
        read_table(path)


def test_categories_read_from_csv_as_numbers_match(tmp_path):
    ref = pd.DataFrame({"code": ["1", "2", "3"] * 500, "x": np.arange(1500.0)})
    reference = reference_from_frame(ref, ["code", "x"])
    path = tmp_path / "cur.csv"
    ref.to_csv(path, index=False)
    cur = read_table(path)
    assert cur["code"].dtype.kind == "i"  # pandas reads the codes as ints
    col = run(reference, cur).columns[0]
    assert col.new_categories == [] and not col.drifted


def test_method_overrides_and_bad_override(reference):
    psi = settings_from_dict({"monitor": {"drift": {"methods": {"income": "psi"}}}})
    col = next(c for c in run(reference, frame(3000, seed=14), psi).columns if c.column == "income")
    assert col.method == "psi" and col.threshold == psi.monitor.drift.psi_threshold
    bad = settings_from_dict({"monitor": {"drift": {"methods": {"region": "ks"}}}})
    with pytest.raises(ConfigError, match="does not fit a categorical column"):
        run(reference, frame(3000, seed=14), bad)
    assert choose_method("x", "numeric", 5000, 1000, SETTINGS.monitor.drift) == "ks"


def test_prediction_drift(reference):
    cur = frame(3000, seed=15)
    same = cur["default"].to_numpy()
    proba = np.column_stack([1 - same * 0.8 - 0.1, same * 0.8 + 0.1])
    report = run(reference, cur, labels=same, proba=proba, classes=[0, 1])
    assert [p.column for p in report.predictions] == ["prediction", "proba_1"]
    assert not report.prediction_drift
    skew = np.where(np.random.default_rng(1).random(3000) < 0.85, 1, 0)
    proba2 = np.column_stack([1 - skew * 0.8 - 0.1, skew * 0.8 + 0.1])
    drifted = run(reference, cur, labels=skew, proba=proba2, classes=[0, 1])
    assert drifted.prediction_drift and drifted.drift_detected


def test_concept_drift_with_ci(reference):
    cur = frame(2000, seed=16)
    y = cur["default"].to_numpy()
    rng = np.random.default_rng(2)
    good = np.where(rng.random(2000) < 0.9, y, 1 - y)  # ~0.90 accuracy: as the reference
    bad = np.where(rng.random(2000) < 0.7, y, 1 - y)  # ~0.70: a real drop
    ok = run(reference, cur, labels=good).concept
    assert ok is not None and not ok.drifted and ok.ci_low < 0.9 < ok.ci_high
    worse = run(reference, cur, labels=bad).concept
    assert worse is not None and worse.drifted
    assert worse.current == pytest.approx(np.mean(bad == y))
    assert worse.ci_high < 0.9 and worse.drop > 0.15
    # a tiny labelled batch: the drop is large but the CI is wide, so not confirmed
    few = frame(12, seed=17)
    yf = few["default"].to_numpy()
    tiny = run(reference, few, labels=np.where(np.arange(12) < 10, yf, 1 - yf)).concept
    assert tiny is not None and not tiny.drifted and tiny.ci_low < 0.9


def test_concept_drift_not_measured_without_target(reference):
    cur = frame(1000, seed=18).drop(columns=["default"])
    report = run(reference, cur, labels=np.zeros(1000, dtype=int))
    assert report.concept is None
    assert any("no target" in n for n in report.notes)


def test_flat_metrics_are_flat_numbers(reference):
    flat = run(reference, frame(3000, seed=19, shift=0.5)).flat_metrics()
    assert flat["column.income.drifted"] == 1 and flat["dataset_drift"] == 0
    assert all(isinstance(v, int | float) or v is None for v in flat.values())


def test_reference_from_data_uses_every_value():
    ref = frame(20_000, seed=20)
    reference = reference_from_frame(ref, ["income", "region"], target="default")
    assert reference.columns["income"].values.size == 20_000
    assert reference.target == "default"
    with pytest.raises(DataError, match="lacks feature columns: nope"):
        reference_from_frame(ref, ["nope"])


def test_parquet_batches_read_column_by_column_keep_dtypes(tmp_path):
    df = frame(50, seed=30).set_index(pd.Index(range(100, 150)))
    df["income"] = df["income"].astype("float32")
    path = tmp_path / "b.parquet"
    df.to_parquet(path)
    back = read_table(path)
    assert list(back.columns) == list(df.columns)  # the saved index is not a column
    assert back["income"].dtype == "float32" and back["region"].tolist() == df["region"].tolist()
    empty = tmp_path / "e.parquet"
    df.iloc[:0].to_parquet(empty)
    assert len(read_table(empty)) == 0


def test_regression_prediction_and_concept_drift(tmp_path):
    settings = settings_from_dict(
        {
            "data": {"task": "regression", "target": "y"},
            "train": {"estimator": "ridge"},
            "evaluate": {"primary_metric": "mae"},
        }
    )
    rng = np.random.default_rng(40)
    x = rng.normal(size=4000)
    ref = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(0, 0.5, 4000)})
    profile = build_profile(
        settings, ref, predictions=2 * x, metric_name="mae", metric_value=0.4, n_test=4000
    )
    assert (
        profile["predictions"]["kind"] == "numeric"
        and profile["metric"]["higher_is_better"] is False
    )
    write_profile(tmp_path / "p.json", profile)
    reference = reference_from_profile(read_profile(tmp_path / "p.json"))
    xc = rng.normal(size=3000)
    good = pd.DataFrame({"x": xc, "y": 2 * xc + rng.normal(0, 0.5, 3000)})
    ok = run(reference, good, settings, labels=2 * xc)
    assert not ok.drift_detected and ok.concept is not None and not ok.concept.drifted
    assert ok.concept.current == pytest.approx(0.4, abs=0.03)
    bad = pd.DataFrame({"x": xc, "y": 3 * xc + rng.normal(0, 0.5, 3000)})  # the relation changed
    worse = run(reference, bad, settings, labels=2 * xc)
    assert worse.concept is not None and worse.concept.drifted and worse.concept.ci_low > 0.45
    assert worse.dataset_drift is False  # same inputs: concept drift only

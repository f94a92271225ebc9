"""Monitoring with a real model: skops file, model.json, the builtin loan data, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from release.config import settings_from_dict
from release.fsio import write_json
from release.reference.profile import build_profile, write_profile

RELEASE = str(Path(sys.executable).with_name("release"))
pytestmark = pytest.mark.slow  # trains a model and runs the CLI several times

PARAMS = "train:\n  estimator: logistic_regression\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A trained model and its reference profile, as `release evaluate` leaves them."""
    from release.data import builtin
    from release.model.metrics import compute_metrics
    from release.model.persist import load_model, save_model
    from release.model.pipeline import build_pipeline
    from release.model.predict import normalize_frame, predict

    root = tmp_path_factory.mktemp("project")
    (root / "params.yaml").write_text(PARAMS)
    settings = settings_from_dict({"train": {"estimator": "logistic_regression"}})
    train = builtin.generate_batch(rows=4000, seed=10, drift=0.0)
    test = builtin.generate_batch(rows=3000, seed=11, drift=0.0)
    target = settings.data.target
    numeric = [c for c in train.columns if c != target and train[c].dtype.kind in "if"]
    categorical = [c for c in train.columns if c != target and c not in numeric]
    pipeline = build_pipeline(settings, numeric, categorical)
    pipeline.fit(normalize_frame(train, numeric, categorical), train[target].to_numpy())
    sha = save_model(pipeline, root / "models" / "model.skops")
    classes = [int(c) for c in pipeline.classes_]
    features = [{"name": c, "kind": "numeric", "dtype": "float64"} for c in numeric] + [
        {"name": c, "kind": "categorical", "dtype": "string", "categories": []} for c in categorical
    ]
    meta = {
        "name": "model",
        "task": "binary",
        "target": target,
        "features": features,
        "classes": classes,
        "sha256": sha,
    }
    write_json(root / "models" / "model.json", meta)
    model = load_model(root / "models" / "model.skops", expected_sha256=sha)
    labels, proba = predict(model, meta, test)
    metrics = compute_metrics("binary", test[target].to_numpy(), labels, proba, classes)
    profile = build_profile(
        settings,
        test,
        predictions=labels,
        proba=proba,
        classes=classes,
        metric_name="accuracy",
        metric_value=metrics["accuracy"],
        n_test=len(test),
    )
    write_profile(root / "models" / "reference_profile.json", profile)
    test.to_parquet(root / "reference.parquet")
    for drift in (0.0, 1.5):
        batch = builtin.generate_batch(rows=2000, seed=12, drift=drift)
        batch.to_parquet(root / f"batch{drift}.parquet")
    return root


def drift(root, *args):
    return subprocess.run(
        [RELEASE, "monitor", "drift", "--json", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_builtin_batch_without_drift_is_not_flagged(project):
    res = drift(project, "--current", "batch0.0.parquet")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["drifted_columns"] == [] and not report["prediction_drift"]
    assert [p["column"] for p in report["predictions"]] == ["prediction", "proba_1"]
    concept = report["concept"]
    assert concept["metric"] == "accuracy" and concept["rows"] == 2000 and not concept["drifted"]
    assert concept["ci_low"] <= concept["reference"] + 0.03


def test_drifted_builtin_batch_is_flagged_everywhere(project):
    res = drift(project, "--current", "batch1.5.parquet", "--out", "out")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert report["dataset_drift"] and report["prediction_drift"]
    assert "income" in report["drifted_columns"]
    flat = json.loads((project / "out" / "drift.json").read_text())
    assert flat["prediction_drift"] == 1 and "concept.metric_current" in flat


def test_batch_missing_model_features_is_a_broken_feed(project):
    import pandas as pd

    batch = pd.read_parquet(project / "batch0.0.parquet").drop(columns=["income", "region"])
    batch["surprise"] = 1.0
    batch.to_csv(project / "no_income.csv", index=False)
    res = drift(project, "--current", "no_income.csv")
    # Two missing columns of twelve are no dataset drift, but the model cannot score them.
    assert res.returncode == 1
    assert "the feed is broken" in res.stderr and "income, region" in res.stderr
    report = json.loads(res.stdout)
    assert not report["dataset_drift"] and report["missing_features"] == ["income", "region"]
    income = next(c for c in report["columns"] if c["column"] == "income")
    assert income["status"] == "missing" and income["drifted"]
    kinds = {(f["column"], f["kind"]) for f in report["schema"]}
    assert ("region", "missing_feature") in kinds and ("surprise", "unexpected_column") in kinds
    assert report["model"]["version"] is None


def test_the_workspace_model_is_named_in_the_first_line(project):
    res = subprocess.run(
        [RELEASE, "monitor", "drift", "--current", "batch0.0.parquet"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 0, res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("model: the workspace model is used (workspace models/model.skops")


def test_a_small_production_batch_passes_its_own_rules(project):
    import pandas as pd

    pd.read_parquet(project / "batch0.0.parquet").head(95).to_parquet(project / "small.parquet")
    (project / "strict.yaml").write_text(PARAMS + "validate:\n  min_rows: 200\n")
    res = subprocess.run(
        [RELEASE, "monitor", "quality", "--current", "small.parquet", "--params", "strict.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr  # min_rows 200 is a training rule
    (project / "prod.yaml").write_text(
        PARAMS + "validate:\n  min_rows: 200\nmonitor:\n  quality:\n    min_rows: 100\n"
    )
    res = subprocess.run(
        [RELEASE, "monitor", "quality", "--current", "small.parquet", "--params", "prod.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1 and "95 rows (minimum 100)" in res.stdout


def test_quality_uses_the_training_rules(project):
    import pandas as pd

    ok = subprocess.run(
        [RELEASE, "monitor", "quality", "--current", "batch0.0.parquet"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads((project / "reports" / "quality.json").read_text())["passed"] is True
    bad = pd.read_parquet(project / "batch0.0.parquet")
    bad["income"] = np.nan
    bad.to_parquet(project / "bad.parquet")
    res = subprocess.run(
        [RELEASE, "monitor", "quality", "--current", "bad.parquet", "--out", "q"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "FAIL" in res.stdout and "income" in res.stdout
    assert "data quality rule(s) failed" in res.stderr
    report = json.loads((project / "q" / "quality.json").read_text())
    assert report["passed"] is False
    wrong = subprocess.run(
        [RELEASE, "monitor", "quality", "--current", "bad.xlsx"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 2 and "unsupported file type" in wrong.stderr


def test_reference_data_gets_the_model_outputs(project):
    res = drift(project, "--current", "batch1.5.parquet", "--reference", "reference.parquet")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert [p["column"] for p in report["predictions"]] == ["prediction", "proba_1"]
    assert report["prediction_drift"] and report["concept"]["drifted"]
    profile = json.loads((project / "models" / "reference_profile.json").read_text())
    assert report["concept"]["reference"] == pytest.approx(profile["metric"]["value"])
    same = drift(project, "--current", "batch0.0.parquet", "--reference", "reference.parquet")
    assert same.returncode == 0, same.stderr
    assert not json.loads(same.stdout)["prediction_drift"]

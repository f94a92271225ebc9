"""The pipeline for real: `dvc repro` in a temporary git repository, and its sources."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.support import SMALL, Exact, edit_params, run

pytestmark = pytest.mark.slow

FOREIGN = {  # params for a dataset that is not the builtin loan data
    "data": {"annotators": [], "slice_columns": [], "protected": [], "rows": 1000},
    "validate": {
        "dtypes": Exact(),
        "ranges": Exact(),
        "categories": Exact(),
        "min_rows": 50,
        "min_slice_rows": 1,
    },
    "evaluate": {
        "bootstrap": 100,
        "slices": Exact(columns=[], bins={}, predicates={}, intersections=[]),
        "hlp": {"source": "none"},
    },
    "release": {"policy": Exact()},
}


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


def test_repro_outputs_noop_and_param_change(make_project) -> None:
    project = make_project(SMALL)
    first = run(["dvc", "repro"], project)
    assert {"prepare", "validate", "train", "evaluate"} <= stages_run(first.stdout)

    provenance = json.loads((project / "data/provenance.json").read_text())
    assert provenance["source"]["kind"] == "builtin"
    assert provenance["splits"]["train"]["rows"] + provenance["splits"]["test"]["rows"] == 3000
    assert len(provenance["splits"]["test"]["sha256"]) == 64
    quality = json.loads((project / "reports/data_quality.json").read_text())
    assert quality["passed"] and quality["rules_checked"] > 20
    meta = json.loads((project / "models/model.json").read_text())
    assert meta["classes"] == [0, 1] and meta["format"] == "skops"
    # the default pipeline carries its numpy serving form, checked on the training rows
    assert meta["serving_form"]["format"] == "release-numpy/1"
    assert meta["serving_form"]["rows"] > 2000
    assert {f["name"] for f in meta["features"]} >= {"age", "employment_type"}
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert {"accuracy", "balanced_accuracy", "f1", "roc_auc", "log_loss"} <= set(metrics)
    assert metrics["accuracy"] > 0.75
    for plot in ("confusion.csv", "roc.csv", "precision_recall.csv"):
        assert (project / "reports/plots" / plot).stat().st_size > 0
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    assert "reports/metrics.json" in json.dumps(shown)

    second = run(["dvc", "repro"], project)
    assert stages_run(second.stdout) == set()
    assert run(["dvc", "status"], project).stdout.strip().startswith("Data and pipelines are up")

    edit_params(project, {"train": {"params": {"max_iter": 50}}})
    third = run(["dvc", "repro"], project)
    # Only what depends on the model reruns: train, evaluate, and the card that states them.
    assert stages_run(third.stdout) == {"train", "evaluate", "card"}


def test_same_seed_same_bytes(make_project) -> None:
    project = make_project(SMALL)
    run(["release", "data", "prepare"], project)
    first = json.loads((project / "data/provenance.json").read_text())["splits"]
    run(["release", "data", "prepare"], project)
    second = json.loads((project / "data/provenance.json").read_text())["splits"]
    assert first == second


def _run_all(project: Path) -> dict:
    for cmd in (["data", "prepare"], ["data", "validate"], ["train"], ["evaluate"]):
        run(["release", *cmd], project)
    return json.loads((project / "reports/metrics.json").read_text())


def test_wine_multiclass_from_csv(make_project) -> None:
    from sklearn.datasets import load_wine

    project = make_project(
        {
            **FOREIGN,
            "data": {
                **FOREIGN["data"],
                "source": "csv",
                "path": "data/raw/wine.csv",
                "target": "class",
                "task": "multiclass",
            },
            "train": {"estimator": "logistic_regression", "params": Exact()},
        }
    )
    frame = load_wine(as_frame=True).frame.rename(columns={"target": "class"})
    frame.to_csv(project / "data/raw/wine.csv", index=False)
    metrics = _run_all(project)
    assert metrics["accuracy"] > 0.85 and "roc_auc" in metrics
    meta = json.loads((project / "models/model.json").read_text())
    assert meta["classes"] == [0, 1, 2]


def test_diabetes_regression_from_parquet(make_project) -> None:
    from sklearn.datasets import load_diabetes

    project = make_project(
        {
            **FOREIGN,
            "data": {
                **FOREIGN["data"],
                "source": "parquet",
                "path": "data/raw/diabetes.parquet",
                "target": "progression",
                "task": "regression",
            },
            "evaluate": {**FOREIGN["evaluate"], "primary_metric": "mae"},
            "train": {"estimator": "ridge", "params": Exact(alpha=1.0)},
        }
    )
    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    frame.to_parquet(project / "data/raw/diabetes.parquet", index=False)
    metrics = _run_all(project)
    assert set(metrics) >= {"mae", "rmse", "r2"} and metrics["r2"] > 0.3
    assert (project / "reports/plots/predicted_vs_actual.csv").exists()


@pytest.mark.parametrize(
    ("setup", "params", "command", "message"),
    [
        (
            None,
            {"data": {"source": "csv", "path": "data/raw/absent.csv"}},
            ["data", "prepare"],
            "data file data/raw/absent.csv not found",
        ),
        (
            "",
            {"data": {"source": "csv", "path": "data/raw/x.csv"}},
            ["data", "prepare"],
            "data/raw/x.csv is empty",
        ),
        (
            "a,b\n1,2\n3,4\n",
            {"data": {"source": "csv", "path": "data/raw/x.csv"}},
            ["data", "prepare"],
            "target column 'default' is absent",
        ),
        (
            "a,default\n1,0\nabc,1\n2,1\n3,0\n",
            {
                "data": {"source": "csv", "path": "data/raw/x.csv"},
                "validate": {"dtypes": Exact(a="numeric")},
            },
            ["data", "prepare"],
            "column 'a' is numeric but row 1 holds 'abc'",
        ),
        (
            "not parquet",
            {"data": {"source": "parquet", "path": "data/raw/x.csv"}},
            ["data", "prepare"],
            "is not a readable Parquet file",
        ),
        (
            None,
            {"train": {"estimator": "xgboost"}},
            ["train"],
            "train.estimator = 'xgboost' is invalid",
        ),
        (None, {"train": {"params": {"max_itr": 3}}}, ["data", "prepare"], None),
    ],
)
def test_bad_inputs_give_one_line_and_leave_nothing(
    make_project, setup, params, command, message
) -> None:
    merged = {**FOREIGN, **params, "data": {**FOREIGN["data"], **params.get("data", {})}}
    if "validate" in params:
        merged["validate"] = {**FOREIGN["validate"], **params["validate"]}
    project = make_project(merged)
    if setup is not None:
        (project / "data/raw/x.csv").write_text(setup)
    proc = run(["release", *command], project, check=False)
    prepared_ok = message is None
    if prepared_ok:  # a valid command: the typo'd hyperparameter fails at train
        proc = run(["release", "train"], project, check=False)
        message = "train.params.max_itr is not a parameter of HistGradientBoostingClassifier"
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (project / "models/model.skops").exists()
    if command == ["data", "prepare"] and not prepared_ok:
        assert not (project / "data/prepared").exists()
        assert not (project / "data/provenance.json").exists()


def test_bad_data_stops_the_pipeline(make_project) -> None:
    project = make_project({**SMALL, "validate": {"ranges": {"credit_score": [500, 850]}}})
    proc = run(["dvc", "repro"], project, check=False)
    assert proc.returncode != 0
    assert "range[credit_score]" in proc.stdout + proc.stderr
    assert not (project / "models/model.skops").exists()
    report = json.loads((project / "reports/data_quality.json").read_text())
    assert not report["passed"]


def test_validate_a_production_batch(make_project) -> None:
    project = make_project(SMALL)
    run(["release", "data", "generate-batch", "--rows", "800", "--out", "batch.csv"], project)
    ok = run(["release", "data", "validate", "--data", "batch.csv"], project)
    assert "0 failed" in ok.stdout
    frame = pd.read_csv(project / "batch.csv")
    frame.loc[0, "region"] = "<script>"
    frame.to_csv(project / "bad.csv", index=False)
    bad = run(["release", "data", "validate", "--data", "bad.csv", "--json"], project, check=False)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["passed"] is False


def test_protected_attributes_are_not_inputs_unless_asked() -> None:
    import pandas as pd

    from release.config import settings_from_dict
    from release.data.schema import resolve_columns

    frame = pd.DataFrame({"age": [1.0, 2.0], "sex": ["a", "b"], "default": [0, 1]})
    plain = settings_from_dict({"data": {"protected": ["sex"]}})
    assert resolve_columns(plain, frame).features == ["age"]
    used = settings_from_dict({"data": {"protected": ["sex"]}, "train": {"use_protected": True}})
    assert resolve_columns(used, frame).features == ["age", "sex"]

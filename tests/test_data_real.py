"""The data layer on data nobody tuned: sklearn's datasets as CSV, and a messy CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release.model.persist import load_model, read_metadata
from release.model.predict import frame_from_records, predict
from tests.data_support import bare_project, release

STAGES = (("data", "prepare"), ("data", "validate"), ("train",))


def run_stages(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for stage in STAGES:
        result = release(project, capsys, *stage)
        assert result.code == 0, (stage, result.err)


def test_wine_and_breast_cancer_from_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_breast_cancer, load_wine

    for loader, task in ((load_wine, "multiclass"), (load_breast_cancer, "binary")):
        project = bare_project(tmp_path / task, {"data": {"task": task}})
        data = loader(as_frame=True).frame.rename(columns={"target": "y"})
        data.to_csv(project / "data/raw/data.csv", index=False)
        run_stages(project, capsys)
        quality = json.loads((project / "reports/data_quality.json").read_text())
        assert quality["passed"]
        rules = {(r["name"], r["column"]) for r in quality["rules"]}
        assert ("finite", None) in rules and ("duplicates", None) in rules
        meta = read_metadata(project / "models/model.json")
        assert len(meta["features"]) == data.shape[1] - 1


DIABETES = {
    "data": {"task": "regression"},
    "validate": {"dtypes": {"sex": "categorical"}, "categories": {"sex": ["1", "2"]}},
    "train": {"estimator": "ridge"},
    "evaluate": {"primary_metric": "mae"},
}


def diabetes_project(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, pd.DataFrame]:
    """sklearn's diabetes data (unscaled: sex is 1.0/2.0) as CSV, prepared and trained."""
    from sklearn.datasets import load_diabetes

    project = bare_project(root, DIABETES)
    data = load_diabetes(as_frame=True, scaled=False).frame.rename(columns={"target": "y"})
    assert data["sex"].dtype == "float64"  # 1.0 / 2.0: a code read as a measurement
    data.to_csv(project / "data/raw/data.csv", index=False)
    run_stages(project, capsys)
    return project, data


def test_diabetes_sex_codes_are_one_category_in_prepare_train_and_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, data = diabetes_project(tmp_path, capsys)

    train = pd.read_parquet(project / "data/prepared/train.parquet")
    assert sorted(set(train["sex"])) == ["1", "2"]
    meta = read_metadata(project / "models/model.json")
    sex = next(f for f in meta["features"] if f["name"] == "sex")
    assert sex["kind"] == "categorical" and sex["categories"] == ["1", "2"]

    model = load_model(project / "models/model.skops", expected_sha256=meta["sha256"])
    row = data.drop(columns=["y"]).iloc[[0]]
    names = [f["name"] for f in meta["features"]]
    served = []
    for code in (2, 2.0, "2"):  # a JSON client may send any of these
        columns = {n: [code if n == "sex" else float(row[n].iloc[0])] for n in names}
        frame = frame_from_records(meta, columns)
        assert frame["sex"].tolist() == ["2"]
        served.append(model.predict(frame)[0])
    batch, _ = predict(model, meta, row)  # a raw CSV batch (sex as 2.0) through predict
    assert served[0] == served[1] == served[2] == pytest.approx(batch[0])
    # The category changes the prediction: it is used, not dropped as unknown.
    other = {n: [1 if n == "sex" else float(row[n].iloc[0])] for n in names}
    assert model.predict(frame_from_records(meta, other))[0] != pytest.approx(served[0])


@pytest.mark.slow
def test_a_served_diabetes_model_reads_sex_codes_as_training_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    from tests.serve_support import ServeProcess, free_port

    project, data = diabetes_project(tmp_path, capsys)
    meta = read_metadata(project / "models/model.json")
    model = load_model(project / "models/model.skops", expected_sha256=meta["sha256"])
    rows = data.drop(columns=["y"]).iloc[:4]
    expected, _ = predict(model, meta, rows)  # the raw CSV rows, sex as 1.0 / 2.0
    port = free_port()
    server = ServeProcess(["--model", str(project / "models"), "--port", str(port)], project)
    try:
        assert server.url, (server.lines, server.stderr())
        for codes in (
            rows["sex"].tolist(),
            [int(v) for v in rows["sex"]],
            [str(int(v)) for v in rows["sex"]],
        ):
            inputs = [
                {
                    "name": f["name"],
                    "datatype": "FP64",
                    "shape": [4],
                    "data": rows[f["name"]].tolist(),
                }
                if f["kind"] == "numeric"
                else {"name": "sex", "datatype": "BYTES", "shape": [4], "data": codes}
                for f in meta["features"]
            ]
            with httpx.Client(base_url=server.url, timeout=10) as client:
                reply = client.post(f"/v2/models/{meta['name']}/infer", json={"inputs": inputs})
            assert reply.status_code == 200, reply.text
            assert reply.json()["outputs"][0]["data"] == pytest.approx(list(expected))
    finally:
        server.stop()


def test_scaled_diabetes_sex_declared_categorical_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_diabetes

    project = bare_project(tmp_path, DIABETES)
    data = load_diabetes(as_frame=True).frame.rename(columns={"target": "y"})  # sex +-0.0507
    data.to_csv(project / "data/raw/data.csv", index=False)
    result = release(project, capsys, "data", "prepare")
    result.assert_one_error(2, "column 'sex' is declared categorical", "declare the column numeric")
    assert not (project / "data/prepared").exists()


def messy(rows: int = 400, seed: int = 7) -> str:
    """A CSV as real exports look: '?' and '-' markers, hyphenated names, a numeric-coded
    category, exact duplicate rows and one +inf."""
    rng = np.random.default_rng(seed)
    hours = rng.integers(10, 70, rows)
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows).astype(object),
            "hours-per-week": hours,
            "capital-gain": rng.exponential(1000, rows).round(0),
            "workclass": rng.choice(["Private", "State-gov", "Self-emp"], rows).astype(object),
            "sex": rng.choice([1, 2], rows),
            "y": (hours + rng.normal(0, 10, rows) > 40).astype(int),
        }
    )
    frame.loc[rng.choice(rows, 20, replace=False), "age"] = "?"
    frame.loc[rng.choice(rows, 15, replace=False), "workclass"] = "?"
    frame.loc[rng.choice(rows, 5, replace=False), "workclass"] = "-"
    frame.loc[200, "capital-gain"] = np.inf  # written as "inf", read back as +inf
    frame = pd.concat([frame, frame.iloc[:12]], ignore_index=True)  # 12 exact duplicates
    return frame.to_csv(index=False)


MESSY = {
    "data": {"na_values": ["?", "-"], "slice_columns": ["sex"], "protected": ["sex"]},
    "validate": {
        "dtypes": {"sex": "categorical", "age": "numeric"},
        "categories": {"sex": ["1", "2"]},
        "max_duplicate_rate": 0.0,
        "max_null_rate": 0.2,
    },
    "train": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 20}},
    "evaluate": {
        "slices": {
            "columns": ["workclass"],
            "predicates": {"long_hours": "`hours-per-week` > 40", "ancient": "age > 500"},
        }
    },
}


def test_messy_csv_findings_then_a_clean_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bare_project(tmp_path, MESSY)
    (project / "data/raw/data.csv").write_text(messy())

    assert release(project, capsys, "data", "prepare").code == 0
    provenance = json.loads((project / "data/provenance.json").read_text())
    assert provenance["source"]["duplicates"] == {"rows": 12, "groups": 12, "dropped": 0}
    train = pd.read_parquet(project / "data/prepared/train.parquet")
    assert train["age"].dtype == "float64"  # '?' read as missing, not as text
    assert "?" not in set(train["workclass"].dropna()) and "-" not in set(train["workclass"])
    assert sorted(set(train["sex"])) == ["1", "2"]

    result = release(project, capsys, "data", "validate")
    line = result.assert_one_error(1, "data validation failed")
    assert "finite[capital-gain]" in line and "duplicates" in line and "leakage" not in line
    quality = json.loads((project / "reports/data_quality.json").read_text())
    finite = next(r for r in quality["rules"] if r["name"] == "finite")
    assert finite["column"] == "capital-gain" and finite["observed"] == 1
    assert finite["message"] == "1 non-finite values (+inf)"
    assert finite["examples"][0]["value"] == "+inf" and finite["examples"][0]["split"]
    nulls = {r["column"]: r["observed"] for r in quality["rules"] if r["name"] == "null_rate"}
    assert nulls["age"] > 0.04 and nulls["workclass"] > 0.04

    # Validation skipped (or ignored): training refuses in one line, writes no model.
    result = release(project, capsys, "train")
    result.assert_one_error(2, "non-finite", "'capital-gain' (1)")
    assert not (project / "models").exists()

    # Fixed: the inf replaced by a missing value, duplicates dropped at prepare.
    (project / "data/raw/data.csv").write_text(messy().replace(",inf,", ",,"))
    bare_project(tmp_path, {**MESSY, "data": {**MESSY["data"], "deduplicate": True}})
    for stage in (*STAGES, ("evaluate",)):
        result = release(project, capsys, *stage)
        assert result.code == 0, (stage, result.err)
    provenance = json.loads((project / "data/provenance.json").read_text())
    assert provenance["source"]["duplicates"]["dropped"] == 12
    splits = provenance["splits"]
    assert splits["train"]["rows"] + splits["test"]["rows"] == 400
    slices = json.loads((project / "reports/slices.json").read_text())
    names = {s["name"] for s in slices["slices"]}
    assert {"long_hours", "sex=1", "sex=2", "workclass=<missing>"} <= names
    assert any("ancient" in w for w in slices["warnings"])

"""The numpy serving form answers as the scikit-learn pipeline, and serves without it."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

from release.config import Settings
from release.errors import ModelError
from release.model import export, portable
from release.model.persist import load_model, save_model
from release.model.pipeline import build_pipeline, estimator_class
from release.model.predict import arrays_from_records, frame_from_records

CLASSIFIERS = ["hist_gradient_boosting", "logistic_regression", "random_forest"]
REGRESSORS = ["hist_gradient_boosting", "random_forest", "ridge", "linear_regression"]
CASES = [(t, n) for t in ("binary", "multiclass") for n in CLASSIFIERS] + [
    ("regression", n) for n in REGRESSORS
]


def _dataset(task: str) -> tuple[pd.DataFrame, Any, list[str], list[str]]:
    """A scikit-learn dataset with odd names, missing values and a categorical column."""
    loader = {
        "binary": datasets.load_breast_cancer,
        "multiclass": datasets.load_wine,
        "regression": datasets.load_diabetes,
    }[task]
    bunch = loader(as_frame=True)
    frame = bunch.data.copy()
    frame.columns = [f"{c} (raw)" for c in frame.columns]  # spaces and brackets
    numeric = list(frame.columns)
    rng = np.random.default_rng(0)
    frame.loc[rng.random(len(frame)) < 0.1, numeric[0]] = np.nan
    frame["band"] = np.where(frame[numeric[1]] > frame[numeric[1]].median(), "high", "low")
    frame.loc[rng.random(len(frame)) < 0.1, "band"] = np.nan
    return frame, bunch.target.to_numpy(), numeric, ["band"]


def _pipeline(task: str, name: str, scale: bool = True) -> tuple[Any, pd.DataFrame]:
    frame, y, numeric, categorical = _dataset(task)
    base = Settings()
    settings = dataclasses.replace(base, train=dataclasses.replace(base.train, scale_numeric=scale))
    pipeline = build_pipeline(settings, numeric, categorical)
    params = {
        "random_forest": {"n_estimators": 15, "random_state": 0},
        "hist_gradient_boosting": {"max_iter": 40, "random_state": 0},
        "logistic_regression": {"max_iter": 2000},
    }.get(name, {})
    pipeline.set_params(model=estimator_class(name, task)(**params))
    pipeline.fit(frame, y)
    return pipeline, frame


def _requests(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as requests bring them: missing values and unseen categories everywhere."""
    odd = frame.copy()
    odd.iloc[::7, 0] = np.nan
    odd.iloc[::5, 2] = np.nan
    odd.loc[odd.index[::3], "band"] = "never seen"
    odd.loc[odd.index[::11], "band"] = np.nan
    return odd


@pytest.mark.parametrize(("task", "name"), CASES)
def test_the_form_answers_as_the_pipeline(task: str, name: str) -> None:
    pipeline, frame = _pipeline(task, name)
    form = export.export(pipeline)
    assert form is not None, f"{name} on {task} should export"
    rows = _requests(frame)
    columns = {c: rows[c].to_numpy() for c in rows.columns}
    if task == "regression":
        np.testing.assert_allclose(form.predict(columns), pipeline.predict(rows), rtol=0, atol=1e-9)
        return
    np.testing.assert_allclose(
        form.predict_proba(columns), pipeline.predict_proba(rows), rtol=0, atol=1e-12
    )
    assert np.array_equal(form.predict(columns), pipeline.predict(rows))


def test_trees_are_bit_for_bit() -> None:
    """Same comparisons, same additions in the same order: the same floats.

    (Only the final logistic or softmax may differ in the last bit: numpy's exp is not
    scipy's expit.)
    """
    for task, name in (("binary", "hist_gradient_boosting"), ("multiclass", "random_forest")):
        pipeline, frame = _pipeline(task, name, scale=False)
        form = export.export(pipeline)
        assert form is not None
        rows = _requests(frame)
        columns = {c: rows[c].to_numpy() for c in rows.columns}
        if name == "random_forest":
            assert np.array_equal(form.predict_proba(columns), pipeline.predict_proba(rows))
        else:
            raw = form.estimator.raw(portable.transform(form.blocks, columns))
            assert np.array_equal(raw.reshape(-1), pipeline.decision_function(rows))


def test_save_writes_the_form_and_the_same_bytes_twice(tmp_path: Path) -> None:
    pipeline, frame = _pipeline("multiclass", "hist_gradient_boosting")
    first = save_model(pipeline, tmp_path / "a.skops", check_frame=frame)
    second = save_model(pipeline, tmp_path / "b.skops", check_frame=frame)
    assert first == second
    data = (tmp_path / "a.skops").read_bytes()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert portable.HEADER in names and portable.ARRAYS in names
    form = portable.read_form(data, "a.skops")
    assert form is not None
    assert form.checked["rows"] > len(frame)  # the training rows and the edge rows
    assert form.checked["tolerance"] == export.TOLERANCE
    # skops still loads the archive as the same pipeline
    loaded = load_model(tmp_path / "a.skops", expected_sha256=first)
    assert np.array_equal(loaded.predict_proba(frame), pipeline.predict_proba(frame))
    # without rows to check it on, no form is written
    save_model(pipeline, tmp_path / "plain.skops")
    assert portable.read_form((tmp_path / "plain.skops").read_bytes(), "plain.skops") is None


def test_an_estimator_without_a_form_is_saved_without_one(tmp_path: Path) -> None:
    frame, y, numeric, categorical = _dataset("binary")
    pipeline = build_pipeline(Settings(), numeric, categorical)
    gradient = estimator_class("gradient_boosting", "binary")
    pipeline.set_params(model=gradient(n_estimators=5))
    pipeline.fit(frame, y)
    assert export.export(pipeline) is None
    save_model(pipeline, tmp_path / "m.skops", check_frame=frame)
    assert portable.read_form((tmp_path / "m.skops").read_bytes(), "m.skops") is None


def _damaged(data: bytes, change: Any) -> bytes:
    """The archive with its serving header changed by ``change(header)``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == portable.HEADER:
                header = json.loads(blob)
                change(header)
                blob = json.dumps(header).encode()
            dst.writestr(info, blob)
    return out.getvalue()


def _set_array(name: str, **spec: Any) -> Any:
    def change(header: dict[str, Any]) -> None:
        key = header["estimator"][name]
        header["arrays"][key].update(spec)

    return change


@pytest.mark.parametrize(
    "change",
    [
        _set_array("left", offset=10**9),
        _set_array("left", dtype="|O"),
        _set_array("roots", shape=[10**6]),
        _set_array("depths", dtype="|O"),
        lambda h: h["estimator"].update(combine="vote"),
        lambda h: h.update(version=99),
        lambda h: h.update(blocks=[]),
        lambda h: h["blocks"][0].update(fill="nope"),
    ],
)
def test_a_damaged_form_is_one_clear_error(tmp_path: Path, change: Any) -> None:
    pipeline, frame = _pipeline("binary", "hist_gradient_boosting")
    save_model(pipeline, tmp_path / "m.skops", check_frame=frame)
    data = _damaged((tmp_path / "m.skops").read_bytes(), change)
    with pytest.raises(ModelError, match="damaged numpy serving form") as caught:
        portable.read_form(data, "m.skops")
    assert "\n" not in caught.value.one_line()


@pytest.mark.parametrize(
    ("module", "message"),
    [("os", "asks to load untrusted types: os.system"), (None, "skops part changed")],
)
def test_a_changed_skops_part_is_refused_without_skops(
    tmp_path: Path, module: str | None, message: str
) -> None:
    """Serving the form must not accept what loading the pipeline would refuse."""
    pipeline, frame = _pipeline("binary", "logistic_regression")
    save_model(pipeline, tmp_path / "m.skops", check_frame=frame)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(tmp_path / "m.skops") as src,
        zipfile.ZipFile(out, "w") as dst,
    ):
        for info in src.infolist():
            blob = src.read(info.filename)
            if info.filename == "schema.json":
                doc = json.loads(blob)
                if module:
                    doc["__module__"], doc["__class__"] = module, "system"
                else:
                    doc["_skops_version"] = "0.0.1"  # any edit, no new type
                blob = json.dumps(doc).encode()
            dst.writestr(info, blob)
    with pytest.raises(ModelError, match=message):
        portable.read_form(out.getvalue(), "m.skops")


def test_child_indices_pointing_outside_the_nodes_are_refused(tmp_path: Path) -> None:
    pipeline, _ = _pipeline("binary", "random_forest")
    form = export.export(pipeline)
    assert form is not None and isinstance(form.estimator, portable.Trees)
    bad = dataclasses.replace(form.estimator, left=form.estimator.left + 10**6)
    members = export.members(dataclasses.replace(form, estimator=bad), b"{}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", b"{}")
        for name, blob in members.items():
            archive.writestr(name, blob)
    with pytest.raises(ModelError, match="left points outside the nodes"):
        portable.read_form(buffer.getvalue(), "m.skops")


def test_request_arrays_and_the_frame_agree() -> None:
    meta = {
        "features": [
            {"name": "x", "kind": "numeric"},
            {"name": "c", "kind": "categorical"},
        ]
    }
    columns = {"x": [1, None, 2.5], "c": ["a", None, 3]}
    arrays = arrays_from_records(meta, columns)
    frame = frame_from_records(meta, columns)
    assert list(arrays) == list(frame.columns) == ["x", "c"]
    assert arrays["x"].dtype == np.float64 and np.isnan(arrays["x"][1])
    assert arrays["c"].dtype == object and arrays["c"][2] == "3"
    assert frame["c"].tolist()[0] == "a" and frame["c"].dtype == object


SERVE_WITHOUT_SKLEARN = """
import json, sys
from release.serve.commands import build_server
server = build_server(sys.argv[1], form=sys.argv[2])
rows = json.loads(sys.argv[3])
labels, proba = server.runner.predict_columns(rows)
print(json.dumps({
    "form": server.runner.form,
    "sklearn": "sklearn" in sys.modules,
    "pandas": "pandas" in sys.modules,
    "skops": "skops" in sys.modules,
    "labels": labels.tolist(),
    "proba": proba.tolist(),
}))
"""


def test_serving_the_form_imports_neither_sklearn_nor_pandas(tmp_path: Path) -> None:
    from tests.serve_support import make_frame, train_model

    train_model(tmp_path / "models")
    rows = make_frame(rows=40, seed=9).drop(columns=["default"])
    rows.loc[::4, "region"] = "atlantis"
    rows = rows.astype(object).where(rows.notna(), None)
    request = {c: rows[c].tolist() for c in rows.columns}

    def serve(form: str) -> dict[str, Any]:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                SERVE_WITHOUT_SKLEARN,
                str(tmp_path / "models"),
                form,
                json.dumps(request),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    fast, slow = serve("auto"), serve("pipeline")
    assert fast["form"] == "numpy serving form"
    assert not (fast["sklearn"] or fast["pandas"] or fast["skops"])
    assert slow["sklearn"] and slow["form"].startswith("scikit-learn")
    assert fast["labels"] == slow["labels"]
    np.testing.assert_allclose(fast["proba"], slow["proba"], rtol=0, atol=1e-12)

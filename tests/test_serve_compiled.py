"""The compiled preprocessing answers exactly as the fitted pipeline, or is not used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.preprocessing import FunctionTransformer

from release.config import Settings
from release.model.pipeline import build_pipeline
from release.model.predict import frame_from_records
from release.serve.compiled import CompiledPipeline, compile_pipeline
from release.serve.loader import load_path
from release.serve.protocol import Schema
from release.serve.runner import ModelRunner
from tests.serve_support import CATEGORICAL, NUMERIC, make_frame, train_model


def _requests_frame(meta: dict, rows: int = 300) -> pd.DataFrame:
    """Rows as requests bring them: NaN and None, unknown categories, odd numbers."""
    df = make_frame(rows=rows, seed=7).drop(columns=["default"])
    df.loc[::9, "credit_score"] = np.nan
    df.loc[::13, "region"] = "atlantis"
    df.loc[::17, "employment_type"] = None
    df.loc[::5, "age"] = -1e300
    names = {f["name"] for f in meta["features"]}
    columns = {c: df[c].tolist() for c in df.columns if c in names}
    return frame_from_records(meta, columns)


def test_default_pipeline_compiles_and_answers_bit_for_bit(tmp_path: Path) -> None:
    meta = train_model(tmp_path / "m")
    pipeline = load_path(tmp_path / "m").pipeline
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    frame = _requests_frame(meta)
    assert np.array_equal(compiled.transform(frame), pipeline[:-1].transform(frame))
    assert np.array_equal(compiled.predict_proba(frame), pipeline.predict_proba(frame))
    assert np.array_equal(compiled.predict(frame), pipeline.predict(frame))


@pytest.mark.parametrize("scale", [True, False])
def test_regression_and_unscaled_pipelines_match(tmp_path: Path, scale: bool) -> None:
    meta = train_model(tmp_path / "m")
    df = make_frame(rows=300, seed=3)
    y = df.pop("income").fillna(0.0)
    numeric = [c for c in NUMERIC if c != "income"]
    base = Settings()
    settings = dataclasses.replace(base, train=dataclasses.replace(base.train, scale_numeric=scale))
    pipeline = build_pipeline(settings, numeric, CATEGORICAL)
    pipeline.set_params(model=HistGradientBoostingRegressor(max_iter=15, random_state=0))
    pipeline.fit(df, y)
    compiled = compile_pipeline(pipeline)
    assert compiled is not None
    meta = {**meta, "features": [f for f in meta["features"] if f["name"] != "income"]}
    frame = _requests_frame(meta)
    assert np.array_equal(compiled.predict(frame), pipeline.predict(frame))


def test_unknown_shapes_are_not_compiled(tmp_path: Path) -> None:
    df = make_frame(rows=200)
    y = df.pop("default")
    pipeline = build_pipeline(Settings(), NUMERIC, CATEGORICAL)
    pipeline.set_params(model__max_iter=5)
    pipeline.fit(df, y)
    assert compile_pipeline(pipeline) is not None
    assert compile_pipeline(pipeline[-1]) is None  # not a pipeline of two steps
    other = build_pipeline(Settings(), NUMERIC, CATEGORICAL)
    other.steps[0][1].transformers[0][1].steps.append(("log", FunctionTransformer(np.square)))
    other.set_params(model__max_iter=5)
    other.fit(df, y)
    assert compile_pipeline(other) is None
    rare = build_pipeline(Settings(), NUMERIC, CATEGORICAL)
    rare.set_params(model__max_iter=5, preprocess__categorical__onehot__min_frequency=0.3)
    rare.fit(df, y)  # infrequent categories are merged: not the plain one-hot
    assert compile_pipeline(rare) is None
    pandas_out = build_pipeline(Settings(), NUMERIC, CATEGORICAL).set_output(transform="pandas")
    pandas_out.set_params(model__max_iter=5)
    pandas_out.fit(df, y)
    assert compile_pipeline(pandas_out) is None


def test_runner_drops_a_compiled_form_that_disagrees(tmp_path: Path) -> None:
    meta = train_model(tmp_path / "m")
    pipeline = load_path(tmp_path / "m").pipeline
    schema = Schema.from_meta(meta, "model", "v1")
    runner = ModelRunner(pipeline, meta, schema)
    runner.warm_up()
    assert runner.fast is not None  # it agreed, so it serves
    good = runner.fast
    numeric = good.blocks[0]
    wrong = dataclasses.replace(numeric, mean=np.asarray(numeric.mean) + 1.0)
    runner.fast = CompiledPipeline([wrong, *good.blocks[1:]], good.estimator)
    runner.warm_up()
    assert runner.fast is None  # it disagreed: the pipeline serves
    plain = ModelRunner(pipeline, meta, schema, compiled=False)
    frame_columns = {c: v[:20] for c, v in make_frame(rows=20).to_dict("list").items()}
    frame_columns.pop("default")
    labels, proba = runner.predict_columns(frame_columns)
    labels2, proba2 = plain.predict_columns(frame_columns)
    assert np.array_equal(proba, proba2) and np.array_equal(labels, labels2)

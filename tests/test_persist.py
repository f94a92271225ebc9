"""Model files: skops only, trusted types only, hashes checked."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release.config import settings_from_dict
from release.errors import ModelError
from release.model.persist import load_model, save_model


@pytest.fixture
def fitted():
    from release.model.pipeline import build_pipeline

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["x", "y"], 200)})
    y = rng.integers(0, 2, 200)
    return build_pipeline(settings_from_dict({}), ["a"], ["b"]).fit(x, y), x


def test_round_trip_and_hash(tmp_path: Path, fitted) -> None:
    model, x = fitted
    sha = save_model(model, tmp_path / "m.skops")
    loaded = load_model(tmp_path / "m.skops", expected_sha256=sha)
    assert (loaded.predict(x) == model.predict(x)).all()
    with pytest.raises(ModelError, match="has sha256"):
        load_model(tmp_path / "m.skops", expected_sha256="0" * 64)


def test_pickle_payload_is_refused(tmp_path: Path, fitted) -> None:
    model, _ = fitted
    path = tmp_path / "evil.skops"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(ModelError, match="not a skops file"):
        load_model(path)


def test_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    # A function reference is exactly what an attacker would smuggle in.
    path = tmp_path / "untrusted.skops"
    import os

    sio.dump(FunctionTransformer(func=os.system), path)
    with pytest.raises(ModelError, match="untrusted types"):
        load_model(path)


def test_corrupt_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.skops"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", "{not json")
    with pytest.raises(ModelError):
        load_model(path)


def test_missing_file_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "absent.skops")
    assert "not found (run `release train` or `dvc repro`)" in info.value.one_line()


def test_same_model_same_bytes(tmp_path: Path, fitted) -> None:
    import copy

    model, x = fitted
    first = save_model(model, tmp_path / "a.skops")
    second = save_model(copy.deepcopy(model), tmp_path / "b.skops")
    assert first == second
    assert (load_model(tmp_path / "b.skops").predict(x) == model.predict(x)).all()

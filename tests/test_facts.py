"""The evaluate stage's JSON contracts: one writer and one typed reader each."""

from __future__ import annotations

import json
import math

import pytest

from release.facts import (
    METRICS_SCHEMA,
    SLICES_SCHEMA,
    FactError,
    load_metrics,
    load_slices,
    read_metrics,
    read_slices,
    write_metrics,
    write_slices,
)

DOC = {
    "primary_metric": "accuracy",
    "higher_is_better": True,
    "slices": [
        {"name": "a=1", "rows": 40, "metric": 0.9, "ci_low": 0.8, "ci_high": 0.95, "small": True},
        {
            "name": "a=2",
            "rows": 60,
            "metric": math.nan,
            "ci_low": None,
            "ci_high": None,
            "small": False,
        },
    ],
    "fairness": {"gap": 0.1},
}


def test_slices_round_trip_with_schema_version(tmp_path) -> None:
    path = tmp_path / "slices.json"
    written = write_slices(path, DOC)
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SLICES_SCHEMA
    read = load_slices(path)
    assert read == written
    assert read.by_name()["a=1"].ci_low == 0.8
    assert read.by_name()["a=2"].metric is None  # NaN is written as null
    assert read.doc["fairness"] == {"gap": 0.1}


def test_slices_writer_refuses_what_readers_refuse(tmp_path) -> None:
    path = tmp_path / "slices.json"
    bad = {**DOC, "slices": [{"name": "a=1", "rows": -1, "small": False}]}
    with pytest.raises(FactError, match="rows missing or not a count"):
        write_slices(path, bad)
    assert not path.exists()  # nothing half-written


def test_metrics_round_trip_keeps_counts_as_integers(tmp_path) -> None:
    path = tmp_path / "metrics.json"
    write_metrics(path, {"accuracy": 0.91, "n_test": 500, "roc_auc": math.nan})
    assert "schema_version" not in json.loads(path.read_text())  # flat for dvc metrics diff
    read = load_metrics(path)
    assert read.schema_version == METRICS_SCHEMA
    assert read.values == {"accuracy": 0.91, "n_test": 500}
    assert isinstance(read.values["n_test"], int)
    with pytest.raises(FactError, match="f1 missing"):
        read.value("f1", str(path))


def test_metrics_writer_takes_numbers_only(tmp_path) -> None:
    path = tmp_path / "metrics.json"
    with pytest.raises(ValueError, match="label"):
        write_metrics(path, {"accuracy": 0.9, "label": "good"})
    with pytest.raises(ValueError, match="schema_version"):
        write_metrics(path, {"schema_version": 1})
    assert not path.exists()


def test_old_files_read_as_version_1_and_newer_ones_refused(tmp_path) -> None:
    path = tmp_path / "slices.json"
    path.write_text(json.dumps(DOC).replace("NaN", "null"))
    assert load_slices(path).schema_version == 1
    path.write_text(json.dumps({**DOC, "schema_version": 2}).replace("NaN", "null"))
    with pytest.raises(FactError, match="schema_version 2; this release reads 1"):
        load_slices(path)
    with pytest.raises(FactError, match=r"absent\.json missing"):
        load_metrics(tmp_path / "absent.json")


def test_deeply_nested_reports_are_one_error_not_a_traceback() -> None:
    nested = b"[" * 5000 + b"]" * 5000  # far under the size cap, past Python's recursion
    with pytest.raises(FactError, match="nests too deeply"):
        read_metrics(nested, "v1")
    with pytest.raises(FactError, match="nests too deeply"):
        read_slices(nested, "v1")

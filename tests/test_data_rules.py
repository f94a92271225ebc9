"""Every data quality rule fails on purpose-made bad data, with the right message."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from release.config import settings_from_dict
from release.data import builtin
from release.data.validate import validate_frame

ROOT_PARAMS = {
    "data": {"annotators": list(builtin.ANNOTATORS), "slice_columns": ["region"]},
    "validate": {
        "min_rows": 100,
        "dtypes": {"age": "numeric", "num_credit_lines": "integer", "region": "categorical"},
        "max_null_rate": 0.1,
        "ranges": {"age": [18, 100], "credit_score": [300, 850]},
        "categories": {"region": ["north", "south", "east", "west"]},
        "min_slice_rows": 20,
    },
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return builtin.generate(rows=2000, seed=3)


def failed(report) -> dict[str, str]:
    return {f"{r.name}[{r.column}]": r.message for r in report.failures}


def check(df: pd.DataFrame, **kwargs) -> dict[str, str]:
    return failed(validate_frame(df, settings_from_dict(ROOT_PARAMS), **kwargs))


def test_clean_builtin_data_passes(frame: pd.DataFrame) -> None:
    train, test = frame.iloc[:1500], frame.iloc[1500:]
    assert check(frame, train=train, test=test) == {}


def test_min_rows(frame: pd.DataFrame) -> None:
    assert "min_rows[None]" in check(frame.head(50))


def test_required_columns(frame: pd.DataFrame) -> None:
    failures = check(frame.drop(columns=["age"]))
    assert "missing: age" in failures["required_columns[None]"]


def test_dtype_non_numeric_value(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad["age"] = bad["age"].astype(object)
    bad.loc[7, "age"] = "forty"
    message = check(bad)["dtype[age]"]
    assert "is not numeric" in message and "'forty'" in message


def test_dtype_integer(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad["num_credit_lines"] = bad["num_credit_lines"].astype(float)
    bad.loc[3, "num_credit_lines"] = 2.5
    assert "dtype[num_credit_lines]" in check(bad)


def test_null_rate(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[: len(bad) // 4, "income"] = np.nan
    assert "null rate 27" in check(bad)["null_rate[income]"]


def test_range(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[5, "credit_score"] = 999
    failures = check(bad)
    assert "1 values outside [300.0, 850.0]" in failures["range[credit_score]"]


def test_categories(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[9, "region"] = "atlantis"
    assert "unknown values: atlantis" in check(bad)["categories[region]"]


def test_duplicates(frame: pd.DataFrame) -> None:
    bad = pd.concat([frame, frame.head(100)], ignore_index=True)
    assert "100 exact duplicate rows" in check(bad)["duplicates[None]"]


def test_constant_target(frame: pd.DataFrame) -> None:
    bad = frame.assign(default=0)
    assert "constant target" in check(bad)["target[default]"]


def test_missing_target_is_reported(frame: pd.DataFrame) -> None:
    failures = check(frame.drop(columns=["default"]))
    assert "target[default]" in failures


def test_batch_without_labels_can_skip_target(frame: pd.DataFrame) -> None:
    assert check(frame.drop(columns=["default"]), require_target=False) == {}


def test_exact_copies_across_the_split_are_duplicates_not_leakage(frame: pd.DataFrame) -> None:
    train, test = frame.iloc[:1500], frame.iloc[1400:].reset_index(drop=True)
    both = pd.concat([train, test], keys=["train", "test"])
    report = validate_frame(both, settings_from_dict(ROOT_PARAMS), train=train, test=test)
    rules = {r.name: r for r in report.rules if r.column is None}
    assert rules["leakage"].passed and rules["leakage"].observed["exact_copies"] == 100
    dup = rules["duplicates"]
    assert not dup.passed
    assert dup.observed == {"rows": 100, "groups": 100, "rate": 0.047619, "across_splits": 100}
    assert "100 test rows repeat a train row" in dup.message
    assert dup.examples[0] == {
        "split": "test",
        "row": 0,
        "same_as": {"split": "train", "row": 1400},
    }


def test_leakage_is_the_same_features_under_another_label(frame: pd.DataFrame) -> None:
    train = frame.iloc[:1500]
    test = frame.iloc[1400:].reset_index(drop=True)
    test["annotator_1"] = 1 - test["annotator_1"]  # not a feature: the inputs still leak
    test.loc[:9, "default"] = 1 - test.loc[:9, "default"]
    both = pd.concat([train, test], keys=["train", "test"])
    report = validate_frame(both, settings_from_dict(ROOT_PARAMS), train=train, test=test)
    rule = next(r for r in report.failures if r.name == "leakage")
    assert "100 test rows have the key columns of a train row" in rule.message
    example = rule.examples[0]
    assert example["split"] == "test" and example["row"] == 0 and example["train_row"] == 1400
    assert example["key"]["age"] == _plain_value(frame.loc[1400, "age"])
    assert "default" not in example["key"] and "annotator_1" not in example["key"]


def _plain_value(value: object) -> object:
    from release.data.report import plain

    return plain(value)


def test_coverage(frame: pd.DataFrame) -> None:
    train = frame.iloc[:1500]
    test = frame.iloc[1500:]
    test = test[test.region != "west"]
    message = check(pd.concat([train, test]), train=train, test=test)["coverage[region]"]
    assert "west (train" in message and "test 0)" in message


def test_examples_name_offending_rows(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[11, "age"] = 150
    report = validate_frame(bad, settings_from_dict(ROOT_PARAMS))
    rule = next(r for r in report.failures if r.name == "range")
    assert rule.examples[0] == {"row": 11, "value": 150.0}


def test_builtin_is_deterministic() -> None:
    def digest(df: pd.DataFrame) -> str:
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        return hashlib.sha256(buf.getvalue()).hexdigest()

    assert digest(builtin.generate(500, seed=5)) == digest(builtin.generate(500, seed=5))
    assert digest(builtin.generate(500, seed=5)) != digest(builtin.generate(500, seed=6))


def test_builtin_plants_a_hard_slice_and_annotator_disagreement() -> None:
    df = builtin.generate(6000, seed=1)
    agree = (df.annotator_1 == df.default).groupby(df.employment_type).mean()
    assert agree["self_employed"] < agree["salaried"]
    assert df.isna().any().any()
    drifted = builtin.generate_batch(6000, seed=1, drift=1.0)
    assert "annotator_1" not in drifted.columns
    assert drifted.income.mean() > df.income.mean() * 1.1


def test_finite_names_the_column_and_count(frame: pd.DataFrame) -> None:
    bad = frame.copy()
    bad.loc[[3, 8], "income"] = np.inf
    bad.loc[5, "income"] = -np.inf
    report = validate_frame(bad, settings_from_dict(ROOT_PARAMS))
    rule = next(r for r in report.failures if r.name == "finite")
    assert (rule.column, rule.observed) == ("income", 3)
    assert rule.message == "3 non-finite values (+inf, -inf)"
    assert rule.examples[0] == {"row": 3, "value": "+inf"}
    assert "finite[None]" not in failed(report)


def test_categorical_codes_pass_and_fractions_fail(frame: pd.DataFrame) -> None:
    params = {
        **ROOT_PARAMS,
        "validate": {**ROOT_PARAMS["validate"], "dtypes": {"code": "categorical"}},
    }
    params["validate"]["categories"] = {"code": ["1", "2"]}
    codes = frame.assign(code=np.where(frame.index % 2 == 0, 1.0, 2.0))
    codes.loc[4, "code"] = np.nan  # why pandas reads the codes as floats
    assert failed(validate_frame(codes, settings_from_dict(params))) == {}
    codes.loc[6, "code"] = 1.5
    failures = failed(validate_frame(codes, settings_from_dict(params)))
    assert "dtype float64 is not categorical (e.g. row 6 holds 1.5)" == failures["dtype[code]"]
    assert failures["categories[code]"] == "unknown values: 1.5"


def test_train_refuses_an_infinite_regression_target() -> None:
    from release.data.schema import require_finite
    from release.errors import DataError

    target = pd.DataFrame({"y": [1.0, np.inf, 2.0]})
    with pytest.raises(DataError, match=r"non-finite numbers \(\+inf/-inf\) in 'y' \(1\)"):
        require_finite(target, ["y"], "data/prepared/train.parquet")


def test_predict_refuses_infinite_inputs_in_one_line() -> None:
    from release.errors import DataError
    from release.model.predict import predict

    meta = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
    with pytest.raises(DataError, match="the data to predict holds non-finite"):
        predict(None, meta, pd.DataFrame({"x": [1.0, -np.inf]}))

"""Slice definitions: values, bins, safe predicates, intersections, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from release.analysis import predicate
from release.analysis.slices import build_slices
from release.config import SliceSettings, settings_from_dict
from release.errors import ConfigError


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [19.0, 24.0, 30.0, 45.0, 61.0, 70.0, np.nan, 33.0],
            "region": ["north", "south", "north", None, "east", "north", "south", "east"],
            "sex": ["f", "m", "f", "m", "f", "m", "f", "m"],
            "lines": [1, 2, 3, 4, 5, 6, 7, 8],
            "vip": [True, False, False, True, False, False, True, False],
            "odd name": [1, 1, 1, 1, 2, 2, 2, 2],
        }
    )


def slices_of(df, **cfg):
    raw = {"evaluate": {"slices": cfg}}
    return {s.name: s for s in build_slices(df, settings_from_dict(raw).evaluate.slices)}


def test_values_bins_predicates_intersections(df):
    found = slices_of(
        df,
        columns=["region"],
        bins={"age": [0, 25, 60, "inf"]},
        predicates={"senior": "age >= 60", "north_or_vip": "region == 'north' or vip == true"},
        intersections=[["sex", "age"]],
    )
    assert found["region=north"].rows == 3 and found["region=north"].kind == "value"
    assert found["region=<missing>"].rows == 1
    assert found["age=[0, 25)"].rows == 2 and found["age=[0, 25)"].kind == "bin"
    assert found["age=[25, 60)"].rows == 3
    assert found["age=[60, inf)"].rows == 2
    assert found["age=<missing>"].rows == 1
    assert found["senior"].mask.tolist() == [False] * 4 + [True, True, False, False]
    assert found["north_or_vip"].rows == 5
    inter = found["sex=f & age=[0, 25)"]
    assert inter.kind == "intersection" and inter.rows == 1
    assert "sex=m & age=[0, 25)" in found  # 24-year-old man
    assert "sex=m & age=<missing>" not in found  # empty cells of an intersection are skipped


def test_last_finite_bin_is_closed(df):
    found = slices_of(df, bins={"lines": [1, 4, 8]})
    assert found["lines=[1, 4)"].rows == 3
    assert found["lines=[4, 8]"].rows == 5


def test_data_slice_columns_are_included(df):
    settings = settings_from_dict({"data": {"slice_columns": ["sex"]}})
    names = [
        s.name for s in build_slices(df, settings.evaluate.slices, settings.data.slice_columns)
    ]
    assert names == ["sex=f", "sex=m"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("age >= 60", [0, 0, 0, 0, 1, 1, 0, 0]),
        ("60 <= age", [0, 0, 0, 0, 1, 1, 0, 0]),
        ("age < 30 or age > 60 and sex == 'm'", [1, 1, 0, 0, 0, 1, 0, 0]),
        ("(age < 30 or age > 60) and sex == 'm'", [0, 1, 0, 0, 0, 1, 0, 0]),
        ("age < 30", [1, 1, 0, 0, 0, 0, 0, 0]),  # missing age: a comparison is false...
        ("not age < 30", [0, 0, 1, 1, 1, 1, 1, 1]),  # ...so its negation is true
        ('region in ["north", "east"]', [1, 0, 1, 0, 1, 1, 0, 1]),
        ("region not in ['north']", [0, 1, 0, 0, 1, 0, 1, 1]),
        ("region != 'north'", [0, 1, 0, 0, 1, 0, 1, 1]),
        ("region == null", [0, 0, 0, 1, 0, 0, 0, 0]),
        ("age != null AND lines >= 7", [0, 0, 0, 0, 0, 0, 0, 1]),
        ("`odd name` = 2 and vip = true", [0, 0, 0, 0, 0, 0, 1, 0]),
        ("age > -1e9 and age < inf", [1, 1, 1, 1, 1, 1, 0, 1]),
    ],
)
def test_predicate_language(df, text, expected):
    mask = predicate.evaluate(predicate.parse(text), df)
    assert mask.astype(int).tolist() == expected


@pytest.mark.parametrize(
    "text",
    [
        "age >>= 3",
        "age >= ",
        "(age > 3",
        "age > 3 and",
        "age 3",
        "__import__('os').system('touch /tmp/pwned')",
        "age > 3; import os",
        "age > [1, 2]",
        "lambda: 1",
        "",
    ],
)
def test_unparsable_predicates_are_rejected_without_running_anything(df, text):
    with pytest.raises(ConfigError) as info:
        slices_of(df, predicates={"bad": text})
    message = info.value.one_line()
    assert "evaluate.slices.predicates.bad" in message and "\n" not in message


def test_bad_definitions_give_one_clear_line(df):
    cases = [
        ({"columns": ["nope"]}, "evaluate.slices.columns names unknown column 'nope'"),
        ({"bins": {"nope": [0, 1]}}, "evaluate.slices.bins.nope names unknown column 'nope'"),
        ({"bins": {"region": [0, 1]}}, "column 'region' is not numeric"),
        ({"bins": {"age": [0, 60, 30]}}, "is not strictly increasing"),
        ({"bins": {"age": [0, "ten"]}}, "edge 'ten' is not a number"),
        ({"predicates": {"p": "height > 3"}}, "unknown column 'height'"),
        ({"predicates": {"p": "region > 3"}}, "column 'region' is not numeric"),
        ({"predicates": {"p": "age == 'x'"}}, "column 'age' is numeric"),
        ({"predicates": {"p": "region < 'x'"}}, "strings can only be compared with == or !="),
        ({"intersections": [["sex", "nope"]]}, "unknown column 'nope'"),
        ({"intersections": [["sex", "sex"]]}, "pairs of two different columns"),
        ({"columns": ["sex"], "predicates": {"sex=f": "sex == 'f'"}}, "defined twice"),
    ]
    for cfg, expected in cases:
        with pytest.raises(ConfigError) as info:
            slices_of(df, **cfg)
        line = info.value.one_line()
        assert expected in line, (cfg, line)
        assert "\n" not in line


def test_too_many_values_asks_for_bins():
    frame = pd.DataFrame({"x": np.arange(500.0)})
    with pytest.raises(ConfigError) as info:
        build_slices(frame, SliceSettings(columns=["x"]))
    assert "has 500 distinct values" in info.value.one_line()
    assert "declare numeric bins for it under evaluate.slices.bins.x" in info.value.one_line()


def test_bins_from_yaml_accept_inf_strings(df):
    found = slices_of(df, bins={"age": ["-inf", 40, "inf"]})
    assert set(found) == {"age=[-inf, 40)", "age=[40, inf)", "age=<missing>"}

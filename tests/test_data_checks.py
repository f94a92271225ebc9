"""Every setting that names a column is checked against the data before training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release.analysis import predicate
from release.analysis.report import render_markdown
from release.analysis.run import analyse_slices
from release.config import settings_from_dict
from release.data.checks import check_settings
from release.errors import ConfigError
from tests.data_support import BARE, bare_project, files_under, merged, release


def frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "hours-per-week": rng.integers(10, 70, rows),
            "work class": rng.choice(["private", "state"], rows),
            "y": rng.integers(0, 2, rows),
            "id": np.arange(rows),
        }
    )


def settings(**changes: object):
    return settings_from_dict(merged(BARE, changes))


def test_hyphenated_name_error_suggests_backticks() -> None:
    with pytest.raises(ConfigError) as info:
        check_settings(
            settings(evaluate={"slices": {"predicates": {"long": "hours-per-week > 40"}}}),
            frame(),
            "data.csv",
        )
    line = info.value.one_line()
    assert "evaluate.slices.predicates.long" in line
    assert "write `hours-per-week` > 40" in line


def test_name_with_spaces_error_suggests_backticks() -> None:
    with pytest.raises(predicate.PredicateError, match="backticks: `work class`"):
        predicate.parse('work class == "private"')


def test_backticked_names_pass() -> None:
    preds = {"long": "`hours-per-week` > 40", "private": '`work class` == "private"'}
    check_settings(settings(evaluate={"slices": {"predicates": preds}}), frame(), "data.csv")


def test_quoting_hint_leaves_strings_and_numbers_alone() -> None:
    assert predicate.quoting_hint('x == "a-b" and y > 1e-5') is None
    assert predicate.quoting_hint('x == "a-b" or capital-gain > 0') == (
        'x == "a-b" or `capital-gain` > 0'
    )


def test_every_unknown_column_in_one_line_with_a_close_match() -> None:
    bad = settings(
        data={"slice_columns": ["agee"], "protected": ["sex"]},
        validate={"ranges": {"hours_per_week": [0, 100]}},
    )
    with pytest.raises(ConfigError) as info:
        check_settings(bad, frame(), "data.csv")
    line = info.value.one_line()
    assert "data.slice_columns 'agee' (did you mean 'age'?)" in line
    assert "data.protected 'sex'" in line
    assert "validate.ranges 'hours_per_week' (did you mean 'hours-per-week'?)" in line


CASES = [
    ({"data": {"target": "label"}}, "target column 'label' is absent"),
    ({"data": {"slice_columns": ["agee"]}}, "data.slice_columns 'agee'"),
    ({"data": {"protected": ["sex"]}}, "data.protected 'sex'"),
    ({"validate": {"dtypes": {"hours": "numeric"}}}, "validate.dtypes 'hours'"),
    ({"validate": {"ranges": {"hours": [0, 1]}}}, "validate.ranges 'hours'"),
    ({"validate": {"categories": {"work": ["a"]}}}, "validate.categories 'work'"),
    ({"validate": {"null_rate": {"wrk": 0.1}}}, "validate.null_rate 'wrk'"),
    ({"evaluate": {"slices": {"columns": ["wrk"]}}}, "evaluate.slices.columns 'wrk'"),
    ({"evaluate": {"slices": {"bins": {"ag": [0, 50]}}}}, "evaluate.slices.bins 'ag'"),
    ({"evaluate": {"slices": {"bins": {"work class": [0, 1]}}}}, "is not numeric"),
    ({"evaluate": {"slices": {"bins": {"age": [60, 30]}}}}, "is not strictly increasing"),
    ({"data": {"slice_columns": ["id"]}}, "slice column 'id' has 200 distinct values"),
    ({"evaluate": {"slices": {"intersections": [["age", "sx"]]}}}, "intersections 'sx'"),
    ({"monitor": {"drift": {"methods": {"agg": "ks"}}}}, "monitor.drift.methods 'agg'"),
    ({"evaluate": {"slices": {"predicates": {"p": "hours-per-week > 40"}}}}, "`hours-per-week`"),
    ({"evaluate": {"slices": {"predicates": {"p": "height > 3"}}}}, "unknown column 'height'"),
    ({"evaluate": {"slices": {"predicates": {"p": "age == 'old'"}}}}, "column 'age' is numeric"),
]


@pytest.mark.parametrize(("params", "fragment"), CASES)
def test_prepare_refuses_a_setting_the_data_does_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: dict, fragment: str
) -> None:
    project = bare_project(tmp_path, params)
    frame().to_csv(project / "data/raw/data.csv", index=False)
    before = files_under(project)
    release(project, capsys, "data", "prepare").assert_one_error(2, fragment)
    assert files_under(project) == before  # no split, no provenance


def test_validate_checks_settings_against_the_prepared_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bare_project(tmp_path)
    frame().to_csv(project / "data/raw/data.csv", index=False)
    assert release(project, capsys, "data", "prepare").code == 0
    bare_project(tmp_path, {"evaluate": {"slices": {"predicates": {"p": "hours-per-week > 4"}}}})
    before = files_under(project)
    release(project, capsys, "data", "validate").assert_one_error(2, "`hours-per-week` > 4")
    assert files_under(project) == before  # no quality report for settings that do not fit


def test_a_slice_no_test_row_matches_is_a_warning_not_a_failure() -> None:
    df = frame(300)
    cfg = settings(
        evaluate={
            "slices": {
                "predicates": {"ancient": "age > 500", "long": "`hours-per-week` > 40"},
                "bins": {"age": [0, 10, 100]},
            }
        }
    )
    y = df["y"].to_numpy()
    result = analyse_slices(cfg, df, y, y)
    names = [s["name"] for s in result["slices"]]
    assert "long" in names and "ancient" not in names and "age=[0, 10)" not in names
    assert result["warnings"] == [
        "slice age=[0, 10) matches no test row, so it has no metrics; check its definition",
        "slice ancient (age > 500) matches no test row, so it has no metrics; check its definition",
    ]
    # data values are HTML-escaped in Markdown (GitHub renders raw HTML there)
    assert "- Warning: slice ancient (age &gt; 500) matches no test row" in render_markdown(result)

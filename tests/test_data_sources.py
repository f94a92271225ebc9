"""Reading a source: missing-value markers, duplicated headers, directories."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from release.data.sources import read_table
from release.errors import DataError
from tests.data_support import bare_project, files_under, release

MARKED = "age,work,code,y\n39,private,1,0\n?,-,2,1\nNA, ?,,0\n41,NA,1,1\n"


def test_na_values_markers_are_missing_and_numbers_stay_numeric(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(MARKED)
    frame = read_table(path, na_values=["?", "-", "NA"])
    assert frame["age"].dtype == "float64" and frame["age"].isna().sum() == 2
    # " ?" (a space after the comma, as in UCI Adult) is the marker too.
    assert frame["work"].isna().sum() == 3
    assert frame["code"].isna().sum() == 1  # the empty field is always missing


def test_listed_markers_only_so_a_real_na_category_survives(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(MARKED)
    frame = read_table(path, na_values=["?", "-"])
    assert frame["work"].tolist()[3] == "NA" and frame["work"].isna().sum() == 2
    assert frame["age"].isna().sum() == 1
    # "NA" is not a number here: the column stays text and the dtype rule reports it.
    assert not pd.api.types.is_numeric_dtype(frame["age"])


def test_without_na_values_pandas_defaults_apply(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(MARKED)
    frame = read_table(path)
    assert "?" in set(frame["age"].dropna())  # unknown marker: a value, as before


def test_parquet_ignores_na_values(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pd.DataFrame({"a": ["?", "x", None], "y": [0, 1, 0]}).to_parquet(path)
    frame = read_table(path, na_values=["?"])
    assert frame["a"].tolist()[0] == "?" and frame["a"].isna().sum() == 1


def test_duplicated_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("age,income,age,y\n1,2,3,0\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    assert "duplicated column name in its header: 'age'" in info.value.one_line()


def test_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        read_table(tmp_path)
    assert "is a directory" in info.value.one_line()


@pytest.mark.parametrize(
    ("setup", "params", "fragments"),
    [
        ("dir", {}, ["data/raw/data.csv is a directory", "one .csv or .parquet file"]),
        ("age,age,y\n1,2,0\n", {}, ["duplicated column name", "'age'"]),
        ("", {}, ["is empty"]),
        ("a,y\n", {}, ["has no rows"]),
    ],
)
def test_bad_sources_fail_prepare_with_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, params: dict, fragments: list
) -> None:
    project = bare_project(tmp_path, params)
    target = project / "data/raw/data.csv"
    if setup == "dir":
        target.mkdir()
    else:
        target.write_text(setup)
    before = files_under(project)
    result = release(project, capsys, "data", "prepare")
    result.assert_one_error(2, *fragments)
    assert files_under(project) == before


def test_semicolon_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("age;hours-per-week;y\n39;40;0\n?;38;1\n")
    frame = read_table(path, na_values=["?"], delimiter=";")
    assert list(frame.columns) == ["age", "hours-per-week", "y"]
    assert frame["age"].isna().sum() == 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"delimiter": ";;"}, "data.delimiter = ';;' is invalid"),
        ({"na_values": "?"}, "data.na_values = '?' is invalid"),
        ({"na_values": ["?", "a\nb"]}, "data.na_values"),
        ({"deduplicate": "yes"}, "data.deduplicate = 'yes' is invalid"),
    ],
)
def test_data_settings_are_checked(data: dict, fragment: str) -> None:
    from release.config import settings_from_dict
    from release.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        settings_from_dict({"data": data})
    assert fragment in info.value.one_line()


def test_batch_validation_reads_like_prepare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = bare_project(tmp_path, {"data": {"na_values": ["?"]}})
    (project / "batch").mkdir()
    release(project, capsys, "data", "validate", "--data", "batch").assert_one_error(
        2, "is a directory"
    )
    (project / "dup.csv").write_text("a,a,y\n1,2,0\n")
    release(project, capsys, "data", "validate", "--data", "dup.csv").assert_one_error(
        2, "duplicated column name", "'a'"
    )
    (project / "b.csv").write_text("a,y\n" + "?,0\n1,1\n" * 30)
    result = release(project, capsys, "data", "validate", "--data", "b.csv")
    result.assert_one_error(1, "null_rate[a]")  # '?' counted as missing, not as a value
    assert "null rate 50.00%" in result.out

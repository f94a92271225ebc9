"""Settings: every bad value fails with one line naming the key, the value and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.config import load_settings, settings_from_dict
from release.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_project_params_load() -> None:
    settings = load_settings(ROOT / "params.yaml")
    assert settings.data.task == "binary"
    assert settings.release.stages == ["dev", "staging", "prod"]
    assert [s.weight for s in settings.release.deploy.canary.steps] == [25, 50, 100]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"data": {"test_size": 1.5}}, "data.test_size = 1.5 is invalid (expected a number"),
        ({"train": {"estimator": "xgboost"}}, "train.estimator = 'xgboost' is invalid"),
        ({"data": {"tset_size": 0.2}}, "unknown key data.tset_size"),
        ({"data": {"seed": "forty"}}, "data.seed = 'forty' is invalid (expected an integer)"),
        ({"data": {"task": "ranking"}}, "data.task = 'ranking' is invalid"),
        ({"data": {"source": "csv"}}, "data.path = None is invalid"),
        ({"validate": {"ranges": {"age": [10, 5]}}}, "validate.ranges.age = [10.0, 5.0]"),
        ({"bogus": 1}, "unknown key bogus"),
        (
            {"data": {"task": "regression"}},
            "evaluate.primary_metric = 'accuracy' is invalid (expected for task regression",
        ),
        (
            {
                "data": {"task": "regression"},
                "evaluate": {"primary_metric": "mae"},
                "train": {"estimator": "logistic_regression"},
            },
            "train.estimator = 'logistic_regression' is invalid",
        ),
        ({"release": {"policy": {"qa": {}}}}, "release.policy.qa = 'qa' is invalid"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    line = info.value.one_line()
    assert expected in line
    assert "\n" not in line


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="line 2 is not valid YAML"):
        load_settings(bad)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    evil = tmp_path / "params.yaml"
    evil.write_text("data: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="tags are not allowed"):
        load_settings(evil)

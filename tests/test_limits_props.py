"""Property tests (hypothesis) for the V2 request parser and settings validation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release.bounds import BOUNDS, numeric_settings
from release.config import Settings, settings_from_dict
from release.errors import ConfigError
from release.serve.body import nesting_depth, parse_bounded
from release.serve.datatypes import FLOAT_LIMITS, INTEGER_RANGES
from release.serve.protocol import ProtocolError, Schema, decode_infer
from release.strict_yaml import load_yaml

SCHEMA = Schema.from_meta(
    {
        "name": "model",
        "task": "binary",
        "features": [
            {"name": "age", "kind": "numeric", "dtype": "float64"},
            {"name": "region", "kind": "categorical", "dtype": "string", "categories": ["n", "s"]},
        ],
        "classes": [0, 1],
    },
    "model",
    "v1.0.0",
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(alphabet='ab[]{}"\\ \n', max_size=8)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='ab[{"\\', max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@FAST
@given(json_values)
def test_nesting_depth_matches_the_parsed_structure(value: Any) -> None:
    text = json.dumps(value, allow_nan=True)
    assert nesting_depth(text.encode()) == depth(value)


@FAST
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_parses_or_is_a_400(body: bytes) -> None:
    try:
        parse_bounded(body, 32)
    except ProtocolError as exc:
        assert exc.status == 400 and "\n" not in exc.message


tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["age", "region", "t", ""]) | st.integers(),
        "datatype": st.sampled_from([*INTEGER_RANGES, *FLOAT_LIMITS, "BOOL", "BYTES", "X"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=3), max_size=3) | scalars,
        "data": st.lists(json_values, max_size=6) | scalars,
    }
)
payloads = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=3) | json_values},
    optional={"id": scalars, "outputs": json_values, "parameters": json_values},
)


@FAST
@given(payloads | json_values)
def test_any_payload_decodes_or_is_a_400(payload: Any) -> None:
    for policy in ("error", "warn"):
        try:
            request = decode_infer(payload, SCHEMA, policy)  # type: ignore[arg-type]
        except ProtocolError as exc:
            assert exc.status == 400 and "\n" not in exc.message
            continue
        assert request.rows > 0
        assert set(request.columns) == {"age", "region"}
        assert all(len(v) == request.rows for v in request.columns.values())
        for v in request.columns["age"]:
            assert v is None or (type(v) in (int, float) and math.isfinite(v))
        for v in request.columns["region"]:
            assert v is None or type(v) is str
            if policy == "error":
                assert v in ("n", "s")


@st.composite
def typed_age(draw: Any) -> tuple[str, Any, bool]:
    """(datatype, one value, whether the protocol allows it) for the numeric column."""
    datatype = draw(st.sampled_from([*INTEGER_RANGES, *FLOAT_LIMITS, "BOOL"]))
    value = draw(
        st.integers(min_value=-(2**65), max_value=2**65)
        | st.floats(allow_nan=False)
        | st.booleans()
    )
    if datatype == "BOOL":
        ok = type(value) is bool
    elif datatype in INTEGER_RANGES:
        low, high = INTEGER_RANGES[datatype]
        ok = type(value) is int and low <= value <= high
    else:
        ok = type(value) in (int, float) and math.isfinite(value)
        ok = ok and abs(value) <= FLOAT_LIMITS[datatype]
    return datatype, value, ok


@FAST
@given(typed_age())
def test_datatypes_accept_exactly_their_values(case: tuple[str, Any, bool]) -> None:
    datatype, value, ok = case
    payload = {
        "inputs": [
            {"name": "age", "datatype": datatype, "shape": [1], "data": [value]},
            {"name": "region", "datatype": "BYTES", "shape": [1], "data": ["n"]},
        ]
    }
    try:
        request = decode_infer(payload, SCHEMA)
    except ProtocolError as exc:
        assert not ok, exc.message
        assert exc.status == 400
        return
    assert ok
    assert request.columns["age"] == [int(value) if datatype == "BOOL" else value]


# ------------------------------------------------------------------------ settings
numbers = (
    st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=3)
    | st.none()
)
SIMPLE = [p for p in numeric_settings(Settings) if "*" not in p and "[]" not in p]


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


@FAST
@given(st.sampled_from(SIMPLE), numbers)
def test_numeric_settings_are_within_bounds_or_refused_in_one_line(key: str, value: Any) -> None:
    try:
        built = settings_from_dict(_nest(key, value))
    except ConfigError as exc:
        line = exc.one_line()
        section, leaf = key.rsplit(".", 1)
        assert "\n" not in line and (section in line or leaf in line), line
        return
    got: Any = built
    for part in key.split("."):
        got = getattr(got, part)
    low, high = BOUNDS[key]
    assert got is None or low <= got <= high  # None: an optional limit left unset


def test_every_numeric_setting_has_a_bound() -> None:
    missing = [p for p in numeric_settings(Settings) if p not in BOUNDS]
    assert not missing, f"add these to release.bounds.BOUNDS: {missing}"


@FAST
@given(st.text(alphabet="ab:-[]{}&*!|>'\" \n\t#%@1.e", max_size=80))
def test_any_yaml_text_loads_or_is_one_config_error(text: str) -> None:
    try:
        load_yaml("params.yaml", text=text)
    except ConfigError as exc:
        assert "\n" not in exc.one_line()


@FAST
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=6))
def test_a_repeated_key_is_always_refused(keys: list[str]) -> None:
    text = "".join(f"{k}: 1\n" for k in keys)
    if len(set(keys)) == len(keys):
        assert load_yaml("p.yaml", text=text) == dict.fromkeys(keys, 1)
    else:
        with pytest.raises(ConfigError, match="duplicate key"):
            load_yaml("p.yaml", text=text)

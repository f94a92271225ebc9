"""The V2 wire format: decoding requests against the schema, encoding answers."""

from __future__ import annotations

import numpy as np
import pytest

from release.serve.protocol import (
    ProtocolError,
    Schema,
    decode_infer,
    encode_infer,
    parse_json,
)

META = {
    "name": "model",
    "task": "binary",
    "features": [
        {"name": "age", "kind": "numeric", "dtype": "float64"},
        {"name": "region", "kind": "categorical", "dtype": "object", "categories": ["n", "s"]},
    ],
    "classes": [0, 1],
}
SCHEMA = Schema.from_meta(META, "model", "v1.0.0")


def test_columns_decode_with_id_and_nested_column_shape():
    req = decode_infer(
        {
            "id": "r-1",
            "inputs": [
                {"name": "age", "datatype": "FP64", "shape": [2, 1], "data": [[30], [None]]},
                {"name": "region", "datatype": "BYTES", "shape": [2], "data": ["n", "s"]},
            ],
        },
        SCHEMA,
    )
    assert req.id == "r-1"
    assert req.rows == 2
    assert req.columns == {"age": [30, None], "region": ["n", "s"]}
    assert req.outputs == ("predict", "probabilities")


def test_table_tensor_flat_and_nested_give_the_same_columns():
    flat = decode_infer(
        {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": [1, "n", 2, "s"]}]},
        SCHEMA,
    )
    nested = decode_infer(
        {
            "inputs": [
                {"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": [[1, "n"], [2, "s"]]}
            ]
        },
        SCHEMA,
    )
    assert flat.columns == nested.columns == {"age": [1, 2], "region": ["n", "s"]}
    assert flat.rows == 2


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ([], "JSON object"),
        ({"inputs": []}, "non-empty list"),
        ({"inputs": [{"name": "age"}]}, "shape"),
        ({"id": 5, "inputs": [{}]}, "'id' must be a string"),
        (
            {"inputs": [{"name": "age", "datatype": "FP99", "shape": [1], "data": [1]}]},
            "not a V2 datatype",
        ),
        (
            {"inputs": [{"name": "age", "datatype": "FP64", "shape": [2], "data": [1]}]},
            "needs 2 elements",
        ),
        (
            {"inputs": [{"name": "age", "datatype": "BYTES", "shape": [1], "data": ["1"]}]},
            "numeric",
        ),
        (
            {
                "inputs": [
                    {"name": "age", "datatype": "FP64", "shape": [1], "data": [1]},
                    {"name": "region", "datatype": "INT64", "shape": [1], "data": [1]},
                ]
            },
            "categorical",
        ),
        (
            {
                "inputs": [
                    {"name": "age", "datatype": "FP64", "shape": [1], "data": [1]},
                    {"name": "colour", "datatype": "BYTES", "shape": [1], "data": ["r"]},
                ]
            },
            "unknown input 'colour'",
        ),
        (
            {"inputs": [{"name": "age", "datatype": "FP64", "shape": [1], "data": [1]}]},
            "missing input(s): region",
        ),
        (
            {
                "inputs": [
                    {"name": "age", "datatype": "FP64", "shape": [2], "data": [1, 2]},
                    {"name": "region", "datatype": "BYTES", "shape": [1], "data": ["n"]},
                ]
            },
            "has 1 rows",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 3], "data": [1, 2, 3]}]},
            "has 3 columns",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 2], "data": [1, 2]}]},
            "send the table as BYTES",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 1, 2], "data": [1, "n"]}]},
            "dimensions",
        ),
        (
            {"inputs": [{"name": "x", "datatype": "BYTES", "shape": [0, 2], "data": []}]},
            "no rows",
        ),
        (
            {
                "inputs": [
                    {"name": "age", "datatype": "FP64", "shape": [1], "data": [float("inf")]},
                    {"name": "region", "datatype": "BYTES", "shape": [1], "data": ["n"]},
                ]
            },
            "not a finite number",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": [10**400, "n"]}
                ]
            },
            "too large",
        ),
        (
            {
                "inputs": [{"name": "x", "datatype": "BYTES", "shape": [1, 2], "data": [1, "n"]}],
                "outputs": [{"name": "logits"}],
            },
            "unknown output 'logits'",
        ),
    ],
)
def test_bad_requests_are_400_with_a_clear_message(payload, fragment):
    with pytest.raises(ProtocolError) as info:
        decode_infer(payload, SCHEMA)
    assert info.value.status == 400
    assert fragment in info.value.message


def test_parse_json_rejects_empty_and_invalid_bodies():
    for body in (b"", b"{not json", b"\xff\xfe"):
        with pytest.raises(ProtocolError) as info:
            parse_json(body)
        assert info.value.status == 400


def test_encode_answers_requested_outputs_with_shapes():
    req = decode_infer(
        {
            "id": "abc",
            "inputs": [
                {"name": "x", "datatype": "BYTES", "shape": [2, 2], "data": [1, "n", 2, "s"]}
            ],
            "outputs": [{"name": "probabilities"}],
        },
        SCHEMA,
    )
    out = encode_infer(SCHEMA, req, np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert out["id"] == "abc"
    assert out["model_name"] == "model" and out["model_version"] == "v1.0.0"
    assert out["outputs"] == [
        {"name": "probabilities", "datatype": "FP64", "shape": [2, 2], "data": [0.9, 0.1, 0.2, 0.8]}
    ]


def test_metadata_lists_inputs_outputs_and_regression_has_no_probabilities():
    meta = SCHEMA.metadata()
    assert meta["inputs"] == [
        {"name": "age", "datatype": "FP64", "shape": [-1]},
        {"name": "region", "datatype": "BYTES", "shape": [-1]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "probabilities"]
    assert meta["outputs"][0]["datatype"] == "INT64"
    reg = Schema.from_meta({**META, "task": "regression", "classes": None}, "m", "1")
    assert reg.output_names == ("predict",)
    assert [o["name"] for o in reg.metadata()["outputs"]] == ["predict"]
    assert reg.label_datatype == "FP64"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 33 + b"]" * 33, "nests 33 levels deep; at most 32"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nests 40 levels deep"),
        (b"[" * 5000 + b"]" * 5000, "nests 5000 levels deep"),  # past the parser's own limit
        (b"[" * 40, "nests 40 levels deep"),  # not JSON either: the depth is said first
        (b"[1, 2", "is not valid JSON"),
    ],
)
def test_small_bodies_too_deep_or_broken_are_400s(body: bytes, message: str) -> None:
    from release.serve.body import parse_bounded

    with pytest.raises(ProtocolError) as caught:
        parse_bounded(body, 32)
    assert caught.value.status == 400 and message in caught.value.message


def test_small_bodies_within_the_depth_limit_parse() -> None:
    from release.serve.body import parse_bounded

    assert parse_bounded(b"[" * 32 + b"]" * 32, 32) is not None
    assert parse_bounded(b'"[[[[" ', 2) == "[[[["
    assert parse_bounded(b"3", 1) == 3

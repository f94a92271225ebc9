"""The Open Inference Protocol (KServe V2) on the wire: requests and responses.

A request carries either one input per feature column (``BYTES`` for categorical
columns, a numeric datatype for numeric ones; shape ``[rows]`` or ``[rows, 1]``) or one
2-D tensor of shape ``[rows, n_features]`` with the columns in the model's feature order
(``BYTES`` when any column is categorical). Tensor data may be flat (row-major) or
nested. Everything here is pure: bad input raises :class:`ProtocolError` with the HTTP
status and a message that says what was wrong and what is expected. The model's schema
lives in :mod:`release.serve.schema` (re-exported here).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from release.serve.datatypes import DATATYPES as DATATYPES
from release.serve.datatypes import (
    FLOAT_LIMITS,
    DatatypeError,
    check_number,
    numeric_values,
    string_values,
    unknown_categories,
)
from release.serve.datatypes import NUMERIC_DATATYPES as NUMERIC_DATATYPES
from release.serve.schema import OUTPUT_PREDICT as OUTPUT_PREDICT
from release.serve.schema import OUTPUT_PROBABILITIES as OUTPUT_PROBABILITIES
from release.serve.schema import Feature as Feature
from release.serve.schema import Schema as Schema

UnknownCategory = Literal["error", "warn"]

PROTOCOL_VERSION = "2"


class ProtocolError(Exception):
    """A request the server cannot accept: an HTTP status and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InferRequest:
    """A decoded inference request: column lists of equal length."""

    id: str | None
    columns: dict[str, list[Any]]
    rows: int
    outputs: tuple[str, ...]
    # column -> values outside the model's known categories (served under "warn")
    unknown: dict[str, int] = field(default_factory=dict)

    def part(self, start: int, stop: int) -> InferRequest:
        """Rows ``start`` to ``stop`` as a request of their own (a slice to predict)."""
        return InferRequest(
            id=self.id,
            columns={name: values[start:stop] for name, values in self.columns.items()},
            rows=stop - start,
            outputs=self.outputs,
        )


def parse_json(body: bytes) -> Any:
    """Parse a JSON request body, or raise a 400."""
    if not body:
        raise ProtocolError(400, "the request body is empty; send a JSON inference request")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RecursionError:  # the server checks nesting first (release.serve.body)
        raise ProtocolError(400, "the request body nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(400, f"the request body is not valid JSON: {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON; send null for a missing value")


def decode_infer(
    payload: Any, schema: Schema, unknown_category: UnknownCategory = "error"
) -> InferRequest:
    """Check a parsed V2 inference request against the schema and return its columns.

    Every element must fit its tensor's datatype (see :mod:`release.serve.datatypes`).
    A categorical value the model never saw is a 400 under ``unknown_category="error"``;
    under ``"warn"`` it is served (the encoder ignores it) and counted per column.
    """
    if not isinstance(payload, dict):
        raise ProtocolError(400, "the request must be a JSON object with an 'inputs' list")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(400, "'id' must be a string")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ProtocolError(400, "'inputs' must be a non-empty list of tensors")
    outputs = _requested_outputs(payload.get("outputs"), schema)
    tensors = [_check_tensor(t, i) for i, t in enumerate(inputs)]
    if len(tensors) == 1 and _is_table(tensors[0], schema):
        columns, rows = _columns_from_table(tensors[0], schema)
    else:
        columns, rows = _columns_from_inputs(tensors, schema)
    if rows == 0:
        raise ProtocolError(400, "the request has no rows; send at least one row")
    unknown = _check_categories(columns, schema, unknown_category)
    return InferRequest(id=request_id, columns=columns, rows=rows, outputs=outputs, unknown=unknown)


def encode_infer(
    schema: Schema, request: InferRequest, labels: Any, proba: Any | None
) -> dict[str, Any]:
    """The V2 inference response for one request's predictions."""
    rows = request.rows
    outputs: list[dict[str, Any]] = []
    for name in request.outputs:
        if name == OUTPUT_PREDICT:
            data = _jsonable(labels)
            outputs.append(
                {"name": name, "datatype": schema.label_datatype, "shape": [rows], "data": data}
            )
        elif name == OUTPUT_PROBABILITIES and proba is not None:
            width = int(proba.shape[1]) if rows else len(schema.classes or ())
            outputs.append(
                {
                    "name": name,
                    "datatype": "FP64",
                    "shape": [rows, width],
                    "data": _jsonable(proba.ravel()),
                }
            )
    response: dict[str, Any] = {
        "model_name": schema.name,
        "model_version": schema.version,
        "outputs": outputs,
    }
    if request.id is not None:
        response["id"] = request.id
    return response


# ---------------------------------------------------------------------- helpers
@dataclass
class _Tensor:
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


def _check_tensor(raw: Any, index: int) -> _Tensor:
    if not isinstance(raw, dict):
        raise ProtocolError(400, f"inputs[{index}] must be an object with name, shape, datatype")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(400, f"inputs[{index}] needs a 'name' (a string)")
    shape = raw.get("shape")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ProtocolError(400, f"input {name!r}: 'shape' must be a list of non-negative integers")
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise ProtocolError(
            400,
            f"input {name!r}: datatype {datatype!r} is not a V2 datatype "
            "(use BYTES, FP64, FP32, INT64, ...)",
        )
    data = raw.get("data")
    if not isinstance(data, list):
        raise ProtocolError(400, f"input {name!r}: 'data' must be a list")
    if len(shape) > 2:
        raise ProtocolError(
            400, f"input {name!r}: shape {shape} has {len(shape)} dimensions; use 1 or 2"
        )
    flat = _flatten(data, name)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise ProtocolError(
            400,
            f"input {name!r}: shape {shape} needs {expected} elements, data has {len(flat)}",
        )
    return _Tensor(name=name, shape=shape, datatype=str(datatype), data=flat)


def _flatten(data: list[Any], name: str) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    flat: list[Any] = []
    for row in data:
        if not isinstance(row, list):
            raise ProtocolError(400, f"input {name!r}: nested data must be a list of rows")
        for value in row:
            if isinstance(value, list):
                raise ProtocolError(400, f"input {name!r}: data is nested too deeply")
            flat.append(value)
    return flat


def _is_table(tensor: _Tensor, schema: Schema) -> bool:
    """One 2-D tensor holding every feature column (not a single column's input)."""
    if len(tensor.shape) != 2:
        return False
    single_column = tensor.name in schema.feature_names and tensor.shape[1] == 1
    return not (single_column and len(schema.features) > 1)


def _columns_from_table(tensor: _Tensor, schema: Schema) -> tuple[dict[str, list[Any]], int]:
    rows, width = tensor.shape
    names = schema.feature_names
    if width != len(names):
        raise ProtocolError(
            400,
            f"input {tensor.name!r}: shape {tensor.shape} has {width} columns; the model takes "
            f"{len(names)} ({', '.join(names)})",
        )
    if tensor.datatype != "BYTES" and schema.has_categorical:
        categorical = [f.name for f in schema.features if f.kind != "numeric"]
        raise ProtocolError(
            400,
            f"input {tensor.name!r}: datatype {tensor.datatype} cannot hold the categorical "
            f"column(s) {', '.join(categorical)}; send the table as BYTES",
        )
    data = tensor.data
    columns = {name: data[j::width] for j, name in enumerate(names)}
    try:
        for feature in schema.features:
            values = columns[feature.name]
            where = f"input {tensor.name!r} column {feature.name!r}"
            if tensor.datatype != "BYTES":
                columns[feature.name] = numeric_values(values, tensor.datatype, where)
            elif feature.kind == "numeric":  # the mixed table: numbers in numeric columns
                _mixed_numbers(values, where)
            else:
                columns[feature.name] = string_values(values, "BYTES", where)
    except DatatypeError as exc:
        raise ProtocolError(400, exc.message) from None
    return columns, rows


def _mixed_numbers(values: list[Any], where: str) -> None:
    limit = FLOAT_LIMITS["FP64"]
    for i, v in enumerate(values):
        if type(v) is str:
            raise DatatypeError(f"{where} row {i}: {v[:40]!r} is not a number")
        check_number(v, limit, "FP64", f"{where} row {i}")


def _check_categories(
    columns: dict[str, list[Any]], schema: Schema, policy: UnknownCategory
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for feature in schema.features:
        if feature.kind == "numeric" or not feature.categories:
            continue
        count, first = unknown_categories(columns[feature.name], feature.known)
        if not count or first is None:
            continue
        if policy == "error":
            row, value = first
            shown = value if len(value) <= 40 else value[:37] + "..."
            known = ", ".join(feature.categories[:8])
            more = ", ..." if len(feature.categories) > 8 else ""
            raise ProtocolError(
                400,
                f"input {feature.name!r} row {row}: unknown category {shown!r} "
                f"(the model knows {known}{more})",
            )
        counts[feature.name] = count
    return counts


def _columns_from_inputs(
    tensors: list[_Tensor], schema: Schema
) -> tuple[dict[str, list[Any]], int]:
    by_name = {f.name: f for f in schema.features}
    columns: dict[str, list[Any]] = {}
    rows: int | None = None
    for tensor in tensors:
        feature = by_name.get(tensor.name)
        if feature is None:
            raise ProtocolError(
                400,
                f"unknown input {tensor.name!r}; the model takes one input per column: "
                + ", ".join(schema.feature_names)
                + f" (or one 2-D tensor of shape [rows, {len(schema.features)}])",
            )
        if tensor.name in columns:
            raise ProtocolError(400, f"input {tensor.name!r} is given twice")
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise ProtocolError(
                400, f"input {tensor.name!r}: shape {tensor.shape} must be [rows] or [rows, 1]"
            )
        if feature.kind == "numeric" and tensor.datatype == "BYTES":
            raise ProtocolError(
                400,
                f"input {tensor.name!r} is numeric: send a numeric datatype such as FP64, "
                "not BYTES",
            )
        if feature.kind != "numeric" and tensor.datatype not in ("BYTES", "BOOL"):
            raise ProtocolError(
                400,
                f"input {tensor.name!r} is categorical: send datatype BYTES, not {tensor.datatype}",
            )
        n = tensor.shape[0]
        if rows is None:
            rows = n
        elif n != rows:
            raise ProtocolError(
                400, f"input {tensor.name!r} has {n} rows but an earlier input has {rows}"
            )
        where = f"input {tensor.name!r}"
        try:
            if feature.kind == "numeric":
                columns[tensor.name] = numeric_values(tensor.data, tensor.datatype, where)
            else:
                columns[tensor.name] = string_values(tensor.data, tensor.datatype, where)
        except DatatypeError as exc:
            raise ProtocolError(400, exc.message) from None
    missing = [name for name in schema.feature_names if name not in columns]
    if missing:
        raise ProtocolError(
            400,
            "missing input(s): " + ", ".join(missing) + " (send one input per feature column)",
        )
    return columns, rows or 0


def _requested_outputs(raw: Any, schema: Schema) -> tuple[str, ...]:
    if raw is None:
        return schema.output_names
    if not isinstance(raw, list):
        raise ProtocolError(400, "'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    for item in raw:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in schema.output_names:
            raise ProtocolError(
                400,
                f"unknown output {name!r}; this model answers: " + ", ".join(schema.output_names),
            )
        names.append(str(name))
    return tuple(names) or schema.output_names


def _jsonable(values: Any) -> list[Any]:
    """A numpy array (or list) as plain JSON values; NaN becomes null."""
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    return [None if isinstance(v, float) and not math.isfinite(v) else v for v in items]

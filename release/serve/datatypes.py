"""Open Inference Protocol tensor datatypes: what each one may hold, element by element.

The protocol (KServe V2, "Tensor Data Types") gives every tensor one datatype: ``BOOL``
holds JSON booleans, ``INT*``/``UINT*`` integers within the type's range (unsigned ones
never negative), ``FP*`` numbers (finite here: no model accepts infinity) and ``BYTES``
strings. ``null`` stands for a missing value in any column, as the model's pipeline
imputes it. Two documented exceptions: a categorical column also takes numeric codes in
``BYTES`` (``2``, ``2.0`` and ``"2"`` are one category, as training reads them; never
booleans or objects), and the mixed table, a ``BYTES`` tensor of shape ``[rows,
n_features]``, carries numbers in its numeric columns, since JSON has no way to send a
heterogeneous row otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from release.data.schema import category_label

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
FLOAT_LIMITS: dict[str, float] = {
    "FP16": 65504.0,
    "FP32": 3.4028234663852886e38,
    "FP64": 1.7976931348623157e308,
}
NUMERIC_DATATYPES = frozenset({"BOOL", *INTEGER_RANGES, *FLOAT_LIMITS})
DATATYPES = NUMERIC_DATATYPES | {"BYTES"}


class DatatypeError(ValueError):
    """One element does not fit its tensor's datatype; ``message`` names it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def numeric_values(values: list[Any], datatype: str, where: str) -> list[Any]:
    """Check ``values`` against a numeric ``datatype``; BOOL becomes 0/1 for the model.

    ``where`` names the input (``input 'age'``); the row number is added to it.
    """
    if datatype == "BOOL":
        out: list[Any] = []
        for i, v in enumerate(values):
            if v is not None and type(v) is not bool:
                raise DatatypeError(f"{where} row {i}: {_show(v)} is not a boolean (true/false)")
            out.append(None if v is None else int(v))
        return out
    bounds = INTEGER_RANGES.get(datatype)
    if bounds is not None:
        low, high = bounds
        for i, v in enumerate(values):
            if v is None:
                continue
            if type(v) is not int:
                raise DatatypeError(
                    f"{where} row {i}: {_show(v)} is not an integer ({datatype} holds integers)"
                )
            if not low <= v <= high:
                raise DatatypeError(
                    f"{where} row {i}: {_show(v)} is out of range for {datatype} ({low} to {high})"
                )
        return values
    limit = FLOAT_LIMITS[datatype]
    for i, v in enumerate(values):
        check_number(v, limit, datatype, f"{where} row {i}")
    return values


def check_number(v: Any, limit: float, datatype: str, where: str) -> None:
    """One FP element: a finite JSON number within ``limit`` (or null)."""
    kind = type(v)
    if kind is float:
        if not math.isfinite(v):
            raise DatatypeError(f"{where}: {v} is not a finite number")
        if abs(v) > limit:
            raise DatatypeError(f"{where}: {_show(v)} is too large for {datatype}")
    elif kind is int:
        if abs(v) > limit:
            raise DatatypeError(f"{where}: the integer is too large for {datatype}")
    elif v is not None:
        raise DatatypeError(f"{where}: {_show(v)} is not a number ({datatype} holds numbers)")


def string_values(values: list[Any], datatype: str, where: str) -> list[Any]:
    """Values of a categorical column: BYTES strings, or BOOL as "True"/"False"."""
    if datatype == "BOOL":
        out: list[Any] = []
        for i, v in enumerate(values):
            if v is not None and type(v) is not bool:
                raise DatatypeError(f"{where} row {i}: {_show(v)} is not a boolean (true/false)")
            out.append(None if v is None else str(v))  # the spelling training used (str(True))
        return out
    out = values
    for i, v in enumerate(values):
        if v is None or type(v) is str:
            continue
        if type(v) is int or (type(v) is float and math.isfinite(v)):
            if out is values:
                out = list(values)
            out[i] = code_label(v)
            continue
        raise DatatypeError(f"{where} row {i}: {_show(v)} is not a category (BYTES holds strings)")
    return out


def code_label(value: int | float) -> str:
    """A numeric category code as training stores it: 2 and 2.0 are both ``"2"``.

    It is ``release.data.schema.category_label`` (one spelling of a code whether it came
    from a CSV, a Parquet split or a request); callers have refused NaN already.
    """
    return str(category_label(value))


def unknown_categories(
    values: list[Any], known: frozenset[str]
) -> tuple[int, tuple[int, str] | None]:
    """How many values lie outside ``known``, and the first such (row, value)."""
    count = 0
    first: tuple[int, str] | None = None
    for i, v in enumerate(values):
        if v is not None and v not in known:
            count += 1
            if first is None:
                first = (i, v)
    return count, first


def _show(v: Any) -> str:
    """A short repr: a hostile client may send megabyte-long values."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."

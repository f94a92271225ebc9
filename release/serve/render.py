"""Compact JSON for V2 answers, byte for byte what Starlette's ``JSONResponse`` renders.

Long lists are encoded a piece at a time: each ``json.dumps`` call holds the GIL, and
pieces of a few thousand elements keep every hold to about a millisecond, so a large
answer rendered on a thread of the serving process leaves the event loop answering.
The large-request worker process (:mod:`release.serve.offload_worker`) renders with the
same function, so both paths give the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

_PIECE = 8192  # list elements per json.dumps call


def render_json(value: Any) -> str:
    """Compact JSON like Starlette's, with long lists encoded a piece at a time."""
    if isinstance(value, dict):
        items = (f"{_dumps(str(k))}:{render_json(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list) and len(value) > _PIECE:
        pieces = (_dumps(value[i : i + _PIECE])[1:-1] for i in range(0, len(value), _PIECE))
        return "[" + ",".join(pieces) + "]"
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return "[" + ",".join(render_json(v) for v in value) + "]"
    return _dumps(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

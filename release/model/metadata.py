"""The contract of ``models/model.json``: a JSON schema, checked wherever the file is read.

``release train`` writes the file; serving, evaluation and verification read it, and a
file from another commit or another hand may be anything. :func:`check_metadata` turns
every deviation into one ``ModelError`` line naming the field (``features: 'x' is not
of type 'array'``) instead of a TypeError three modules later. Fields beyond these are
allowed, so newer writers stay readable.
"""

from __future__ import annotations

import collections
from typing import Any

from release.errors import ModelError

MAX_METADATA_BYTES = 16 * 1024 * 1024
_NAME = {"type": "string", "minLength": 1, "maxLength": 256}
_LABEL = {"type": ["string", "integer", "number", "boolean"]}

METADATA_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "release model metadata (models/model.json)",
    "type": "object",
    "required": ["features"],
    "properties": {
        "name": _NAME,
        "task": {"enum": ["binary", "multiclass", "regression"]},
        "target": _NAME,
        "features": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10_000,
            "items": {
                "type": "object",
                "required": ["name", "kind"],
                "properties": {
                    "name": _NAME,
                    "kind": {"enum": ["numeric", "categorical"]},
                    "dtype": {"type": "string", "maxLength": 64},
                    "categories": {
                        "type": ["array", "null"],
                        "maxItems": 100_000,
                        "items": {"type": "string", "maxLength": 10_000},
                    },
                },
            },
        },
        "classes": {"type": ["array", "null"], "maxItems": 100_000, "items": _LABEL},
        "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
        "estimator": {"type": "string"},
        "estimator_class": {"type": "string"},
        "hyperparameters": {"type": "object"},
        "model_file": {"type": "string"},
        "format": {"type": "string"},
        "trained_at": {"type": "string"},
        "training_seconds": {"type": "number", "minimum": 0},
        "train_rows": {"type": "integer", "minimum": 0},
        "packages": {"type": "object"},
        "serving_form": {"type": ["object", "null"]},
    },
}


def check_metadata(meta: Any, where: str) -> dict[str, Any]:
    """Validate parsed model metadata against :data:`METADATA_SCHEMA`; return it."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(METADATA_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(meta))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "top level"
        message = error.message if len(error.message) <= 160 else error.message[:157] + "..."
        raise ModelError(
            f"{where} is not valid model metadata: {field}: {message}",
            "re-run `release train`, which writes it",
        )
    counts = collections.Counter(f["name"] for f in meta["features"])
    twice = sorted(name for name, n in counts.items() if n > 1)
    if twice:
        raise ModelError(
            f"{where} is not valid model metadata: features name {', '.join(twice)} twice",
            "re-run `release train`, which writes it",
        )
    return dict(meta)

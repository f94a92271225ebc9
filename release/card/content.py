"""Hand-written card content from ``card.yaml``, with marked placeholders for the gaps.

A person writes intended use, out-of-scope uses, ethical considerations, caveats,
authors and license; the build only reads this file, so regeneration never loses it.
A missing or empty field becomes ``[TODO: ...]``, which ``release card check`` rejects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from release.cardspec import PLACEHOLDER_PREFIX
from release.errors import ConfigError, UsageError
from release.strict_yaml import load_yaml

# field -> what a person should write there (shown in the placeholder)
TEXT_FIELDS: dict[str, str] = {
    "description": "describe the model in two or three sentences",
    "primary_uses": "the intended uses of the model",
    "primary_users": "who is meant to use the model",
    "out_of_scope": "uses the model is not meant for",
    "factors": "the groups, conditions and instruments that affect performance",
    "ethical_considerations": "risks, sensitive data, harms and how they are mitigated",
    "caveats": "known limitations and conditions where the model should not be trusted",
    "recommendations": "recommendations for users and future work",
    "license": "the license identifier, e.g. apache-2.0",
    "contact": "where to send questions or report problems",
}
LIST_FIELDS: dict[str, str] = {
    "authors": "the people or team responsible for the model",
    "tags": "",
    "datasets": "",
}
OPTIONAL = frozenset({"factors", "contact", "tags", "datasets", "citation", "model_name"})
ALLOWED = frozenset(TEXT_FIELDS) | frozenset(LIST_FIELDS) | {"citation", "model_name"}


def placeholder(field: str) -> str:
    """The marked placeholder text for a missing hand-written field."""
    hint = TEXT_FIELDS.get(field) or LIST_FIELDS.get(field) or field
    return f"{PLACEHOLDER_PREFIX}: {hint} (edit card.yaml: {field})]"


def load_content(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``card.yaml`` (a missing file gives every field as a placeholder)."""
    path = Path(path)
    raw: Any = {}
    if path.is_file():
        # Hand-edited: read as settings files are (no tags, no duplicate keys, bounded
        # aliases, nesting and size), with the card's own error class.
        try:
            raw = load_yaml(path) or {}
        except ConfigError as exc:
            raise UsageError(exc.what, exc.fix) from None
    if not isinstance(raw, dict):
        raise UsageError(f"{path} must be a mapping of fields", "see the fields in card.yaml")
    unknown = sorted(set(map(str, raw)) - ALLOWED)
    if unknown:
        raise UsageError(
            f"{path}: unknown field {unknown[0]}", "allowed fields: " + ", ".join(sorted(ALLOWED))
        )
    return normalize_content(raw, source=str(path))


def normalize_content(raw: dict[str, Any], source: str = "card.yaml") -> dict[str, Any]:
    """Coerce types and fill gaps with placeholders; optional fields stay empty."""
    out: dict[str, Any] = {}
    for field in TEXT_FIELDS:
        value = raw.get(field)
        if value is not None and not isinstance(value, str | int | float):
            raise UsageError(f"{source}: {field} must be text", "write it as a YAML string")
        text = str(value).strip() if value is not None else ""
        out[field] = text if text else ("" if field in OPTIONAL else placeholder(field))
    for field in LIST_FIELDS:
        value = raw.get(field)
        if value is None:
            items: list[str] = []
        elif isinstance(value, str):
            items = [value]
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            items = [str(v).strip() for v in value if str(v).strip()]
        else:
            raise UsageError(f"{source}: {field} must be a list of text", "write a YAML list")
        out[field] = items if items or field in OPTIONAL else [placeholder(field)]
    citation = raw.get("citation")
    out["citation"] = str(citation).strip() if citation else ""
    name = raw.get("model_name")
    out["model_name"] = str(name).strip() if name else ""
    return out

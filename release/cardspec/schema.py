"""The card's JSON Schema (``release/templates/card/card.schema.json``) and its validation."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from release.errors import CheckFailed
from release.resources import builtin_templates

BUILTIN_TEMPLATES = builtin_templates("card")
SCHEMA_FILE = "card.schema.json"


@cache
def load_schema() -> dict[str, Any]:
    """The built-in card schema."""
    schema: dict[str, Any] = json.loads((BUILTIN_TEMPLATES / SCHEMA_FILE).read_text("utf-8"))
    return schema


def schema_problems(card: Any) -> list[str]:
    """Every schema violation as ``path: message`` (empty when the card is valid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    out = []
    for error in sorted(validator.iter_errors(card), key=lambda e: list(map(str, e.path))):
        where = "/".join(map(str, error.absolute_path)) or "(card)"
        out.append(f"{where}: {error.message}")
    return out


def validate_card(card: Any) -> None:
    """Raise CheckFailed naming the first problems when the card does not match the schema."""
    problems = schema_problems(card)
    if problems:
        more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise CheckFailed(
            "card.json does not match the card schema: " + "; ".join(problems[:3]) + more,
            f"see {BUILTIN_TEMPLATES / SCHEMA_FILE}",
        )

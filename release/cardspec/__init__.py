"""What a complete model card is: its JSON Schema and its completeness rules.

The card part builds cards to this specification and the registry's ``card_complete``
gate checks them against it, so it sits below both (the card reads the registry's
state; the registry's gates read the specification, never the card builder).
"""

from __future__ import annotations

from typing import Any

PLACEHOLDER_PREFIX = "[TODO"

__all__ = ["PLACEHOLDER_PREFIX", "is_placeholder"]


def is_placeholder(value: Any) -> bool:
    """True for a missing value, an empty one, or one that still holds a ``[TODO`` marker."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip() or PLACEHOLDER_PREFIX.lower() in value.lower()
    if isinstance(value, list):
        return not value or any(is_placeholder(v) for v in value)
    return False

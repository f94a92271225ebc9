"""Potential impact: how much the whole test metric could gain by fixing one slice.

``potential impact = max(HLP - model, 0) x share`` (for a lower-is-better metric the
gap is ``model - HLP``). The seed's example: humans 96% HLP, 90% model, 85% of data
-> 5.1%; mountains 65/60/10% -> 0.5%; cars 80/40/1% -> 0.4%; so humans come first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


def potential_impact(
    hlp: float | None, model: float | None, share: float, *, higher_is_better: bool = True
) -> float | None:
    """The share-weighted headroom to human level, or None when either value is unknown."""
    if hlp is None or model is None:
        return None
    headroom = hlp - model if higher_is_better else model - hlp
    return max(headroom, 0.0) * share


@dataclass(frozen=True)
class Candidate:
    """A slice as the ranking sees it."""

    name: str
    impact: float | None
    small: bool


def rank(candidates: Sequence[Candidate]) -> dict[str, int | None]:
    """Rank 1, 2, ... by potential impact (largest first, ties by name).

    Small slices and slices without an impact are reported but not ranked (None).
    """
    ranked = sorted(
        (c for c in candidates if c.impact is not None and not c.small),
        key=lambda c: (-(c.impact or 0.0), c.name),
    )
    order: dict[str, int | None] = {c.name: None for c in candidates}
    for position, c in enumerate(ranked, start=1):
        order[c.name] = position
    return order

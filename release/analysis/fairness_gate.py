"""The fairness gate's decision: the largest gap in ``slices.json`` against a limit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release.analysis.fairness import largest_gap


def decide(fairness: Mapping[str, Any] | None, limit: float) -> tuple[bool, str]:
    """(passed, detail): every gap (demographic parity, equalized odds, accuracy or MAE
    range) of every protected attribute at most ``limit``; no fairness block fails."""
    if not isinstance(fairness, Mapping) or not fairness.get("attributes"):
        return False, (
            "no fairness measurements in slices.json (list the protected attributes in "
            "data.protected and re-run release evaluate)"
        )
    attributes = [a for a in fairness.get("attributes", []) if isinstance(a, Mapping)]
    over = []
    for attr in attributes:
        for key, gap in (attr.get("gaps") or {}).items():
            value = gap.get("value") if isinstance(gap, Mapping) else None
            if isinstance(value, int | float) and value > limit:
                over.append((float(value), f"{attr.get('attribute')} {key} {value:.3g}"))
    worst = largest_gap([dict(a) for a in attributes])
    if over:
        over.sort(reverse=True)
        return False, f"fairness gap over {limit:g}: " + ", ".join(t for _, t in over[:5])
    shown = (
        f"largest {worst['gap']} {worst['value']:.3g} ({worst['attribute']})" if worst else "none"
    )
    return True, f"fairness gaps at most {limit:g}: {shown}"

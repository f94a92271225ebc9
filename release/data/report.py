"""The findings of data validation: one result per rule, and the report that holds them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_TEXT = 60  # characters of a cell value quoted in an example


@dataclass
class RuleResult:
    """The outcome of one rule on one column (or on the whole table)."""

    name: str
    column: str | None
    passed: bool
    observed: Any
    limit: Any
    message: str
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class QualityReport:
    """All rule results for one dataset."""

    dataset: str
    rows: int
    rules: list[RuleResult]

    @property
    def passed(self) -> bool:
        """True when every rule passed."""
        return all(rule.passed for rule in self.rules)

    @property
    def failures(self) -> list[RuleResult]:
        """The rules that failed."""
        return [rule for rule in self.rules if not rule.passed]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (``reports/data_quality.json``)."""
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "passed": self.passed,
            "rules_checked": len(self.rules),
            "rules_failed": len(self.failures),
            "rules": [asdict(rule) for rule in self.rules],
        }

    def summary(self) -> str:
        """A short human-readable summary: counts, then one line per failed rule."""
        head = (
            f"{self.dataset}: {self.rows} rows, {len(self.rules)} rules, "
            f"{len(self.failures)} failed"
        )
        lines = [head]
        for rule in self.failures:
            where = f" [{rule.column}]" if rule.column else ""
            lines.append(f"  FAIL {rule.name}{where}: {rule.message}")
            for example in rule.examples[:3]:
                lines.append(f"       e.g. {example}")
        return "\n".join(lines)


def plain(value: Any) -> Any:
    """A cell value as JSON can hold it (NaN as null, long text cut short)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "+inf" if value > 0 else "-inf"  # JSON has no infinity
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "..."
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def locate(label: Any) -> dict[str, Any]:
    """Where a row is: ``{"split": "test", "row": 12}`` for a (split, row) index label."""
    if isinstance(label, tuple) and len(label) == 2:
        return {"split": str(label[0]), "row": int(label[1])}
    return {"row": int(label)}


def examples(df: Any, mask: Any, column: str | None, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` offending rows: where they are and, for a column rule, the value."""
    rows = df.index[mask][:limit]
    if column is None:
        return [locate(i) for i in rows]
    return [{**locate(i), "value": plain(df.at[i, column])} for i in rows]

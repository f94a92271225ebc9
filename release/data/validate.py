"""Data quality rules from ``params.yaml``: one code path for training data and batches.

Each rule yields a :class:`RuleResult` with what was observed, the limit, and a few
offending rows, so a failed pipeline says exactly what is wrong with the data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from release.config import Settings


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


def validate_frame(
    df: Any,
    settings: Settings,
    *,
    train: Any = None,
    test: Any = None,
    require_target: bool = True,
    dataset: str = "data",
) -> QualityReport:
    """Apply every quality rule to ``df``; with train and test, also leakage and coverage."""
    rules: list[RuleResult] = []
    rules += _rows(df, settings)
    rules += _required(df, settings, require_target, with_annotators=train is not None)
    rules += _dtypes(df, settings)
    rules += _nulls(df, settings)
    rules += _ranges(df, settings)
    rules += _categories(df, settings)
    rules += _duplicates(df, settings)
    if require_target or settings.data.target in df.columns:
        rules += _target(df, settings)
    if train is not None and test is not None:
        rules += _leakage(train, test, settings)
        rules += _coverage(train, test, settings)
    return QualityReport(dataset=dataset, rows=len(df), rules=rules)


# ---------------------------------------------------------------------------- rules
def _examples(df: Any, mask: Any, column: str | None, settings: Settings) -> list[dict[str, Any]]:
    rows = df.index[mask][: settings.validate.max_examples]
    if column is None:
        return [{"row": int(i)} for i in rows]
    return [{"row": int(i), "value": _plain(df.at[i, column])} for i in rows]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def _rows(df: Any, settings: Settings) -> list[RuleResult]:
    limit = settings.validate.min_rows
    n = len(df)
    return [RuleResult("min_rows", None, n >= limit, n, limit, f"{n} rows (minimum {limit})")]


def _expected_columns(settings: Settings, df: Any) -> list[str]:
    data = settings.data
    if data.features == "all":
        declared = list(settings.validate.dtypes)
    else:
        declared = list(data.features) + list(settings.validate.dtypes)
    declared += list(settings.validate.ranges) + list(settings.validate.categories)
    return list(dict.fromkeys(c for c in declared if c != data.target))


def _required(
    df: Any, settings: Settings, require_target: bool, with_annotators: bool
) -> list[RuleResult]:
    wanted = _expected_columns(settings, df)
    if require_target:
        wanted.append(settings.data.target)
    if with_annotators:
        wanted += list(settings.data.annotators)
    missing = [c for c in wanted if c not in df.columns]
    return [
        RuleResult(
            "required_columns",
            None,
            not missing,
            missing,
            wanted,
            "all present" if not missing else "missing: " + ", ".join(missing),
        )
    ]


def _dtypes(df: Any, settings: Settings) -> list[RuleResult]:
    import pandas as pd

    out = []
    for col, kind in settings.validate.dtypes.items():
        if col not in df.columns:
            continue
        series = df[col]
        ok = True
        mask = None
        if kind in ("numeric", "integer"):
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                converted = pd.to_numeric(series, errors="coerce")
                mask = series.notna() & converted.isna()
                ok = False
            elif kind == "integer":
                values = series.dropna()
                mask = series.notna() & (series != series.round())
                ok = bool((values == values.round()).all())
        elif kind == "categorical":
            ok = not pd.api.types.is_float_dtype(series)
        elif kind == "bool":
            ok = pd.api.types.is_bool_dtype(series) or set(series.dropna().unique()) <= {0, 1}
        observed = str(series.dtype)
        examples = _examples(df, mask, col, settings) if mask is not None and not ok else []
        message = f"dtype {observed} is {kind}" if ok else f"dtype {observed} is not {kind}"
        if examples:
            message += f" (e.g. row {examples[0]['row']} holds {examples[0]['value']!r})"
        out.append(RuleResult("dtype", col, ok, observed, kind, message, examples))
    return out


def _nulls(df: Any, settings: Settings) -> list[RuleResult]:
    out = []
    n = max(len(df), 1)
    for col in df.columns:
        col = str(col)
        limit = (
            0.0
            if col == settings.data.target
            else settings.validate.null_rate.get(col, settings.validate.max_null_rate)
        )
        mask = df[col].isna()
        rate = float(mask.sum()) / n
        ok = rate <= limit
        message = f"null rate {rate:.2%} (max {limit:.2%})"
        examples = _examples(df, mask, None, settings) if not ok else []
        out.append(RuleResult("null_rate", col, ok, round(rate, 6), limit, message, examples))
    return out


def _ranges(df: Any, settings: Settings) -> list[RuleResult]:
    import pandas as pd

    out = []
    for col, (low, high) in settings.validate.ranges.items():
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        mask = pd.Series(False, index=df.index)
        if low is not None:
            mask |= values < low
        if high is not None:
            mask |= values > high
        bad = int(mask.sum())
        observed = [_plain(values.min()), _plain(values.max())]
        message = f"{bad} values outside [{low}, {high}] (observed {observed[0]}..{observed[1]})"
        out.append(
            RuleResult(
                "range",
                col,
                bad == 0,
                observed,
                [low, high],
                message,
                _examples(df, mask, col, settings) if bad else [],
            )
        )
    return out


def _categories(df: Any, settings: Settings) -> list[RuleResult]:
    out = []
    for col, allowed in settings.validate.categories.items():
        if col not in df.columns:
            continue
        series = df[col]
        mask = series.notna() & ~series.astype(str).isin([str(a) for a in allowed])
        unknown = sorted({str(v) for v in series[mask].unique()})
        message = (
            "all values allowed" if not unknown else "unknown values: " + ", ".join(unknown[:10])
        )
        out.append(
            RuleResult(
                "categories",
                col,
                not unknown,
                unknown,
                allowed,
                message,
                _examples(df, mask, col, settings) if unknown else [],
            )
        )
    return out


def _duplicates(df: Any, settings: Settings) -> list[RuleResult]:
    if len(df) == 0:
        return []
    mask = df.duplicated(keep="first")
    rate = float(mask.mean())
    limit = settings.validate.max_duplicate_rate
    return [
        RuleResult(
            "duplicates",
            None,
            rate <= limit,
            round(rate, 6),
            limit,
            f"{int(mask.sum())} duplicate rows ({rate:.2%}, max {limit:.2%})",
            _examples(df, mask, None, settings) if rate > limit else [],
        )
    ]


def _target(df: Any, settings: Settings) -> list[RuleResult]:
    target = settings.data.target
    if target not in df.columns:
        return [RuleResult("target", target, False, None, None, f"target {target!r} is absent")]
    values = df[target].dropna()
    distinct = int(values.nunique())
    ok = distinct >= 2
    return [
        RuleResult(
            "target",
            target,
            ok,
            distinct,
            ">= 2 distinct values",
            f"{distinct} distinct values" + ("" if ok else " (constant target: nothing to learn)"),
        )
    ]


def _row_keys(frame: Any, columns: list[str]) -> Any:
    import pandas as pd

    return pd.util.hash_pandas_object(frame[columns], index=False)


def _leakage(train: Any, test: Any, settings: Settings) -> list[RuleResult]:
    skip = set(settings.data.annotators)
    columns = [c for c in train.columns if c in test.columns and c not in skip]
    train_keys = set(_row_keys(train, columns).tolist())
    mask = _row_keys(test, columns).isin(train_keys)
    count = int(mask.sum())
    limit = settings.validate.max_leakage_rows
    return [
        RuleResult(
            "leakage",
            None,
            count <= limit,
            count,
            limit,
            f"{count} test rows also in train (max {limit})",
            _examples(test, mask, None, settings) if count > limit else [],
        )
    ]


def _coverage(train: Any, test: Any, settings: Settings) -> list[RuleResult]:
    out = []
    limit = settings.validate.min_slice_rows
    columns = list(dict.fromkeys([*settings.data.slice_columns, *settings.data.protected]))
    for col in columns:
        if col not in train.columns or col not in test.columns:
            continue
        values = settings.validate.categories.get(col)
        if values is None:
            values = sorted(
                {str(v) for v in train[col].dropna()} | {str(v) for v in test[col].dropna()}
            )
        train_counts = train[col].astype(str).value_counts()
        test_counts = test[col].astype(str).value_counts()
        short = {}
        for value in values:
            counts = (int(train_counts.get(str(value), 0)), int(test_counts.get(str(value), 0)))
            if min(counts) < limit:
                short[str(value)] = {"train": counts[0], "test": counts[1]}
        message = (
            f"every value has >= {limit} rows in train and test"
            if not short
            else "too few rows for: "
            + ", ".join(f"{v} (train {c['train']}, test {c['test']})" for v, c in short.items())
        )
        out.append(RuleResult("coverage", col, not short, short, limit, message))
    return out

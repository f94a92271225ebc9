"""Data quality rules from ``params.yaml``: one code path for training data and batches.

Each rule yields a :class:`RuleResult` with what was observed, the limit, and a few
offending rows, so a failed pipeline says exactly what is wrong with the data.
"""

from __future__ import annotations

from typing import Any

from release.config import Settings
from release.data import report, rows
from release.data.report import QualityReport, RuleResult, plain
from release.data.schema import category_label

__all__ = ["QualityReport", "RuleResult", "validate_frame"]


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
    rules += _finite(df, settings)
    rules += _nulls(df, settings)
    rules += _ranges(df, settings)
    rules += _categories(df, settings)
    rules += rows.duplicates(df, settings, train, test)
    if require_target or settings.data.target in df.columns:
        rules += _target(df, settings)
    if train is not None and test is not None:
        rules += rows.leakage(train, test, settings)
        rules += _coverage(train, test, settings)
    return QualityReport(dataset=dataset, rows=len(df), rules=rules)


# ---------------------------------------------------------------------------- rules
def _examples(df: Any, mask: Any, column: str | None, settings: Settings) -> list[dict[str, Any]]:
    return report.examples(df, mask, column, settings.validate.max_examples)


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
            # Numeric codes (sex 1/2, read as 1.0/2.0 when a value is missing) are
            # categories; a fractional value means a measurement declared by mistake.
            if pd.api.types.is_float_dtype(series):
                mask = series.notna() & (series != series.round())
                ok = not bool(mask.any())
        elif kind == "bool":
            ok = pd.api.types.is_bool_dtype(series) or set(series.dropna().unique()) <= {0, 1}
        observed = str(series.dtype)
        examples = _examples(df, mask, col, settings) if mask is not None and not ok else []
        message = f"dtype {observed} is {kind}" if ok else f"dtype {observed} is not {kind}"
        if examples:
            message += f" (e.g. row {examples[0]['row']} holds {examples[0]['value']!r})"
        out.append(RuleResult("dtype", col, ok, observed, kind, message, examples))
    return out


def _finite(df: Any, settings: Settings) -> list[RuleResult]:
    """Numeric columns hold finite numbers: +inf/-inf break every estimator."""
    import numpy as np
    import pandas as pd

    out = []
    for col in df.columns:
        series = df[col]
        if not pd.api.types.is_float_dtype(series):
            continue  # integers cannot be infinite; text is the dtype rule's business
        mask = pd.Series(np.isinf(series.to_numpy(dtype="float64", na_value=np.nan)), df.index)
        bad = int(mask.sum())
        if not bad:
            continue  # one result per offending column keeps wide tables' reports short
        signs = sorted({"+inf" if v > 0 else "-inf" for v in series[mask]})
        message = f"{bad} non-finite values ({', '.join(signs)})"
        out.append(
            RuleResult(
                "finite", str(col), False, bad, 0, message, _examples(df, mask, str(col), settings)
            )
        )
    passed = RuleResult("finite", None, True, 0, 0, "every numeric value is finite")
    return out or [passed]


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
        observed = [plain(values.min()), plain(values.max())]
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
        labels = series.astype(object).map(category_label)
        mask = series.notna() & ~labels.isin([str(a) for a in allowed])
        unknown = sorted({str(v) for v in labels[mask].unique()})
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


def _coverage(train: Any, test: Any, settings: Settings) -> list[RuleResult]:
    out = []
    limit = settings.validate.min_slice_rows
    columns = list(dict.fromkeys([*settings.data.slice_columns, *settings.data.protected]))
    for col in columns:
        if col not in train.columns or col not in test.columns:
            continue
        values = settings.validate.categories.get(col)
        train_labels = train[col].dropna().astype(object).map(category_label)
        test_labels = test[col].dropna().astype(object).map(category_label)
        if values is None:
            values = sorted(set(train_labels) | set(test_labels))
        train_counts = train_labels.value_counts()
        test_counts = test_labels.value_counts()
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

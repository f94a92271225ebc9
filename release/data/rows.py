"""Rules about whole rows: exact duplicates in the data, and train/test leakage.

The two are kept apart on purpose. An exact duplicate (every column equal) is a fact of
the source: it is counted once, with where its first copy is, and ``data.deduplicate``
drops it at prepare. Leakage is a test row whose *features* (the key columns) equal a
train row's while the rows are not exact copies: the same input seen on both sides of
the split under another label, ID or annotation.
"""

from __future__ import annotations

from typing import Any

from release.config import Settings
from release.data.report import RuleResult, locate, plain
from release.data.schema import feature_names

MAX_KEY_COLUMNS = 8  # key columns shown per leakage example


def row_keys(frame: Any, columns: list[str]) -> Any:
    """One 64-bit hash per row over ``columns`` (the frame's index kept)."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame[columns], index=False)


def duplicates(
    df: Any, settings: Settings, train: Any = None, test: Any = None
) -> list[RuleResult]:
    """Exact duplicate rows: how many, in how many groups, and how many cross the split."""
    if len(df) == 0:
        return []
    keys = row_keys(df, [str(c) for c in df.columns])
    mask = keys.duplicated(keep="first")
    count = int(mask.sum())
    groups = int(keys[mask].nunique())
    rate = count / len(df)
    limit = settings.validate.max_duplicate_rate
    observed: dict[str, Any] = {"rows": count, "groups": groups, "rate": round(rate, 6)}
    message = f"{count} exact duplicate rows ({rate:.2%}, max {limit:.2%})"
    if count:
        message += f" in {groups} groups"
    if train is not None and test is not None:
        shared = [c for c in train.columns if c in test.columns]
        across = int(row_keys(test, shared).isin(set(row_keys(train, shared).tolist())).sum())
        observed["across_splits"] = across
        if across:
            message += f"; {across} test rows repeat a train row"
    if count:
        message += "; data.deduplicate: true drops them at prepare"
    found = []
    if rate > limit:
        first = _first_rows(keys)
        for label in df.index[mask][: settings.validate.max_examples]:
            found.append({**locate(label), "same_as": locate(first[keys[label]])})
    return [RuleResult("duplicates", None, rate <= limit, observed, limit, message, found)]


def leakage(train: Any, test: Any, settings: Settings) -> list[RuleResult]:
    """Test rows whose key columns (the features) equal a train row's, exact copies aside."""
    shared = [c for c in train.columns if c in test.columns]
    key = [c for c in feature_names(settings, [str(c) for c in train.columns]) if c in shared]
    if not key:
        return []
    train_keys = row_keys(train, key)
    test_keys = row_keys(test, key)
    exact = row_keys(test, shared).isin(set(row_keys(train, shared).tolist()))
    mask = test_keys.isin(set(train_keys.tolist())) & ~exact
    count = int(mask.sum())
    copies = int(exact.sum())
    limit = settings.validate.max_leakage_rows
    message = f"{count} test rows have the key columns of a train row (max {limit})"
    if copies:
        message += f"; {copies} exact copies of train rows are counted under duplicates"
    found = []
    if count > limit:
        first = _first_rows(train_keys)
        for label in test.index[mask.to_numpy()][: settings.validate.max_examples]:
            values = {c: plain(test.at[label, c]) for c in key[:MAX_KEY_COLUMNS]}
            if len(key) > MAX_KEY_COLUMNS:
                values["..."] = f"{len(key) - MAX_KEY_COLUMNS} more key columns"
            found.append(
                {
                    "split": "test",
                    "row": int(label),
                    "train_row": int(first[test_keys[label]]),
                    "key": values,
                }
            )
    observed = {"rows": count, "exact_copies": copies, "key_columns": key}
    return [RuleResult("leakage", None, count <= limit, observed, limit, message, found)]


def _first_rows(keys: Any) -> Any:
    """Hash -> index label of the first row with that hash."""
    import pandas as pd

    labels = pd.Series(list(keys.index), index=keys.to_numpy())
    return labels[~labels.index.duplicated(keep="first")]

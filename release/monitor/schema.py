"""The batch's schema against the reference: each difference is a finding, per column.

- ``missing_feature``: a model feature is not in the batch. The feed is broken: the
  model cannot score these rows, so the command fails whatever the drift result.
- ``unexpected_column``: a column the reference does not know (neither a feature nor
  the target); reported, not fatal.
- ``dtype_changed``: a numeric feature arrives with values that are not numbers, or a
  categorical feature arrives numeric where the reference held text.
- ``unseen_categories``: categories of a categorical feature the reference never saw,
  with their share of the batch's values. Above ``monitor.drift.max_unseen_rate`` the
  column counts as drifted (see :mod:`release.monitor.drift`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from release.reference.refs import CategoricalRef, NumericRef, Reference, is_numeric

if TYPE_CHECKING:
    import pandas as pd

SHOWN = 5


@dataclass(frozen=True)
class Finding:
    """One schema difference of one column."""

    column: str
    kind: str  # missing_feature | unexpected_column | dtype_changed | unseen_categories
    detail: str
    rate: float | None = None
    values: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def unseen_share(ref: CategoricalRef, current: pd.Series) -> tuple[float, list[str]]:
    """Share of the batch's non-missing values that are unseen categories, and which."""
    from release.reference.refs import value_counts

    counts = value_counts(current)
    total = sum(counts.values())
    unseen = {k: v for k, v in counts.items() if k not in ref.counts}
    if not total:
        return 0.0, []
    ordered = sorted(unseen, key=lambda k: (-unseen[k], k))
    return sum(unseen.values()) / total, ordered


def findings(
    reference: Reference, batch: pd.DataFrame, model_features: list[str] | None = None
) -> list[Finding]:
    """Every schema finding of ``batch``, features first, in reference order."""
    import pandas as pd

    features = list(model_features or reference.features)
    out: list[Finding] = []
    for name in features:
        if name not in batch.columns:
            out.append(Finding(name, "missing_feature", "model feature missing from the batch"))
            continue
        ref = reference.columns.get(name)
        series = batch[name]
        if isinstance(ref, NumericRef):
            present = series.notna()
            bad = int((present & pd.to_numeric(series, errors="coerce").isna()).sum())
            if bad:
                example = str(
                    series[present & pd.to_numeric(series, errors="coerce").isna()].iloc[0]
                )
                out.append(
                    Finding(
                        name,
                        "dtype_changed",
                        f"numeric in the reference; {bad} values are not numbers "
                        f"(e.g. {example[:40]!r})",
                        rate=bad / max(int(present.sum()), 1),
                    )
                )
        elif isinstance(ref, CategoricalRef):
            if is_numeric(series) and ref.counts and not _numeric_keys(ref):
                out.append(
                    Finding(
                        name, "dtype_changed", f"categorical in the reference, {series.dtype} now"
                    )
                )
            rate, unseen = unseen_share(ref, series)
            if unseen:
                shown = ", ".join(unseen[:SHOWN]) + (" ..." if len(unseen) > SHOWN else "")
                out.append(
                    Finding(
                        name,
                        "unseen_categories",
                        f"{len(unseen)} unseen categories ({rate:.1%} of values): {shown}",
                        rate=rate,
                        values=unseen[:SHOWN],
                    )
                )
    known = set(features) | set(reference.features)
    if reference.target:
        known.add(reference.target)
    for column in batch.columns:
        if str(column) not in known:
            out.append(
                Finding(str(column), "unexpected_column", "not a model feature or the target")
            )
    return out


def _numeric_keys(ref: CategoricalRef) -> bool:
    """True when the reference's categories are all numbers written as text."""
    try:
        for key in ref.counts:
            float(key)
    except ValueError:
        return False
    return True


def broken_feed(found: list[Finding]) -> list[str]:
    """The missing model features: a non-empty list means the feed is broken."""
    return [f.column for f in found if f.kind == "missing_feature"]

"""The slice-regression decision: which slices lost more than a limit, and how each was judged.

Every slice present in both versions' ``slices.json`` is judged; none is dropped for its
size. A slice with at least ``min_slice_size`` rows on both sides is judged by
**interval**: the loss must exceed the limit and the baseline's value must lie outside
the candidate's interval (Wilson for accuracy, so retraining noise on a mid-sized slice
does not block a promotion). A *small* slice with a proportion metric (accuracy) is
judged by an **exact** test: the loss must exceed the limit and Fisher's one-sided exact
test must find the candidate's share of correct rows lower at ``1 - confidence``. A small
slice whose metric is not a proportion falls back to its interval and is listed as small.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from release.stats import proportions

PROPORTION_METRICS = frozenset({"accuracy"})


@dataclass(frozen=True)
class SliceJudgement:
    """One slice's comparison: the numbers and the method that decided it."""

    name: str
    method: str  # interval | exact
    small: bool
    baseline: float
    candidate: float
    loss: float
    regressed: bool
    p_value: float | None = None

    def describe(self) -> str:
        """``name -0.25 (small, exact p=0.01)`` for gate output."""
        how = f"exact p={self.p_value:.2g}" if self.method == "exact" else "interval"
        return f"{self.name} -{self.loss:.4g} ({'small, ' if self.small else ''}{how})"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _rows(entry: Mapping[str, Any]) -> int | None:
    rows = entry.get("rows")
    return rows if isinstance(rows, int) and not isinstance(rows, bool) and rows > 0 else None


def judge_slice(
    name: str,
    cand: Mapping[str, Any],
    old: Mapping[str, Any],
    limit: float,
    *,
    metric: str,
    higher: bool,
    confidence: float,
) -> SliceJudgement | None:
    """Judge one slice of the candidate against the same slice of the baseline."""
    new_value, old_value = _number(cand.get("metric")), _number(old.get("metric"))
    if new_value is None or old_value is None:
        return None
    small = bool(cand.get("small") or old.get("small"))
    loss = old_value - new_value if higher else new_value - old_value
    n_new, n_old = _rows(cand), _rows(old)
    if small and metric in PROPORTION_METRICS and n_new and n_old:
        hits_new = min(n_new, max(0, round(new_value * n_new)))
        hits_old = min(n_old, max(0, round(old_value * n_old)))
        p = proportions.fisher_greater(hits_old, n_old, hits_new, n_new)
        regressed = loss > limit and p < 1 - confidence
        return SliceJudgement(name, "exact", True, old_value, new_value, loss, regressed, p)
    bound = _number(cand.get("ci_high") if higher else cand.get("ci_low"))
    outside = bound is None or (bound < old_value if higher else bound > old_value)
    regressed = loss > limit and outside
    return SliceJudgement(name, "interval", small, old_value, new_value, loss, regressed)


def judge_slices(
    candidate: Mapping[str, Any], baseline: Mapping[str, Any], limit: float
) -> list[SliceJudgement]:
    """Every slice of both ``slices.json`` documents, judged (candidate order)."""
    higher = bool(candidate.get("higher_is_better", True))
    metric = str(candidate.get("primary_metric", ""))
    confidence = _number(candidate.get("confidence")) or 0.95
    base = {s.get("name"): s for s in baseline.get("slices", []) or [] if isinstance(s, Mapping)}
    out: list[SliceJudgement] = []
    for entry in candidate.get("slices", []) or []:
        if not isinstance(entry, Mapping) or entry.get("name") not in base:
            continue
        found = judge_slice(
            str(entry.get("name")),
            entry,
            base[entry.get("name")],
            limit,
            metric=metric,
            higher=higher,
            confidence=confidence,
        )
        if found is not None:
            out.append(found)
    return out


def summarise(judged: list[SliceJudgement], limit: float, baseline: str) -> tuple[bool, str]:
    """(passed, one line naming how the slices were judged and the worst regressions)."""
    by_interval = sum(j.method == "interval" and not j.small for j in judged)
    small_exact = sum(j.method == "exact" for j in judged)
    small_interval = sum(j.method == "interval" and j.small for j in judged)
    how = [f"{by_interval} by interval"]
    if small_exact:
        how.append(f"{small_exact} small by exact test")
    if small_interval:
        how.append(f"{small_interval} small by interval")
    judged_as = f"{len(judged)} slices judged: " + ", ".join(how)
    worst = sorted((j for j in judged if j.regressed), key=lambda j: (-j.loss, j.name))
    if not worst:
        return True, f"no slice regresses more than {limit:g} vs {baseline} ({judged_as})"
    listed = ", ".join(j.describe() for j in worst[:5])
    more = f" and {len(worst) - 5} more" if len(worst) > 5 else ""
    return False, (
        f"{len(worst)} slice(s) regress more than {limit:g} vs {baseline}: {listed}{more}"
        f" ({judged_as})"
    )


def decide(
    candidate: Mapping[str, Any], baseline: Mapping[str, Any], limit: float, baseline_name: str
) -> tuple[bool, str]:
    """The gate's answer: judge every slice, then summarise (passed, detail)."""
    return summarise(judge_slices(candidate, baseline, limit), limit, baseline_name)

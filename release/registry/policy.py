"""Promotion policy: gates checked before a stage is assigned.

Gates come from ``release.policy[stage]`` in ``params.yaml``:

- ``requires``: the version must hold an active assignment to that stage first
  (no prod before staging);
- ``min_metrics`` / ``max_metrics``: floors and ceilings on ``reports/metrics.json``;
- ``max_slice_regression``: no slice of ``reports/slices.json`` may lose more than this
  on the primary metric against the version the stage holds now (slices flagged small
  are not gated, and the loss must lie outside the candidate's confidence interval);
- ``card_complete``: ``model_card/card.json`` passes ``release.cardspec.check.check_card``.

Facts are read from git objects at the version's commit (``git cat-file``), never from the
working tree, so a gate judges exactly what was registered. The gate functions are pure:
facts in, :class:`GateResult` out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from release import paths
from release.analysis import fairness_gate, slice_gate
from release.cardspec.check import check_card
from release.config import StagePolicy
from release.facts import FactError, Metrics, Slices, read_metrics, read_slices
from release.registry import git


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict and why."""

    gate: str
    passed: bool
    detail: str


@dataclass
class Facts:
    """What the gates look at, read from git at the candidate's (and baseline's) commit.

    A fact that could not be read carries its one-line reason in ``*_error``; a gate that
    needs it fails with that reason (fail closed).
    """

    version: str
    commit: str
    active_stages: set[str] = field(default_factory=set)
    metrics: Metrics | None = None
    metrics_error: str | None = None
    slices: Slices | None = None
    slices_error: str | None = None
    baseline_version: str | None = None
    baseline_slices: Slices | None = None
    baseline_slices_error: str | None = None
    card: dict[str, Any] | None = None
    card_error: str | None = None


# --------------------------------------------------------------------------- gates
def gate_requires(required: str, facts: Facts) -> GateResult:
    """The version must already be assigned to ``required``."""
    ok = required in facts.active_stages
    detail = (
        f"{facts.version} is in {required}"
        if ok
        else f"{facts.version} must be promoted to {required} first"
    )
    return GateResult("requires", ok, detail)


def gate_metric(metric: str, bound: float, facts: Facts, *, floor: bool) -> GateResult:
    """A metric of ``reports/metrics.json`` at the version's commit against a bound."""
    gate = f"{'min' if floor else 'max'}_metrics.{metric}"
    if facts.metrics is None:
        return GateResult(gate, False, facts.metrics_error or f"{paths.METRICS} missing")
    value = facts.metrics.values.get(metric)
    if value is None:
        return GateResult(gate, False, f"{metric} missing from {paths.METRICS} at {facts.version}")
    ok = value >= bound if floor else value <= bound
    sign = ">=" if floor else "<="
    return GateResult(gate, ok, f"{metric} = {value:.4g} (needs {sign} {bound:g})")


def gate_slice_regression(limit: float, facts: Facts) -> GateResult:
    """No slice may lose more than ``limit`` of its primary metric against the baseline.

    Small slices are judged too, by an exact test (see :mod:`release.analysis.slice_gate`).
    Fails closed: a malformed report, a baseline slice the candidate no longer reports, or
    a candidate slice without a value where the baseline had one blocks, naming it.
    """
    gate = "max_slice_regression"
    if facts.baseline_version is None:
        return GateResult(gate, True, "no version in the stage yet: nothing to compare")
    if facts.slices is None:
        return GateResult(gate, False, facts.slices_error or f"{paths.SLICES_JSON} missing")
    if facts.baseline_slices is None:
        if facts.baseline_slices_error is not None:
            return GateResult(gate, False, facts.baseline_slices_error)
        return GateResult(
            gate, True, f"{facts.baseline_version} has no {paths.SLICES_JSON}: nothing to compare"
        )
    cands = facts.slices.by_name()
    for old_slice in facts.baseline_slices.slices:
        s = cands.get(old_slice.name)
        if s is None:
            return GateResult(
                gate,
                False,
                f"slice {old_slice.name!r} of {facts.baseline_version} is missing from"
                f" {paths.SLICES_JSON} at {facts.version}",
            )
        if old_slice.metric is not None and s.metric is None:
            return GateResult(
                gate,
                False,
                f"slice {s.name!r} has no metric in {paths.SLICES_JSON} at {facts.version}",
            )
    # The decision (and its statistics) lives with the error analysis that wrote the files.
    passed, detail = slice_gate.decide(
        facts.slices.doc, facts.baseline_slices.doc, limit, str(facts.baseline_version)
    )
    return GateResult(gate, passed, detail)


def gate_fairness(limit: float, facts: Facts) -> GateResult:
    """The largest fairness gap in ``slices.json`` must not exceed ``limit``."""
    gate = "max_fairness_gap"
    if facts.slices is None:
        return GateResult(gate, False, facts.slices_error or f"{paths.SLICES_JSON} missing")
    passed, detail = fairness_gate.decide(facts.slices.doc.get("fairness"), limit)
    return GateResult(gate, passed, detail)


def gate_card(facts: Facts, check: Callable[[dict[str, Any]], list[str]] | None) -> GateResult:
    """The model card at the version's commit is complete."""
    if facts.card is None:
        return GateResult("card_complete", False, facts.card_error or f"{paths.CARD_JSON} missing")
    if check is None:
        return GateResult("card_complete", True, f"{paths.CARD_JSON} present (no card checker)")
    problems = check(facts.card)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        )
        return GateResult("card_complete", False, f"card incomplete: {shown}")
    return GateResult("card_complete", True, "card complete")


def evaluate(
    policy: StagePolicy,
    facts: Facts,
    card_check: Callable[[dict[str, Any]], list[str]] | None = None,
) -> list[GateResult]:
    """Every gate of ``policy`` on ``facts``, in a stable order."""
    results = []
    if policy.requires:
        results.append(gate_requires(policy.requires, facts))
    for metric, bound in sorted(policy.min_metrics.items()):
        results.append(gate_metric(metric, bound, facts, floor=True))
    for metric, bound in sorted(policy.max_metrics.items()):
        results.append(gate_metric(metric, bound, facts, floor=False))
    if policy.max_slice_regression is not None:
        results.append(gate_slice_regression(policy.max_slice_regression, facts))
    if policy.max_fairness_gap is not None:
        results.append(gate_fairness(policy.max_fairness_gap, facts))
    if policy.card_complete:
        results.append(gate_card(facts, card_check))
    return results


def failures(results: list[GateResult]) -> list[GateResult]:
    """The gates that did not pass."""
    return [r for r in results if not r.passed]


# ---------------------------------------------------------------------------- facts
def _load_json(blob: bytes | None, path: str, version: str) -> tuple[Any, str | None]:
    if blob is None:
        return None, (
            f"{path} is not committed in git at {version}"
            " (commit it; for a DVC output set cache: false)"
        )
    try:
        data = json.loads(blob)
    except ValueError:
        return None, f"{path} at {version} is not valid JSON"
    if not isinstance(data, dict):
        return None, f"{path} at {version} is not a JSON object"
    return data, None


def read_facts(
    repo: str | os.PathLike[str],
    policy: StagePolicy,
    *,
    version: str,
    commit: str,
    active_stages: set[str],
    baseline: tuple[str, str] | None = None,
) -> Facts:
    """Read what ``policy`` needs at ``commit`` (and the baseline's commit) from git."""
    facts = Facts(version=version, commit=commit, active_stages=set(active_stages))
    specs: list[tuple[str, str]] = []
    if policy.min_metrics or policy.max_metrics:
        specs.append(("metrics", f"{commit}:{paths.METRICS}"))
    if policy.max_slice_regression is not None and baseline is not None:
        facts.baseline_version = baseline[0]
        specs.append(("slices", f"{commit}:{paths.SLICES_JSON}"))
        specs.append(("baseline_slices", f"{baseline[1]}:{paths.SLICES_JSON}"))
    if policy.max_fairness_gap is not None and not any(key == "slices" for key, _ in specs):
        specs.append(("slices", f"{commit}:{paths.SLICES_JSON}"))
    if policy.card_complete:
        specs.append(("card", f"{commit}:{paths.CARD_JSON}"))
    blobs = git.read_blobs(repo, [spec for _, spec in specs])
    for (key, _), blob in zip(specs, blobs, strict=True):
        try:
            if key == "metrics":
                facts.metrics = read_metrics(blob, version)
            elif key == "slices":
                facts.slices = read_slices(blob, version)
            elif key == "baseline_slices" and blob is not None:
                facts.baseline_slices = read_slices(blob, str(facts.baseline_version))
        except FactError as exc:
            setattr(facts, f"{key}_error", exc.what)
        if key == "card":
            facts.card, facts.card_error = _load_json(blob, paths.CARD_JSON, version)
    return facts


def card_checker() -> Callable[[dict[str, Any]], list[str]] | None:
    """``release.cardspec.check.check_card``, the one definition of a complete card."""
    return check_card

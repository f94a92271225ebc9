"""What the canary judge reads and answers: samples, shadow comparisons, checks, verdicts.

Plain frozen dataclasses built from the router's JSON (``from_dict``) and written into
deployment records (``to_dict``). :mod:`release.deploy.judge` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "inconclusive"]
CheckStatus = Literal["pass", "fail", "inconclusive", "skip"]


@dataclass(frozen=True)
class Sample:
    """What one variant did during one window (as the router measured it)."""

    requests: int = 0
    errors: int = 0
    latencies_ms: Sequence[float] = ()
    predictions: Sequence[Any] = ()
    scores: Sequence[float] = ()
    correct: Sequence[bool] = ()
    abs_errors: Sequence[float] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sample:
        """Build a sample from the router's JSON measurements."""
        return cls(
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            latencies_ms=[float(x) for x in data.get("latencies_ms", ())],
            predictions=list(data.get("predictions", ())),
            scores=[float(x) for x in data.get("scores", ()) if x is not None],
            correct=[bool(x) for x in data.get("correct", ())],
            abs_errors=[float(x) for x in data.get("abs_errors", ()) if x is not None],
        )

    def merged(self, other: Sample) -> Sample:
        """This sample and ``other`` pooled (used for a reference baseline across windows)."""
        return Sample(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            latencies_ms=[*self.latencies_ms, *other.latencies_ms],
            predictions=[*self.predictions, *other.predictions],
            scores=[*self.scores, *other.scores],
            correct=[*self.correct, *other.correct],
            abs_errors=[*self.abs_errors, *other.abs_errors],
        )

    @property
    def error_rate(self) -> float | None:
        """Errors per request, or None without requests."""
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class ShadowStats:
    """Request-by-request comparison of mirrored answers (shadow mode)."""

    compared: int = 0
    agree: int = 0
    flips: Mapping[str, int] = field(default_factory=dict)
    max_proba_diff: float = 0.0
    mean_proba_diff: float = 0.0
    value_diffs: Sequence[float] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShadowStats:
        """Build from the router's JSON."""
        return cls(
            compared=int(data.get("compared", 0)),
            agree=int(data.get("agree", 0)),
            flips={str(k): int(v) for k, v in dict(data.get("flips", {})).items()},
            max_proba_diff=float(data.get("max_proba_diff", 0.0) or 0.0),
            mean_proba_diff=float(data.get("mean_proba_diff", 0.0) or 0.0),
            value_diffs=[float(x) for x in data.get("value_diffs", ()) if x is not None],
        )

    @property
    def agreement(self) -> float | None:
        """Share of compared rows where both variants predicted the same class."""
        return self.agree / self.compared if self.compared else None


@dataclass(frozen=True)
class Check:
    """One comparison: its status, the numbers behind it and why."""

    name: str
    status: CheckStatus
    reason: str
    numbers: dict[str, Any] = field(default_factory=dict)


# Statistical comparisons of the candidate's answers with the baseline's: judged once per
# step (see Verdict.urgent), not at every poll.
DECIDED_AT_STEP_END = frozenset({"predictions", "accuracy", "model_error", "agreement"})


@dataclass(frozen=True)
class Verdict:
    """The judge's answer for one step."""

    status: Status
    reasons: list[str]
    checks: list[Check]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in deployment records."""
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "checks": [asdict(c) for c in self.checks],
        }

    def summary(self) -> str:
        """One line for progress displays."""
        return f"{self.status}: " + "; ".join(self.reasons)

    @property
    def urgent(self) -> bool:
        """A failure that must stop the step at once (errors, latency, contract, golden).

        The comparisons of model behaviour (:data:`DECIDED_AT_STEP_END`) fail a step only
        at its decision point, once its minimum duration is reached: judged at every poll,
        each look would be another chance to roll back a healthy candidate.
        """
        return any(c.status == "fail" and c.name not in DECIDED_AT_STEP_END for c in self.checks)


def norm_label(value: Any) -> str:
    """Compare labels across JSON and numpy types: 1, 1.0, "1" and True are one class."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

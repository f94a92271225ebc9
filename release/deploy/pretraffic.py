"""What runs before a candidate gets any traffic: the preflight and the idle checks.

- :func:`preflight` runs first, before any process starts: the one place for deploy-time
  checks of the stage's policy (tag authors are not trusted; see DESIGN.md). It returns
  checks; a failed one stops the rollout like any failed check.
- :func:`idle_checks`: with the candidate up and idle, the contract (same V2 inputs as the
  baseline), a smoke test, and the golden-set replay of its own commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release.config import Settings
from release.deploy.judge import Check


@dataclass(frozen=True)
class Candidate:
    """What the pre-traffic checks need to know about the version being deployed."""

    repo: Path
    name: str
    stage: str
    version: str
    commit: str


def preflight(settings: Settings, candidate: Candidate) -> list[Check]:
    """Deploy-time checks before anything starts (none yet: the stage policy's goes here)."""
    return []


def idle_checks(
    settings: Settings,
    candidate: Candidate,
    candidate_url: str,
    baseline_url: str | None,
    *,
    allow_schema_change: bool = False,
    smoke: bool = True,
    golden: bool = True,
) -> list[Check]:
    """Contract, smoke and golden set against the idle candidate."""
    from release.deploy.checks import (
        contract_check,
        fetch_metadata,
        find_golden,
        golden_replay,
        smoke_check,
        temp_dir,
    )

    deploy = settings.release.deploy
    name = candidate.name
    cand_meta = fetch_metadata(candidate_url, name)
    checks: list[Check] = []
    if baseline_url is not None:
        base_meta = fetch_metadata(baseline_url, name)
        checks.append(contract_check(base_meta, cand_meta, allow_change=allow_schema_change))
    if smoke:
        checks.append(smoke_check(candidate_url, name, cand_meta))
    if golden:
        commit = candidate.commit
        with temp_dir() as tmp:
            found = find_golden(candidate.repo, commit, Path(tmp))
            if found is None:
                checks.append(
                    Check(
                        "golden",
                        "skip",
                        f"no golden set recorded at {commit[:10]} "
                        f"(test set and predictions not in git or the DVC cache)",
                    )
                )
            else:
                verdict = golden_replay(
                    candidate_url,
                    name,
                    cand_meta,
                    found,
                    rows=deploy.golden_rows,
                    settings=deploy.judge,
                )
                checks.extend(verdict.checks)
    return checks


def check_dict(check: Check) -> dict[str, Any]:
    """A check as stored in the deployment record."""
    return {
        "name": check.name,
        "status": check.status,
        "reason": check.reason,
        "numbers": check.numbers,
    }


def failure(checks: list[Check]) -> str | None:
    """The failed checks' reasons in one line, or None when none failed."""
    failed = [c.reason for c in checks if c.status == "fail"]
    return "; ".join(failed) if failed else None

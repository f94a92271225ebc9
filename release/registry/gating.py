"""Checks before a stage is written: stage order, the policy and its gates, signing.

The policy comes from the settings given, else ``params.yaml`` (which must match the
committed one: deploy judges the committed policy); without one, the stages of ``.gto``
(or dev, staging, prod) and no gates. Settings are only imported when there are some, so
a plain gto repository does not pay for them.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import RegistryError, ReleaseError, UsageError
from release.grammar import validate_name, validate_stage
from release.registry import git, project
from release.registry.entities import ArtifactState, VersionState
from release.registry.state import read_state as _scan_state

if TYPE_CHECKING:
    from release.config import Settings, StagePolicy
    from release.registry.policy import GateResult


def check_stage(root: Path, stage: str, order: list[str]) -> None:
    validate_stage(stage)
    if stage not in order:
        raise UsageError(f"unknown stage {stage!r}", f"stages: {', '.join(order)}")
    gto_stages = project.read_gto_config(root).stages
    if gto_stages is not None and stage not in gto_stages:
        raise UsageError(f"stage {stage!r} is not allowed by .gto", f"allowed: {gto_stages}")


def active_version(art: ArtifactState, version: str) -> VersionState:
    v = art.versions.get(version)
    if v is None or not v.registered:
        raise RegistryError(
            f"version {version} of {art.name} is not registered",
            f"register it first (release register {shlex.quote(art.name)}"
            f" --version {shlex.quote(version)})",
        )
    if not v.active:
        raise RegistryError(
            f"version {version} of {art.name} is deregistered", "register a new version"
        )
    return v


def stages_and_policy(
    root: Path,
    settings: Settings | None,
    params: str | None,
    stage: str,
    *,
    committed: bool = False,
) -> tuple[list[str], StagePolicy | None]:
    """Stage order and ``stage``'s policy: from settings given, else params.yaml; without
    one, the stages of .gto (or dev, staging, prod) and no policy. Settings are only
    imported when there are some (a plain gto repository does not pay for them)."""
    if settings is None:
        path = Path(params) if params else root / "params.yaml"
        if params and not path.is_file():
            raise UsageError(f"{params} not found", "pass an existing --params file")
        if not path.is_file():
            return project.stage_order(root), None
        from release.config import load_settings

        settings = load_settings(path)
        if committed:
            _check_committed(root, path, settings)
    return list(settings.release.stages), settings.release.policy.get(stage)


def _check_committed(root: Path, path: Path, settings: Settings) -> None:
    """Refuse a policy that differs from the one committed at HEAD: deploy judges the
    committed one, and an uncommitted edit must not let a promotion through."""
    from release.config import settings_from_yaml

    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return  # a settings file outside the repository has no committed version
    (blob,) = git.read_blobs(root, [f"HEAD:{rel}"])
    committed = None
    if blob is not None:
        try:
            committed = settings_from_yaml(blob, f"{rel} at HEAD").release
        except ReleaseError:
            committed = None
    here = settings.release
    if committed is None or (committed.policy, committed.stages) != (here.policy, here.stages):
        raise UsageError(
            f"the release policy in {rel} differs from the committed one",
            f"commit it first (git commit {rel}); gates judge the committed policy",
        )


def check_signing(stage: str, stage_policy: StagePolicy | None, sign: bool) -> None:
    """Refuse an unsigned assignment the stage's deploy would refuse anyway."""
    if stage_policy is not None and stage_policy.require_signed and not sign:
        raise UsageError(
            f"release.policy.{stage}.require_signed is true", "sign the tag: add --sign"
        )


def reason_text(reason: str | None) -> str:
    if reason is None:
        return ""
    text = " ".join(reason.split())
    if not text:
        raise UsageError("--reason is empty", "say why in a few words")
    return text


def evaluate(
    root: Path, art: ArtifactState, target: VersionState, policy: Any, holder: str | None
) -> list[GateResult]:
    """Every gate of ``policy`` for ``target``, the stage's ``holder`` as the baseline."""
    from release.registry import policy as gates

    baseline = None
    if holder is not None and holder != target.version:
        baseline = (holder, art.versions[holder].commit)
    facts = gates.read_facts(
        root,
        policy,
        version=target.version,
        commit=target.commit,
        active_stages=set(target.active_stages()),
        baseline=baseline,
    )
    return gates.evaluate(policy, facts, gates.card_checker())


def failures(
    root: Path,
    art: ArtifactState,
    target: VersionState,
    stage: str,
    policy: Any,
    holder: str | None,
) -> list[GateResult]:
    """The gates of ``stage``'s ``policy`` that ``target`` fails."""
    from release.registry import policy as gates

    return gates.failures(evaluate(root, art, target, policy, holder))


def check_gates(
    repo: str | os.PathLike[str],
    name: str,
    stage: str,
    *,
    version: str | None = None,
    settings: Settings | None = None,
    params: str | None = None,
) -> list[GateResult]:
    """Every gate of ``stage``'s policy for a version of ``name`` (passed and failed)."""
    validate_name(name)
    root = git.toplevel(repo)
    order, pol = stages_and_policy(root, settings, params, stage)
    check_stage(root, stage, order)
    art = _scan_state(root, [name]).artifact(name)
    target = active_version(art, version or art.latest_version() or "v0.0.0")
    if pol is None:
        return []
    return evaluate(root, art, target, pol, art.active_version(stage))

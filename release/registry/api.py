"""The registry's public face: read the state, register, promote, roll back, deprecate.

Every function takes the repository path first, validates its inputs before anything
reaches git, and either writes exactly one GTO tag (returning its name) or raises a
:class:`~release.errors.ReleaseError` having written nothing. Reads and the JSON views
match gto 1.x (:mod:`release.registry.reads`; the rules are in :mod:`release.registry.entities`).
Checks before a stage is written live in :mod:`release.registry.gating`.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from release.errors import CheckFailed, RegistryError, UsageError
from release.grammar import (
    Action,
    SemVer,
    tag_name,
    validate_name,
    validate_stage,
    validate_version,
)
from release.registry import gating, git
from release.registry.entities import ArtifactState, RegistryState, VersionState
from release.registry.gating import check_gates
from release.registry.reads import (
    check_ref,
    history,
    previous_version,
    read_state,
    show,
    stages,
)
from release.registry.write import TagPlan, write

if TYPE_CHECKING:
    from release.config import Settings
    from release.registry.policy import GateResult

__all__ = [
    "RegistryState",
    "check_gates",
    "check_ref",
    "deprecate",
    "history",
    "previous_version",
    "promote",
    "read_state",
    "register",
    "rollback",
    "show",
    "stages",
]

BUMPS = ("major", "minor", "patch")


# ----------------------------------------------------------------------------- writing
def _writable_root(repo: str | os.PathLike[str]) -> Path:
    root, head = git.probe(repo)
    if head is None:
        raise RegistryError("the repository has no commits", "commit something first")
    return root


def register(
    repo: str | os.PathLike[str],
    name: str,
    *,
    version: str | None = None,
    bump: str = "patch",
    ref: str = "HEAD",
    message: str | None = None,
    push: str | None = None,
    force: bool = False,
) -> str:
    """Register ``ref`` as a version of ``name`` (default: bump the latest); return the tag.

    Refuses a version that exists, one lower than the latest, or a commit that already
    holds an active version, unless ``force`` (an existing version is always refused).
    """
    validate_name(name)
    if version is not None:
        validate_version(version)
    if bump not in BUMPS:
        raise UsageError(f"invalid bump {bump!r}", "use major, minor or patch")
    root = _writable_root(repo)
    commit = git.resolve_commit(root, ref)

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifacts.get(name) or ArtifactState(name)
        at_commit = art.version_at(commit)
        if at_commit is not None and at_commit.active and not force:
            raise RegistryError(
                f"{ref} is already registered as {name} {at_commit.version}",
                "register another commit, or pass --force",
            )
        latest = art.latest_version()
        if version is not None:
            new = version
            if new in art.versions and not art.versions[new].discovered:
                raise RegistryError(
                    f"version {new} of {name} already exists", "choose another version"
                )
            if latest is not None and SemVer(new) < SemVer(latest) and not force:
                raise RegistryError(
                    f"version {new} is lower than the latest {latest} of {name}",
                    "choose a higher version, or pass --force",
                )
        else:
            # gto bumps its latest version: the highest active registration, so a
            # deregistered higher version does not count (and a clash is refused below).
            base = SemVer(latest) if latest is not None else SemVer("v0.0.0")
            new = base.bump(bump)
            if new in art.versions and not art.versions[new].discovered:
                raise RegistryError(
                    f"version {new} of {name} already exists (bumped from {base.text})",
                    "give the version with --version",
                )
        return TagPlan(
            tag_name(Action.REGISTER, name, version=new),
            commit,
            message or f"Registering artifact {name} version {new}",
        )

    return write(root, plan, names=[name], push=push)


def _promote_target(
    art: ArtifactState, version: str | None, ref: str | None, commit_of_ref: str | None
) -> VersionState:
    """The version to promote: the one registered at ``ref``, ``version``, or the latest."""
    if commit_of_ref is not None:
        found = art.version_at(commit_of_ref)
        if found is None:
            raise RegistryError(
                f"no version of {art.name} is registered at {ref}",
                f"register it first (release register {shlex.quote(art.name)} --ref <commit>)",
            )
        return gating.active_version(art, found.version)
    if version is not None:
        return gating.active_version(art, version)
    latest = art.latest_version()
    if latest is None:
        raise RegistryError(f"{art.name} has no registered version", "register one first")
    return art.versions[latest]


def promote(
    repo: str | os.PathLike[str],
    name: str,
    stage: str,
    *,
    version: str | None = None,
    ref: str | None = None,
    settings: Settings | None = None,
    force: bool = False,
    reason: str | None = None,
    push: str | None = None,
    params: str | None = None,
    sign: bool = False,
) -> str:
    """Assign ``stage`` to a version of ``name`` after the policy gates pass; return the tag.

    The version is ``version``, the one registered at ``ref``, or the latest. Failed gates
    raise CheckFailed listing each; ``force`` with a ``reason`` overrides them (and a
    re-assignment of the version the stage holds) and records the reason in the tag message.
    ``sign`` writes a signed tag (``git tag -s``, with git's own key configuration).
    """
    validate_name(name)
    if version is not None and ref is not None:
        raise UsageError("give --version or --ref, not both", "drop one of them")
    if version is not None:
        validate_version(version)
    reason_text = gating.reason_text(reason)
    if force and not reason_text:
        raise UsageError("--force needs --reason", "say why the gates are overridden")
    root = _writable_root(repo)
    order, stage_policy = gating.stages_and_policy(root, settings, params, stage, committed=True)
    gating.check_stage(root, stage, order)
    gating.check_signing(stage, stage_policy, sign)
    commit_of_ref = git.resolve_commit(root, ref) if ref is not None else None

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifact(name)
        target = _promote_target(art, version, ref, commit_of_ref)
        holder = art.active_version(stage)
        if holder == target.version and not force:
            raise RegistryError(
                f"{name} {target.version} is already in {stage}",
                "nothing to do (pass --force --reason to write a new assignment anyway)",
            )
        lines = [f"Assigning stage {stage} to artifact {name} version {target.version}"]
        failed: list[GateResult] = []
        if stage_policy is not None:
            failed = gating.failures(root, art, target, stage, stage_policy, holder)
        if failed and not force:
            listed = "; ".join(f"{r.gate}: {r.detail}" for r in failed)
            raise CheckFailed(
                f"{len(failed)} policy gate(s) block {name} {target.version} -> {stage}: {listed}",
                "fix the version, or override with --force --reason TEXT",
            )
        if failed:
            lines.append("")
            lines.append("Forced past failed gates: " + "; ".join(r.gate for r in failed))
        if reason_text:
            lines += ([] if failed else [""]) + [f"Reason: {reason_text}"]
        return TagPlan(
            tag_name(Action.ASSIGN, name, stage=stage, counter=state.next_counter(name)),
            target.commit,
            "\n".join(lines),
            sign=sign,
        )

    return write(root, plan, names=[name], push=push)


def rollback(
    repo: str | os.PathLike[str],
    name: str,
    stage: str,
    *,
    to: str | None = None,
    reason: str | None = None,
    push: str | None = None,
    params: str | None = None,
    force: bool = False,
    sign: bool = False,
) -> str:
    """Assign ``stage`` back to the version it held before (or ``to``); return the tag.

    Gated too: the target must have held the stage before through an assignment that was
    not forced past gates (and is allowed by the committed policy), or pass the stage's
    gates now; anything else needs ``force`` with a ``reason``, recorded in the tag message
    as deploy expects. The reason (default "rollback") is in the tag message.
    """
    from release.registry import enforce

    validate_name(name)
    if to is not None:
        validate_version(to)
    given = gating.reason_text(reason)
    if force and not given:
        raise UsageError("--force needs --reason", "say why the gates are overridden")
    reason_text = given or "rollback"
    root = _writable_root(repo)
    order, pol = gating.stages_and_policy(root, None, params, stage, committed=True)
    gating.check_stage(root, stage, order)
    gating.check_signing(stage, pol, sign)
    source = enforce.load_policy(root, "HEAD") if pol is not None else None

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifact(name)
        current = art.active_version(stage)
        if to is not None:
            target = gating.active_version(art, to)
            if target.version == current:
                raise RegistryError(f"{name} {to} is already in {stage}", "nothing to roll back")
        else:
            if current is None:
                raise RegistryError(f"{stage} holds no version of {name}", "nothing to roll back")
            prev = previous_version(art, stage)
            if prev is None:
                raise RegistryError(
                    f"{stage} held no other active version of {name} before {current}",
                    "give the version with --to",
                )
            target = art.versions[prev]
        message = (
            f"Assigning stage {stage} to artifact {name} version {target.version}\n\n"
            f"Rollback of {stage} from {current or 'nothing'} to {target.version}: {reason_text}"
        )
        if pol is not None and source is not None:
            held = enforce.Judge(root, art, source).clean_holding(target.version, stage)
            failed = [] if held else gating.failures(root, art, target, stage, pol, current)
            if failed and not force:
                listed = "; ".join(f"{r.gate}: {r.detail}" for r in failed)
                raise CheckFailed(
                    f"{name} {target.version} never held {stage} without force and fails"
                    f" {len(failed)} gate(s): {listed}",
                    "roll back to a version that held the stage, or --force --reason TEXT",
                )
            if failed:
                message += (
                    f"\n{enforce.FORCED_PREFIX}"
                    + "; ".join(r.gate for r in failed)
                    + f"\n{enforce.REASON_PREFIX}{reason_text}"
                )
        return TagPlan(
            tag_name(Action.ASSIGN, name, stage=stage, counter=state.next_counter(name)),
            target.commit,
            message,
            sign=sign,
        )

    return write(root, plan, names=[name], push=push)


def deprecate(
    repo: str | os.PathLike[str],
    name: str,
    version: str | None = None,
    stage: str | None = None,
    *,
    message: str | None = None,
    push: str | None = None,
) -> str:
    """Unassign ``stage`` from ``version``, deregister ``version``, or deprecate ``name``.

    Writes gto's tags: ``NAME#STAGE!#N``, ``NAME@vX.Y.Z!`` or ``NAME@deprecated``.
    """
    validate_name(name)
    if version is not None:
        validate_version(version)
    if stage is not None:
        validate_stage(stage)
        if version is None:
            raise UsageError("a stage needs a version", "release deprecate NAME VERSION STAGE")
    root = _writable_root(repo)

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifact(name)
        if version is not None and stage is not None:
            v = art.versions.get(version)
            if v is None or not v.stage_active(stage):
                raise RegistryError(
                    f"{name} {version} is not assigned to {stage}", "nothing to unassign"
                )
            return TagPlan(
                tag_name(Action.UNASSIGN, name, stage=stage, counter=state.next_counter(name)),
                v.commit,
                message or f"Unassigning stage '{stage}' to artifact '{name}' version '{version}'",
            )
        if version is not None:
            v = gating.active_version(art, version)
            return TagPlan(
                tag_name(Action.DEREGISTER, name, version=version),
                v.commit,
                message or f"Deregistering artifact {name} version {version}",
            )
        if not art.active:
            raise RegistryError(f"artifact {name} is deprecated already", "nothing to do")
        if not art.events:
            raise RegistryError(f"artifact {name} has no tags", "nothing to deprecate")
        simple = tag_name(Action.DEPRECATE, name)
        tag = (
            simple
            if simple not in state.names
            else tag_name(Action.DEPRECATE, name, counter=state.next_counter(name))
        )
        return TagPlan(tag, art.events[-1].commit, message or f"Deprecating artifact '{name}'")

    return write(root, plan, names=[name], push=push)

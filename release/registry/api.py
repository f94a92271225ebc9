"""The registry's public face: read the state, register, promote, roll back, deprecate.

Every function takes the repository path first, validates its inputs before anything
reaches git, and either writes exactly one GTO tag (returning its name) or raises a
:class:`~release.errors.ReleaseError` having written nothing. Reads and the JSON views
match gto 1.x (see :mod:`release.registry.state` for the rules and the tie-break).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.errors import CheckFailed, RegistryError, ReleaseError, UsageError
from release.grammar import (
    Action,
    SemVer,
    parse_shortcut,
    tag_name,
    validate_name,
    validate_stage,
    validate_version,
)
from release.registry import git, project, views
from release.registry.state import (
    ArtifactState,
    RegistryState,
    VersionState,
    parse_commit_object,
    parse_scan_peeled,
    scan,
    start_scan,
)
from release.registry.state import read_state as _scan_state
from release.registry.write import TagPlan, write

if TYPE_CHECKING:
    from release.config import Settings, StagePolicy
    from release.registry.policy import GateResult

__all__ = [
    "RegistryState",
    "check_ref",
    "deprecate",
    "history",
    "promote",
    "read_state",
    "register",
    "rollback",
    "show",
    "stages",
]

BUMPS = ("major", "minor", "patch")


# ----------------------------------------------------------------------------- reading
def _root(repo: str | os.PathLike[str]) -> Path:
    return git.toplevel(repo)


def read_state(repo: str | os.PathLike[str] = ".", *, declarations: bool = True) -> RegistryState:
    """The whole registry: tags (one scan) plus artifacts declared at HEAD.

    Artifacts declared in ``artifacts.yaml`` (gto's index) or in ``dvc.yaml``'s
    ``artifacts:`` are listed even before their first registration.
    """
    root = _root(repo)
    scan = start_scan(root)  # git scans the tags while we read the declarations
    decl = project.Declarations()
    if declarations:
        decl = project.read_declarations(root, project.read_gto_config(root).index)
    state = parse_scan_peeled(root, git.finish(scan))
    if declarations:
        for name in [*decl.index, *decl.dvc]:
            art = state.artifacts.get(name)
            if art is None:
                art = state.artifacts[name] = ArtifactState(name)
            # gto's index discovery adds a HEAD event; dvc.yaml ones only list the name.
            if decl.head_time is not None and (name in decl.index or not art.events):
                art.discovered_at = decl.head_time
            if name in decl.index and decl.head and decl.head_raw is not None:
                _discover_head(state, art, decl.head, decl.head_raw)
    state.load_commits(root)  # only for deprecated artifacts: commit times decide activity
    return state


def _discover_head(state: RegistryState, art: ArtifactState, head: str, raw: bytes) -> None:
    """gto lists an artifact of its index with a 'discovered' version at HEAD."""
    if head not in state.commits:
        state.commits[head] = parse_commit_object(head, raw)
    art.commit_times[head] = state.commits[head].time
    if art.version_at(head) is None and head not in art.versions:
        art.versions[head] = VersionState(art.name, head, head)
        art.by_commit.setdefault(head, []).append(art.versions[head])


def show(
    repo: str | os.PathLike[str] = ".",
    name: str | None = None,
    *,
    deprecated: bool = False,
    state: RegistryState | None = None,
) -> Any:
    """``gto show --json``: all artifacts (a dict), or the versions of ``name`` (a list).

    ``name`` may be a gto shortcut: ``NAME#STAGE``, ``NAME@vX.Y.Z`` or ``NAME@latest``.
    """
    root = _root(repo)
    state = state or read_state(root)
    if name is None:
        config = project.read_gto_config(root)
        stage_keys = config.stages if config.stages is not None else state.used_stages()
        return views.show_all(state, stage_keys, deprecated=deprecated)
    short = parse_shortcut(name)
    validate_name(short.name)
    art = state.artifact(short.name)
    if not art.active and not deprecated:
        return []
    state.load_commits(root, [short.name])
    versions = views.show_versions(state, art, _enrichments(root, art))
    if short.latest:
        return versions[:1]
    if short.version:
        return [v for v in versions if v["version"] == short.version]
    if short.stage:
        return [v for v in versions if any(s["stage"] == short.stage for s in v["stages"])]
    return versions


def _enrichments(root: Path, art: ArtifactState) -> dict[str, list[Any]]:
    """gto's enrichment info per version commit: the artifact's entry in artifacts.yaml."""
    index = project.read_gto_config(root).index
    commits = sorted({v.commit for v in art.versions.values()})
    blobs = git.read_blobs(root, [f"{c}:{index}" for c in commits])
    out: dict[str, list[Any]] = {}
    for commit, blob in zip(commits, blobs, strict=True):
        if blob is None:
            continue
        try:
            data = project._yaml(blob, index)
        except ReleaseError:  # gto skips a corrupted index too
            data = None
        entry = data.get(art.name) if isinstance(data, dict) else None
        if isinstance(entry, dict):
            out[commit] = [
                {
                    "source": "gto",
                    "artifact": {
                        "type": entry.get("type"),
                        "path": entry.get("path"),
                        "virtual": entry.get("virtual", True),
                        "labels": entry.get("labels", []),
                        "description": entry.get("description", ""),
                        "custom": entry.get("custom"),
                    },
                }
            ]
    return out


def history(
    repo: str | os.PathLike[str] = ".",
    name: str | None = None,
    *,
    ascending: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """``gto history --json``: the registry's events, newest first."""
    if name is not None:
        validate_name(name)
    root = _root(repo)
    state = _scan_state(root, [name] if name else None)
    for line in state.warnings if on_warning else []:
        on_warning(line)  # type: ignore[misc]
    return views.history(state, name, ascending)


def check_ref(repo: str | os.PathLike[str], ref: str) -> dict[str, Any]:
    """``gto check-ref --json``: the event the GTO tag ``ref`` created."""
    from release.grammar import parse_tag

    root = _root(repo)
    name = ref[len("refs/tags/") :] if ref.startswith("refs/tags/") else ref
    parsed = parse_tag(name)
    if parsed is None or parsed.action is None:
        raise UsageError(
            f"{ref!r} is not a GTO tag name",
            "expected NAME@vX.Y.Z, NAME#STAGE#N, NAME#STAGE!#N, NAME@vX.Y.Z! or NAME@deprecated",
        )
    # the tag itself, plus the artifact's registrations: an assignment names the version
    # registered at its commit. Its other assignments cannot change the answer.
    state = parse_scan_peeled(root, scan(root, [parsed.artifact], extra=[name], seps="@"))
    event = state.tags.get(name)
    if event is None:
        if name in state.lightweight:
            raise RegistryError(
                f"tag {name} is a lightweight tag, which gto ignores",
                "fetch annotated tags: git fetch --force --tags origin",
            )
        raise RegistryError(f"tag {name} does not exist", "git fetch --tags, or check the name")
    return views.check_ref(event)


def stages(
    repo: str | os.PathLike[str] = ".", params: str | os.PathLike[str] | None = None
) -> list[str]:
    """Stages in promotion order: params.yaml ``release.stages``, else .gto, else defaults."""
    return project.stage_order(_root(repo), params)


# ----------------------------------------------------------------------------- writing
def _writable_root(repo: str | os.PathLike[str]) -> Path:
    root, head = git.probe(repo)
    if head is None:
        raise RegistryError("the repository has no commits", "commit something first")
    return root


def _check_stage(root: Path, stage: str, order: list[str]) -> None:
    validate_stage(stage)
    if stage not in order:
        raise UsageError(f"unknown stage {stage!r}", f"stages: {', '.join(order)}")
    gto_stages = project.read_gto_config(root).stages
    if gto_stages is not None and stage not in gto_stages:
        raise UsageError(f"stage {stage!r} is not allowed by .gto", f"allowed: {gto_stages}")


def _active_version(art: ArtifactState, version: str) -> VersionState:
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


def _stages_and_policy(
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


def _check_signing(stage: str, stage_policy: StagePolicy | None, sign: bool) -> None:
    """Refuse an unsigned assignment the stage's deploy would refuse anyway."""
    if stage_policy is not None and stage_policy.require_signed and not sign:
        raise UsageError(
            f"release.policy.{stage}.require_signed is true", "sign the tag: add --sign"
        )


def _reason_text(reason: str | None) -> str:
    if reason is None:
        return ""
    text = " ".join(reason.split())
    if not text:
        raise UsageError("--reason is empty", "say why in a few words")
    return text


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
    reason_text = _reason_text(reason)
    if force and not reason_text:
        raise UsageError("--force needs --reason", "say why the gates are overridden")
    root = _writable_root(repo)
    order, stage_policy = _stages_and_policy(root, settings, params, stage, committed=True)
    _check_stage(root, stage, order)
    _check_signing(stage, stage_policy, sign)
    commit_of_ref = git.resolve_commit(root, ref) if ref is not None else None

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifact(name)
        if commit_of_ref is not None:
            found = art.version_at(commit_of_ref)
            if found is None:
                raise RegistryError(
                    f"no version of {name} is registered at {ref}",
                    f"register it first (release register {name} --ref {ref})",
                )
            target = _active_version(art, found.version)
        elif version is not None:
            target = _active_version(art, version)
        else:
            latest = art.latest_version()
            if latest is None:
                raise RegistryError(f"{name} has no registered version", "register one first")
            target = art.versions[latest]
        holder = art.active_version(stage)
        if holder == target.version and not force:
            raise RegistryError(
                f"{name} {target.version} is already in {stage}",
                "nothing to do (pass --force --reason to write a new assignment anyway)",
            )
        lines = [f"Assigning stage {stage} to artifact {name} version {target.version}"]
        failed: list[GateResult] = []
        if stage_policy is not None:
            failed = _gates(root, art, target, stage, stage_policy, holder)
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


def _gates(
    root: Path,
    art: ArtifactState,
    target: VersionState,
    stage: str,
    policy: Any,
    holder: str | None,
) -> list[GateResult]:
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
    return gates.failures(gates.evaluate(policy, facts, gates.card_checker()))


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
    from release.registry import policy as gates

    validate_name(name)
    root = _root(repo)
    order, pol = _stages_and_policy(root, settings, params, stage)
    _check_stage(root, stage, order)
    art = _scan_state(root, [name]).artifact(name)
    target = _active_version(art, version or art.latest_version() or "v0.0.0")
    if pol is None:
        return []
    holder = art.active_version(stage)
    baseline = (
        (holder, art.versions[holder].commit) if holder and holder != target.version else None
    )
    facts = gates.read_facts(
        root,
        pol,
        version=target.version,
        commit=target.commit,
        active_stages=set(target.active_stages()),
        baseline=baseline,
    )
    return gates.evaluate(pol, facts, gates.card_checker())


def previous_version(art: ArtifactState, stage: str) -> str | None:
    """The version ``stage`` held before its current holder, or None.

    Replays the stage's assignments and unassignments in order and returns the most recent
    earlier holder that is still registered and was not unassigned from the stage since.
    Like ``kubectl rollout undo``, rolling back twice returns to where it started.
    """
    events = sorted(
        (e for v in art.versions.values() for e in v.stages.get(stage, [])), key=lambda e: e.key
    )
    active: dict[str, tuple[int, int, int, str]] = {}
    timeline: list[str | None] = []
    for e in events:
        assert e.version is not None
        if e.action is Action.ASSIGN:
            active[e.version] = e.key
        else:
            active.pop(e.version, None)
        live = {v: k for v, k in active.items() if art.versions[v].active}
        holder = max(live, key=lambda v: live[v]) if live else None
        if not timeline or timeline[-1] != holder:
            timeline.append(holder)
    current = art.active_version(stage)
    for holder in reversed(timeline):
        if holder is None or holder == current:
            continue
        version = art.versions[holder]
        # skip versions deregistered or explicitly unassigned from the stage since
        if version.active and version.stage_active(stage):
            return holder
    return None


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
    given = _reason_text(reason)
    if force and not given:
        raise UsageError("--force needs --reason", "say why the gates are overridden")
    reason_text = given or "rollback"
    root = _writable_root(repo)
    order, stage_policy = _stages_and_policy(root, None, params, stage, committed=True)
    _check_stage(root, stage, order)
    _check_signing(stage, stage_policy, sign)
    source = enforce.load_policy(root, "HEAD") if stage_policy is not None else None

    def plan(state: RegistryState) -> TagPlan:
        art = state.artifact(name)
        current = art.active_version(stage)
        if to is not None:
            target = _active_version(art, to)
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
        if stage_policy is not None and source is not None:
            held = enforce.Judge(root, art, source).clean_holding(target.version, stage)
            failed = [] if held else _gates(root, art, target, stage, stage_policy, current)
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
            v = _active_version(art, version)
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

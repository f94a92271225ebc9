"""Deploy-time enforcement: the stage's gates, judged with the policy of a protected ref.

Promote-time gates are a convenience on the promoter's machine; this module is the
guarantee. Before any process starts or any traffic moves, ``release deploy`` asks
:func:`check_deploy` whether the assignment that gives the stage its version is allowed:

- the policy (``params.yaml``) and the allowed-signers file are read from git objects at
  the policy ref (``RELEASE_POLICY_REF``, else ``release.policy_ref``, else the remote's
  default branch ``origin/HEAD``, else ``main``, else ``master``), never from the tagged
  commit or the working tree;
- with ``require_signed`` the assignment tag must carry a signature that ``git
  verify-tag`` accepts from a key of the allowed-signers file (git does the cryptography);
- the gates are evaluated on the version's committed facts; ``requires`` needs an earlier
  assignment to the required stage that is itself allowed, so a hand-made tag cannot skip
  a stage;
- a version that failed gates may still be deployed when it held the stage before through
  an allowed assignment without force (a rollback), or when the assignment's message holds
  the forced-past-gates record ``release promote --force --reason`` writes, for exactly the
  gates that fail, and the stage's ``force`` is ``allowed``.

Anything else raises :class:`~release.errors.CheckFailed` with one line; nothing is written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from release import paths
from release.config import Settings, StagePolicy, settings_from_yaml
from release.errors import CheckFailed, ReleaseError
from release.grammar import Action, validate_name, validate_stage
from release.registry import git, policy
from release.registry.state import ArtifactState, Event, RegistryState, read_state

FORCED_PREFIX = "Forced past failed gates: "
REASON_PREFIX = "Reason: "
POLICY_REF_ENV = "RELEASE_POLICY_REF"
DEFAULT_REFS = ("refs/remotes/origin/HEAD", "refs/heads/main", "refs/heads/master")


@dataclass(frozen=True)
class PolicySource:
    """The policy as committed on the protected ref."""

    ref: str
    commit: str
    settings: Settings | None  # None when the ref has no params.yaml
    allowed_signers: bytes | None

    def stage(self, stage: str) -> StagePolicy | None:
        """The stage's policy, or None when the ref sets none."""
        return self.settings.release.policy.get(stage) if self.settings else None


@dataclass(frozen=True)
class Clearance:
    """Why a deployment may go ahead."""

    name: str
    stage: str
    version: str
    tag: str
    policy_ref: str
    forced: tuple[str, ...] = ()
    rollback_of: str | None = None  # the earlier assignment that makes this a rollback
    notes: tuple[str, ...] = field(default_factory=tuple)


def forced_gates(message: str) -> set[str]:
    """Gates the tag message says were forced past (``release promote --force``)."""
    for line in message.splitlines():
        if line.startswith(FORCED_PREFIX):
            return {g.strip() for g in line[len(FORCED_PREFIX) :].split(";") if g.strip()}
    return set()


def has_reason(message: str) -> bool:
    """True when the message carries a non-empty ``Reason:`` line."""
    return any(
        line.startswith(REASON_PREFIX) and line[len(REASON_PREFIX) :].strip()
        for line in message.splitlines()
    )


# ------------------------------------------------------------------------ policy source
def resolve_policy_ref(repo: str | os.PathLike[str], configured: str | None = None) -> str:
    """The policy ref to read: the environment's, the configured one, else the default."""
    wanted = os.environ.get(POLICY_REF_ENV) or configured
    if wanted:
        git.resolve_commit(repo, wanted)  # a RegistryError naming it when absent
        return wanted
    for ref in DEFAULT_REFS:
        proc = git.run(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if proc.returncode == 0:
            return ref.removeprefix("refs/remotes/").removeprefix("refs/heads/")
    raise CheckFailed(
        "no policy ref: neither origin/HEAD, main nor master exists",
        f"fetch the protected branch, or set release.policy_ref / {POLICY_REF_ENV}",
    )


def load_policy(repo: str | os.PathLike[str], ref: str) -> PolicySource:
    """Read ``params.yaml`` and the allowed-signers file at ``ref`` from git objects."""
    commit = git.resolve_commit(repo, ref)
    (params,) = git.read_blobs(repo, [f"{commit}:{paths.PARAMS}"])
    settings = settings_from_yaml(params, f"{paths.PARAMS} at {ref}") if params else None
    signers_path = settings.release.allowed_signers if settings else ".release/allowed_signers"
    (signers,) = git.read_blobs(repo, [f"{commit}:{signers_path}"])
    return PolicySource(ref, commit, settings, signers)


# ----------------------------------------------------------------------------- signing
def verify_signature(
    repo: str | os.PathLike[str], tag: str, allowed_signers: bytes | None
) -> str | None:
    """None when git verifies ``tag``'s signature by an allowed signer, else why not.

    The allowed-signers file comes from the policy ref; git is told to use it (and to
    demand full trust, which SSH gives only to keys listed there) for this one call.
    """
    if allowed_signers is None:
        return "no allowed-signers file on the policy ref"
    with tempfile.TemporaryDirectory(prefix="release-signers-") as tmp:
        path = Path(tmp) / "allowed_signers"
        path.write_bytes(allowed_signers)
        proc = git.run(
            repo,
            "-c",
            f"gpg.ssh.allowedSignersFile={path}",
            "-c",
            "gpg.minTrustLevel=fully",
            "verify-tag",
            "--raw",
            "--end-of-options",
            f"refs/tags/{tag}",
            check=False,
        )
    if proc.returncode == 0:
        return None
    text = proc.stderr.decode("utf-8", "replace")
    if "no signature found" in text:
        return f"{tag} is not signed"
    if "No principal matched" in text or "trust" in text.lower():
        return f"{tag} is signed by a key that is not in the allowed signers"
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return f"{tag}'s signature does not verify ({lines[-1] if lines else proc.returncode})"


# ----------------------------------------------------------------------------- judging
def before(a: Event, b: Event) -> bool:
    """True when ``a`` happened before ``b``: by counter when both have one (counters are
    exact, tagger clocks may be skewed), else by the registry's order."""
    if a.counter is not None and b.counter is not None:
        return a.counter < b.counter
    return a.key < b.key


def holder_before(art: ArtifactState, stage: str, event: Event) -> str | None:
    """The version ``stage`` held just before ``event``."""
    best: Event | None = None
    for v in art.versions.values():
        earlier = [e for e in v.stages.get(stage, []) if before(e, event)]
        last = earlier[-1] if earlier else None
        live = v.active and last is not None and last.action is Action.ASSIGN
        if live and (best is None or before(best, last)):  # type: ignore[arg-type]
            best = last
    return best.version if best else None


class Judge:
    """Judges assignments of one artifact against one policy source (memoised)."""

    def __init__(self, repo: Path, art: ArtifactState, source: PolicySource) -> None:
        self.repo = repo
        self.art = art
        self.source = source
        self.memo: dict[tuple[str, bool], str | None] = {}
        self.card_check = policy.card_checker()

    def refusal(self, event: Event, *, allow_force: bool = True) -> str | None:
        """None when ``event`` is an allowed assignment, else the one-line reason."""
        memo_key = (event.tag, allow_force)
        if memo_key not in self.memo:
            self.memo[memo_key] = "a cycle of requires"  # a loop cannot make itself pass
            self.memo[memo_key] = self._refusal(event, allow_force)
        return self.memo[memo_key]

    def _refusal(self, event: Event, allow_force: bool) -> str | None:
        assert event.stage is not None and event.version is not None
        stage_policy = self.source.stage(event.stage)
        if stage_policy is None:
            return None
        if stage_policy.require_signed:
            problem = verify_signature(self.repo, event.tag, self.source.allowed_signers)
            if problem:
                return (
                    f"{problem} (release.policy.{event.stage}.require_signed on {self.source.ref})"
                )
        failed = self.failed_gates(event, stage_policy)
        if not failed:
            return None
        if self.rollback_of(event) is not None:
            return None
        listed = "; ".join(f"{r.gate}: {r.detail}" for r in failed)
        names = {r.gate for r in failed}
        forced = forced_gates(event.message)
        if allow_force and forced and names <= forced and has_reason(event.message):
            if stage_policy.force == "allowed":
                return None
            return (
                f"{event.tag} was forced past gates but release.policy.{event.stage}.force is"
                f" forbidden on {self.source.ref}: {listed}"
            )
        return f"{len(failed)} policy gate(s) refuse {event.tag}: {listed}"

    def failed_gates(self, event: Event, stage_policy: StagePolicy) -> list[policy.GateResult]:
        """The gates ``event``'s version fails, judged as at the time of ``event``."""
        assert event.stage is not None and event.version is not None
        version = self.art.versions[event.version]
        earlier: set[str] = set()
        required = stage_policy.requires
        if required and self.held(event.version, required, event):
            earlier.add(required)
        holder = holder_before(self.art, event.stage, event)
        baseline = None
        if holder is not None and holder != event.version:
            baseline = (holder, self.art.versions[holder].commit)
        facts = policy.read_facts(
            self.repo,
            stage_policy,
            version=event.version,
            commit=version.commit,
            active_stages=earlier,
            baseline=baseline,
        )
        return policy.failures(policy.evaluate(stage_policy, facts, self.card_check))

    def held(self, version: str, stage: str, until: Event) -> bool:
        """True when ``version`` had an allowed assignment to ``stage`` before ``until``."""
        for e in reversed(self.art.versions[version].stages.get(stage, [])):
            if before(e, until) and e.action is Action.ASSIGN and self.refusal(e) is None:
                return True
        return False

    def clean_holding(self, version: str, stage: str) -> Event | None:
        """The latest allowed assignment, without force, of ``version`` to ``stage``."""
        for e in reversed(self.art.versions[version].stages.get(stage, [])):
            if (
                e.action is Action.ASSIGN
                and not forced_gates(e.message)
                and self.refusal(e, allow_force=False) is None
            ):
                return e
        return None

    def rollback_of(self, event: Event) -> Event | None:
        """An earlier allowed assignment, without force, of the same version to the stage."""
        assert event.stage is not None and event.version is not None
        for e in reversed(self.art.versions[event.version].stages.get(event.stage, [])):
            if (
                before(e, event)
                and e.action is Action.ASSIGN
                and not forced_gates(e.message)
                and self.refusal(e, allow_force=False) is None
            ):
                return e
        return None


def check_assignment(
    repo: str | os.PathLike[str],
    name: str,
    stage: str,
    version: str,
    *,
    state: RegistryState,
    source: PolicySource,
) -> Clearance:
    """Clear the assignment that gives ``stage`` ``version``, or raise CheckFailed."""
    root = git.toplevel(repo)
    art = state.artifact(name)
    v = art.versions.get(version)
    event = v.last_assignment(stage) if v is not None else None
    if event is None:
        raise CheckFailed(f"{name} {version} has no assignment to {stage}", "promote it first")
    if source.settings is None:
        return Clearance(name, stage, version, event.tag, source.ref, notes=("no policy",))
    judge = Judge(root, art, source)
    problem = judge.refusal(event)
    if problem is not None:
        raise CheckFailed(
            f"deploy refused: {problem}",
            f"policy from {source.ref}; promote through the gates, or"
            " release promote --force --reason TEXT where the stage allows it",
        )
    stage_policy = source.stage(stage)
    forced: tuple[str, ...] = ()
    rollback = None
    if stage_policy is not None and judge.failed_gates(event, stage_policy):
        rollback = judge.rollback_of(event)
        if rollback is None:
            forced = tuple(sorted(forced_gates(event.message)))
    return Clearance(
        name,
        stage,
        version,
        event.tag,
        source.ref,
        forced=forced,
        rollback_of=rollback.tag if rollback else None,
    )


def check_deploy(
    repo: str | os.PathLike[str],
    name: str,
    stage: str,
    settings: Settings | None = None,
    *,
    on_note: Callable[[str], None] | None = None,
) -> Clearance | None:
    """The deploy path's one call: clear the stage's current assignment, or raise.

    None when the stage holds no version (the deploy command reports that itself).
    ``settings`` (the working tree's) only say where the policy ref is; the policy itself
    comes from the ref.
    """
    validate_name(name)
    validate_stage(stage)
    root = git.toplevel(repo)
    state = read_state(root, [name])
    art = state.artifacts.get(name)
    version = art.active_version(stage) if art else None
    if version is None:
        return None
    ref = resolve_policy_ref(root, settings.release.policy_ref if settings else None)
    try:
        source = load_policy(root, ref)
    except ReleaseError as exc:
        raise CheckFailed(
            f"deploy refused: the policy on {ref} cannot be read: {exc.what}",
            "fix params.yaml on the protected branch",
        ) from None
    if source.settings is None and settings is not None and settings.release.policy:
        raise CheckFailed(
            f"deploy refused: {paths.PARAMS} is not committed on the policy ref {ref}",
            "commit and push the policy to the protected branch",
        )
    clearance = check_assignment(root, name, stage, version, state=state, source=source)
    if on_note is not None:
        if clearance.forced:
            on_note(
                f"policy ({ref}): {clearance.tag} deploys past forced gates:"
                f" {', '.join(clearance.forced)}"
            )
        elif clearance.rollback_of:
            on_note(f"policy ({ref}): {clearance.tag} restores {clearance.rollback_of}")
    return clearance

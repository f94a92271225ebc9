"""Writing the registry: one annotated tag per change, in gto's format, safe under races.

A change is planned from a fresh scan (the counter ``#N`` and the checks come from the
same state), then written with ``git tag -a`` (``-s`` to sign), which refuses an existing
name. Writers in one clone take a lock (in the git directory) around plan, tag and push,
so two of them never plan the same counter. Across clones, a tag with a counter is pushed
atomically (``git push --atomic``) with a claim ref ``refs/release/counters/NAME#N``
pointing at it: the remote accepts only the first claim of a counter, so a concurrent
writer's push is rejected as a whole; our unpushed local tag is then deleted, the
remote's tags and claims are fetched and the change is planned again with the next
counter. A push that fails for any other reason removes the local tag and reports the
remote's own reason: nothing is left half-written.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from release.errors import RegistryError
from release.grammar import name_to_tag, parse_tag, validate_remote
from release.registry import git
from release.registry.state import RegistryState, read_state

MAX_ATTEMPTS = 50
LOCK_TIMEOUT = 120.0
CLAIMS = "refs/release/counters"
_CLAIM_RE = re.compile(r"#([0-9]+)$")


@dataclass(frozen=True)
class TagPlan:
    """One tag to write: name, target commit and message."""

    name: str
    commit: str
    message: str
    sign: bool = False


def _taken(stderr: str) -> bool:
    # The name exists, or another writer holds git's own lock file on it right now.
    return "already exists" in stderr or ("cannot lock ref" in stderr and "File exists" in stderr)


def _tag_problem(name: str, stderr: str) -> RegistryError | None:
    """The real reason git refused to create ``name``, when it is not a name clash."""
    if "File name too long" in stderr or "Filename too long" in stderr:
        longest = max(len(part.encode()) for part in name.split("/"))
        return RegistryError(
            f"tag {name[:60]}... is too long for the file system ({longest} bytes in one part)",
            "use a shorter artifact or stage name (git stores tags as files: 255 bytes a part)",
        )
    clash = re.search(r"'(refs/[^']+)' exists; cannot create", stderr)
    if clash:
        return RegistryError(
            f"tag {name} clashes with the existing ref {clash.group(1)}"
            " (a git ref cannot be both a name and a folder)",
            "rename the artifact or delete the clashing tag",
        )
    if "cannot lock ref" in stderr and "File exists" not in stderr:
        lines = stderr.strip().splitlines()
        return RegistryError(f"could not create tag {name}: {lines[-1]}", "check the repository")
    return None


def tagger_date(state: RegistryState, names: list[str]) -> str | None:
    """A ``GIT_COMMITTER_DATE`` one second after the artifact's latest event, when the
    clock has not moved past it yet; None otherwise (git takes the time itself).

    gto orders events by tagger time, which git keeps to the second, and breaks same-second
    ties arbitrarily; release breaks them by counter. Writing every tag strictly after the
    ones its writer has seen (under the lock, and after the remote's claims) makes both
    orders the same, so gto and release agree on what a stage holds.
    """
    latest = max(
        (e.time for n in names if n in state.artifacts for e in state.artifacts[n].events),
        default=None,
    )
    if latest is None:
        return None
    raw = os.environ.get("GIT_COMMITTER_DATE", "")
    epoch, _, zone = raw.partition(" ")
    if raw and not (epoch.isdigit() and re.fullmatch(r"[+-][0-9]{4}", zone)):
        return None  # a date in another format: the user's choice, left alone
    now = int(epoch) if raw else int(time.time())
    if now > latest:
        return None
    return f"{latest + 1} {zone or time.strftime('%z')}"


def create_tag(repo: str | os.PathLike[str], plan: TagPlan, date: str | None = None) -> bool:
    """Create the annotated tag; False when the name is taken, RegistryError otherwise."""
    proc = git.run(
        repo,
        "tag",
        "-s" if plan.sign else "-a",
        "--cleanup=whitespace",
        "-F",
        "-",
        plan.name,
        plan.commit,
        input=plan.message.encode("utf-8"),
        check=False,
        env={"GIT_COMMITTER_DATE": date} if date else None,
    )
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode == 0:
        if plan.sign:
            _check_signed(repo, plan.name, err)
        return True
    problem = _tag_problem(plan.name, err)
    if problem is not None:
        raise problem
    if _taken(err):
        return False
    if plan.sign and ("sign" in err or "gpg" in err or "ssh" in err):
        lines = err.strip().splitlines()
        raise RegistryError(
            f"git could not sign {plan.name}: {lines[-1] if lines else proc.returncode}",
            "set user.signingkey (and gpg.format ssh for SSH keys), or drop --sign",
        )
    if "tell me who you are" in err or "empty ident" in err:
        raise RegistryError(
            "git does not know who you are, so it cannot write the tag's tagger",
            'git config user.name "Name" && git config user.email you@example.com',
        )
    lines = err.strip().splitlines()
    raise RegistryError(
        f"could not create tag {plan.name}: {lines[-1] if lines else proc.returncode}",
        "check the repository",
    )


def _check_signed(repo: str | os.PathLike[str], name: str, stderr: str) -> None:
    """Some git versions write an unsigned tag when the SSH key cannot be read: undo it."""
    body = git.run(repo, "cat-file", "tag", f"refs/tags/{name}", check=False).stdout
    if b"\n-----BEGIN " in body:
        return
    delete_local_tag(repo, name)
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    raise RegistryError(
        f"git could not sign {name}: {lines[0] if lines else 'no signature was written'}",
        "set user.signingkey (and gpg.format ssh for SSH keys), or drop --sign",
    )


def delete_local_tag(repo: str | os.PathLike[str], name: str) -> None:
    """Delete a local tag (only ever one this process created and did not push)."""
    git.run(repo, "tag", "-d", name, check=False)


def check_remote(repo: str | os.PathLike[str], remote: str) -> str:
    """Validate ``remote`` and check it is configured; return it."""
    validate_remote(remote)
    remotes = git.run(repo, "remote").stdout.decode().split()
    if remote not in remotes:
        raise RegistryError(
            f"remote {remote!r} is not configured",
            f"configured: {', '.join(remotes) or 'none'} (git remote add {remote} URL)",
        )
    return remote


def claim_ref(name: str) -> str | None:
    """The claim ref of a tag's counter (``refs/release/counters/NAME#N``), or None."""
    parsed = parse_tag(name)
    if parsed is None or parsed.counter is None:
        return None
    return f"{CLAIMS}/{name_to_tag(parsed.artifact)}#{parsed.counter}"


def _push_reason(proc_out: bytes, proc_err: bytes, returncode: int) -> str:
    """The remote's own reason from ``git push --porcelain`` output and stderr."""
    out = proc_out.decode("utf-8", "replace").splitlines()
    err = proc_err.decode("utf-8", "replace").splitlines()
    # porcelain: "!<TAB>src:dst<TAB>[remote rejected] (pre-receive hook declined)"
    rejected = [line.split("\t")[-1].strip() for line in out if line.startswith("!")]
    remote = [line[len("remote:") :].strip() for line in err if line.startswith("remote:")]
    remote = [line for line in remote if line]
    fatal = [line for line in err if line.startswith(("fatal:", "error:"))]
    parts = rejected[:1] + remote[-2:] or fatal[:1] or [str(returncode)]
    return "; ".join(parts)


def push_tag(repo: str | os.PathLike[str], remote: str, name: str) -> bool:
    """Push one tag without force (atomically with its counter's claim ref, if it has a
    counter): True when it landed, False when a concurrent writer took the name or the
    counter first; RegistryError with the remote's reason otherwise."""
    ref = f"refs/tags/{name}"
    claim = claim_ref(name)
    specs = [f"{ref}:{ref}"] + ([f"{ref}:{claim}"] if claim else [])
    atomic = ["--atomic"] if claim else []
    proc = git.run(repo, "push", "--porcelain", *atomic, remote, *specs, check=False)
    if proc.returncode == 0:
        return True
    remote_has = git.run(repo, "ls-remote", remote, ref, *([claim] if claim else []), check=False)
    if remote_has.returncode == 0 and remote_has.stdout.strip():
        return False  # a concurrent writer pushed the same name or counter first
    reason = _push_reason(proc.stdout, proc.stderr, proc.returncode)
    raise RegistryError(
        f"push of {name} to {remote} failed: {reason}",
        "check the remote's URL, permissions and rules; no tag was kept",
    )


def claimed_counters(repo: str | os.PathLike[str], names: list[str]) -> dict[str, int]:
    """The highest counter claimed (as fetched from the remote) per artifact."""
    patterns = [f"{CLAIMS}/{name_to_tag(n)}#*" for n in names]
    out = git.run(repo, "for-each-ref", "--format=%(refname)", *patterns).stdout.decode()
    found: dict[str, int] = {}
    for n in names:
        prefix = f"{CLAIMS}/{name_to_tag(n)}#"
        for line in out.splitlines():
            match = _CLAIM_RE.search(line)
            if line.startswith(prefix) and match and line[len(prefix) :].isdigit():
                found[n] = max(found.get(n, 0), int(match.group(1)))
    return found


def fetch_tags(repo: str | os.PathLike[str], remote: str, names: list[str]) -> None:
    """Fetch the remote's tags of ``names`` (no force: local tags are never overwritten)."""
    specs = [
        f"refs/tags/{name_to_tag(n)}{sep}*:refs/tags/{name_to_tag(n)}{sep}*"
        for n in names
        for sep in "@#"
    ] + [f"+{CLAIMS}/{name_to_tag(n)}#*:{CLAIMS}/{name_to_tag(n)}#*" for n in names]
    proc = git.run(repo, "fetch", "--quiet", "--no-tags", remote, *specs, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "would clobber existing tag" not in err:
            lines = err.strip().splitlines()
            raise RegistryError(
                f"fetching tags from {remote} failed: {lines[-1] if lines else proc.returncode}",
                "check the remote",
            )


@contextmanager
def writer_lock(repo: str | os.PathLike[str]) -> Iterator[None]:
    """One registry writer at a time in this clone (all worktrees share the lock)."""
    common = git.run(repo, "rev-parse", "--path-format=absolute", "--git-common-dir")
    path = Path(common.stdout.decode().strip()) / "release-registry.lock"
    try:
        with FileLock(str(path), timeout=LOCK_TIMEOUT):
            yield
    except Timeout:
        raise RegistryError(
            f"another release command has held {path} for {LOCK_TIMEOUT:g}s",
            "wait for it to finish (or delete the lock file if no release command runs)",
        ) from None


def write(
    repo: str | os.PathLike[str],
    planner: Callable[[RegistryState], TagPlan],
    *,
    names: list[str],
    push: str | None = None,
) -> str:
    """Plan from a fresh scan of ``names``' tags, write the tag, push it; return its name.

    ``planner`` raises a ReleaseError when the change is not allowed; it is called again
    after every clash, so its checks always see the latest state.
    """
    if push is not None:
        check_remote(repo, push)
    with writer_lock(repo):
        return _write(repo, planner, names=names, push=push)


def _write(
    repo: str | os.PathLike[str],
    planner: Callable[[RegistryState], TagPlan],
    *,
    names: list[str],
    push: str | None,
) -> str:
    if push is not None:
        fetch_tags(repo, push, names)  # plan from the remote's counters, not a stale view
    for attempt in range(MAX_ATTEMPTS):
        state = read_state(repo, names)
        for name, claimed in claimed_counters(repo, names).items():
            state.max_counter[name] = max(state.max_counter.get(name, 0), claimed)
        plan = planner(state)
        if plan.name in state.names:
            raise RegistryError(
                f"tag {plan.name} already exists but is not a GTO tag gto reads"
                " (lightweight or not on a commit)",
                f"delete it (git tag -d '{plan.name}') or choose another version",
            )
        if not create_tag(repo, plan, tagger_date(state, names)):
            time.sleep(0.005 * (attempt % 5))
            continue
        if push is None:
            return plan.name
        try:
            landed = push_tag(repo, push, plan.name)
        except BaseException:
            delete_local_tag(repo, plan.name)
            raise
        if landed:
            return plan.name
        delete_local_tag(repo, plan.name)
        fetch_tags(repo, push, names)
    raise RegistryError(
        f"gave up after {MAX_ATTEMPTS} attempts: other writers keep taking the tag name",
        "retry in a moment",
    )

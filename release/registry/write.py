"""Writing the registry: one annotated tag per change, in gto's format, safe under races.

A change is planned from a fresh scan (the counter ``#N`` and the checks come from the
same state), then written with ``git tag -a``, which refuses an existing name. If a
concurrent writer took the name, the tag is planned again from a new scan. With a remote,
only the new tag is pushed (never forced); if the remote already has that name, our
unpushed local tag is deleted, the remote's tags are fetched and the change is planned
again. Before planning, the remote's tags of the artifact are fetched, so counters stay
unique across clones. A push that fails for any other reason removes the local tag: nothing is left
half-written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from release.errors import RegistryError
from release.registry import git
from release.registry.grammar import name_to_tag, validate_remote
from release.registry.state import RegistryState, read_state

MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class TagPlan:
    """One tag to write: name, target commit and message."""

    name: str
    commit: str
    message: str


def _taken(stderr: str) -> bool:
    return "already exists" in stderr or "cannot lock ref" in stderr or ".lock" in stderr


def create_tag(repo: str | os.PathLike[str], plan: TagPlan) -> bool:
    """Create the annotated tag; False when the name is taken, RegistryError otherwise."""
    proc = git.run(
        repo,
        "tag",
        "-a",
        "--cleanup=whitespace",
        "-F",
        "-",
        plan.name,
        plan.commit,
        input=plan.message.encode("utf-8"),
        check=False,
    )
    if proc.returncode == 0:
        return True
    err = proc.stderr.decode("utf-8", "replace")
    if _taken(err):
        return False
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


def push_tag(repo: str | os.PathLike[str], remote: str, name: str) -> bool:
    """Push one tag without force: True when it landed, False when the remote has the name."""
    ref = f"refs/tags/{name}"
    proc = git.run(repo, "push", "--porcelain", remote, f"{ref}:{ref}", check=False)
    if proc.returncode == 0:
        return True
    remote_has = git.run(repo, "ls-remote", "--tags", remote, ref, check=False)
    if remote_has.returncode == 0 and remote_has.stdout.strip():
        return False  # a concurrent writer pushed the same name first
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace").strip().splitlines()
    reason = next((line for line in reversed(text) if line.strip()), str(proc.returncode))
    raise RegistryError(
        f"push of {name} to {remote} failed: {reason.strip()}",
        "check the remote's URL, permissions and rules; no tag was kept",
    )


def fetch_tags(repo: str | os.PathLike[str], remote: str, names: list[str]) -> None:
    """Fetch the remote's tags of ``names`` (no force: local tags are never overwritten)."""
    specs = [
        f"refs/tags/{name_to_tag(n)}{sep}*:refs/tags/{name_to_tag(n)}{sep}*"
        for n in names
        for sep in "@#"
    ]
    proc = git.run(repo, "fetch", "--quiet", "--no-tags", remote, *specs, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "would clobber existing tag" not in err:
            lines = err.strip().splitlines()
            raise RegistryError(
                f"fetching tags from {remote} failed: {lines[-1] if lines else proc.returncode}",
                "check the remote",
            )


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
        fetch_tags(repo, push, names)  # plan from the remote's counters, not a stale view
    for attempt in range(MAX_ATTEMPTS):
        state = read_state(repo, names)
        plan = planner(state)
        if plan.name in state.names:
            raise RegistryError(
                f"tag {plan.name} already exists but is not a GTO tag gto reads"
                " (lightweight or not on a commit)",
                f"delete it (git tag -d '{plan.name}') or choose another version",
            )
        if not create_tag(repo, plan):
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

"""The registry state, built from one ``git for-each-ref`` call over ``refs/tags``.

gto rebuilds pydantic objects for every tag on every call and compares them pairwise; here
one scan gives, per tag, its name, object, type, target, tagger and message, and the
entities of :mod:`release.registry.entities` are built in one pass with gto 1.x's rules.

Skipped with one warning line: tags that look like GTO tags (with ``@`` or ``#``) but do
not parse, and lightweight GTO-looking tags (gto ignores them too; in CI fetch tags as
annotated objects). Other tags, such as ``v1.2.3`` release tags, are skipped silently.
A tag on a tag is read as gto (GitPython) reads it: the inner tag object is the version's
``commit_hexsha``, the commit it peels to gives the enrichment; the outer tag's tagger and
message are the event's. Signatures are not part of a message (gto drops them too).
"""

from __future__ import annotations

import os
import subprocess

from release.grammar import Action, ParsedTag, name_to_tag, parse_tag
from release.registry import git
from release.registry.entities import (
    ArtifactState,
    CommitInfo,
    Event,
    RegistryState,
    VersionState,
    parse_commit_object,
    raw_offset,
    to_datetime,
)

__all__ = [
    "FORMAT",
    "ArtifactState",
    "CommitInfo",
    "Event",
    "RegistryState",
    "VersionState",
    "parse_commit_object",
    "parse_scan",
    "parse_scan_peeled",
    "read_state",
    "scan",
    "start_scan",
    "strip_signature",
    "to_datetime",
]

# One record per tag; %00 separates fields (tag messages cannot contain NUL). Only fields
# of the tag object itself: peeling to the commit would make git read every commit too.
# %(objectname) names the tag object: with the ref name it is the exact state of the ref.
_FIELDS = (
    "%(refname)",
    "%(objectname)",
    "%(objecttype)",
    "%(object)",
    "%(type)",
    "%(tagger)",
    "%(contents)",
)
FORMAT = "%00".join(_FIELDS) + "%00"
_N = len(_FIELDS)


def _scan_args(names: list[str] | None, seps: str = "@#") -> list[str]:
    patterns = ["refs/tags"]
    if names:
        patterns = [f"refs/tags/{name_to_tag(n)}{sep}*" for n in names for sep in seps]
    return ["for-each-ref", f"--format={FORMAT}", *patterns]


def scan(
    repo: str | os.PathLike[str] = ".",
    names: list[str] | None = None,
    extra: list[str] | None = None,
    seps: str = "@#",
) -> bytes:
    """Raw ``for-each-ref`` output for all tags, or the tags of ``names`` (``seps``: which
    kinds, ``@`` versions and deprecations, ``#`` stages) plus the ``extra`` tags."""
    args = _scan_args(names, seps) + [f"refs/tags/{t}" for t in extra or []]
    return git.run(repo, *args).stdout


def start_scan(
    repo: str | os.PathLike[str] = ".", names: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Start the scan in the background; pass the result to ``parse_scan(git.finish(p))``."""
    return git.start(repo, *_scan_args(names))


_SIGNATURE_STARTS = (
    "-----BEGIN PGP SIGNATURE-----",
    "-----BEGIN SSH SIGNATURE-----",
    "-----BEGIN SIGNED MESSAGE-----",
)


def strip_signature(message: str) -> str:
    """The tag message without its trailing signature block (git's own parse_signature)."""
    lines = message.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(_SIGNATURE_STARTS):
            return "\n".join(lines[:i])
    return message


def _event(name: str, parsed: ParsedTag, rec: list[str]) -> Event:
    """The event of one annotated tag record (``rec``: the scan's fields)."""
    assert parsed.action is not None
    who, _, when = rec[5].rpartition(">")
    author, _, email = who.partition("<")
    time, offset = raw_offset(when.strip())
    return Event(
        tag=name,
        artifact=parsed.artifact,
        action=parsed.action,
        commit=rec[3],
        time=time,
        offset=offset,
        author=author.strip(),
        author_email=email.strip(),
        message=strip_signature(rec[6]).strip(),
        version=parsed.version,
        stage=parsed.stage,
        counter=parsed.counter,
    )


def _phase(action: Action) -> str:
    if action is Action.DEPRECATE:
        return "artifact"
    return "version" if action in (Action.REGISTER, Action.DEREGISTER) else "stage"


def parse_scan(raw: bytes, peeled: dict[str, str] | None = None) -> RegistryState:
    """Build the state from :func:`scan` output (pure; no git).

    ``peeled`` maps tags on tags to their commit; tags on tags missing from it are listed
    in ``state.nested`` (see :func:`parse_scan_peeled`).
    """
    parts = raw.decode("utf-8", "replace").split("\0")
    state = RegistryState()
    phases: dict[str, list[Event]] = {"artifact": [], "version": [], "stage": []}
    refs: list[str] = []
    for i in range(0, len(parts) - _N + 1, _N):
        rec = parts[i : i + _N]
        refname = rec[0].lstrip("\n")
        refs.append(f"{rec[1]} {refname}\n")
        name = refname[len("refs/tags/") :]
        state.names.add(name)
        parsed = parse_tag(name)
        if parsed is None or parsed.action is None:
            state.skipped.append(name)
            continue
        if parsed.counter is not None:
            prev = state.max_counter.get(parsed.artifact, 0)
            state.max_counter[parsed.artifact] = max(prev, parsed.counter)
        if rec[2] == "tag" and rec[4] == "tag":
            # gto (GitPython) names the inner tag object as the version's commit, and
            # reads the commit it peels to for enrichments; one not ending at a commit
            # is skipped (gto fails on it).
            if peeled is None or name not in peeled:
                state.nested.append(name)
                continue
        elif rec[2] != "tag" or rec[4] != "commit":
            state.lightweight.append(name)  # gto reads annotated tags on commits only
            continue
        event = state.tags[name] = _event(name, parsed, rec)
        phases[_phase(parsed.action)].append(event)
    state.refs = "".join(refs).encode()
    # gto indexes deprecations, then versions, then stages, each by time: an assignment
    # finds the version registered at its commit whenever that registration happened.
    for phase in ("artifact", "version", "stage"):
        for event in sorted(phases[phase], key=lambda e: (e.time, e.tag)):
            _index(state, event)
    _sort_events(state)
    _warn_skipped(state)
    return state


def _sort_events(state: RegistryState) -> None:
    for art in state.artifacts.values():
        art.events.sort(key=lambda e: e.key)
        art.deprecations.sort(key=lambda e: e.key)
        for v in art.versions.values():
            v.registrations.sort(key=lambda e: e.key)
            v.deregistrations.sort(key=lambda e: e.key)
            for events in v.stages.values():
                events.sort(key=lambda e: e.key)


def _warn_skipped(state: RegistryState) -> None:
    malformed = [t for t in state.skipped if "@" in t or "#" in t]
    if malformed:
        shown = ", ".join(malformed[:3]) + (" ..." if len(malformed) > 3 else "")
        state.warnings.append(
            f"warning: skipped {len(malformed)} tag(s) that look like GTO tags but are not: {shown}"
        )
    if state.lightweight:
        shown = ", ".join(state.lightweight[:3]) + (" ..." if len(state.lightweight) > 3 else "")
        state.warnings.append(
            f"warning: ignored {len(state.lightweight)} lightweight tag(s) ({shown}); GTO reads"
            " annotated tags only (in CI: git fetch --force --tags origin)"
        )


def _index(state: RegistryState, event: Event) -> None:
    art = state.artifacts.get(event.artifact)
    if art is None:
        art = state.artifacts[event.artifact] = ArtifactState(event.artifact)
    art.events.append(event)
    if event.action is Action.DEPRECATE:
        art.deprecations.append(event)
        return
    if event.action in (Action.REGISTER, Action.DEREGISTER):
        assert event.version is not None
        v = art.versions.get(event.version)
        if v is None:
            v = art.versions[event.version] = VersionState(art.name, event.version, event.commit)
            art.by_commit.setdefault(event.commit, []).append(v)
        (v.registrations if event.action is Action.REGISTER else v.deregistrations).append(event)
        return
    found = art.version_at(event.commit)
    if found is None:
        found = art.versions.get(event.commit)
        if found is None:
            found = art.versions[event.commit] = VersionState(art.name, event.commit, event.commit)
            art.by_commit.setdefault(event.commit, []).append(found)
    event.version = found.version
    assert event.stage is not None
    found.stages.setdefault(event.stage, []).append(event)


def parse_scan_peeled(repo: str | os.PathLike[str], raw: bytes) -> RegistryState:
    """:func:`parse_scan`, peeling tags on tags to their commits with one more git call.

    Tags on tags are rare, so the scan does not peel every tag (that reads every commit).
    One that does not end at a commit is skipped as gto cannot read it either.
    """
    state = parse_scan(raw)
    if not state.nested:
        return state
    # peeled by object name, not ref name: a tag moved since the scan cannot leak in
    sha = dict(
        (ref[len("refs/tags/") :], obj)
        for obj, _, ref in (line.partition(" ") for line in state.refs.decode().splitlines())
    )
    objects = git.read_objects(repo, [f"{sha[n]}^{{commit}}" for n in state.nested])
    peeled = {
        n: obj[0]
        for n, obj in zip(state.nested, objects, strict=True)
        if obj is not None and obj[1] == "commit"
    }
    again = parse_scan(raw, peeled)
    again.lightweight.extend(again.nested)  # tags on tags on trees or blobs
    again.nested = []
    return again


def read_state(repo: str | os.PathLike[str] = ".", names: list[str] | None = None) -> RegistryState:
    """Scan the tags of ``repo`` (all, or those of ``names``) into a RegistryState."""
    return parse_scan_peeled(repo, scan(repo, names))

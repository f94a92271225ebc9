"""The registry state, built from one ``git for-each-ref`` call over ``refs/tags``.

gto rebuilds pydantic objects for every tag on every call and compares them pairwise; here
one scan gives, per tag, its name, type, target, peeled commit, tagger and message, and the
state is computed in one pass with the same rules as gto 1.x:

- a version is active while its latest registration/deregistration is a registration
  (a version only seen through assignments, at an unregistered commit, is named by the
  commit hexsha and is active);
- a stage assignment of a version stays active until that version is unassigned from the
  stage; the stage holds the active version whose latest assignment is the most recent;
- the latest version is the highest semver among active registered versions;
- an artifact is deprecated while its latest deprecation is newer than every other event
  (tags, and the commits its versions point at, as gto's enrichment events).

Ordering. gto orders events by tagger time, which git stores to the second, and breaks
ties by tag-listing order, so two events in the same second are ambiguous in gto. We order
by (tagger time, counter ``#N``, gto event priority, tag name): deterministic, and for
tags written by one writer the counter is the true order. Outside same-second ties the
result equals gto's.

Skipped with one warning line: tags that look like GTO tags (with ``@`` or ``#``) but do
not parse, and lightweight GTO-looking tags (gto ignores them too; in CI fetch tags as
annotated objects). Other tags, such as ``v1.2.3`` release tags, are skipped silently.
A tag on a tag is read as gto (GitPython) reads it: the inner tag object is the version's
``commit_hexsha``, the commit it peels to gives the enrichment; the outer tag's tagger and
message are the event's. Signatures are not part of a message (gto drops them too).
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from release.errors import RegistryError
from release.grammar import (
    EVENT_NAME,
    PRIORITY,
    Action,
    SemVer,
    is_semver,
    name_to_tag,
    parse_tag,
)
from release.registry import git

# One record per tag; %00 separates fields (tag messages cannot contain NUL). Only fields
# of the tag object itself: peeling to the commit would make git read every commit too.
_FIELDS = ("%(refname)", "%(objecttype)", "%(object)", "%(type)", "%(tagger)", "%(contents)")
FORMAT = "%00".join(_FIELDS) + "%00"
_N = len(_FIELDS)


@dataclass(frozen=True)
class CommitInfo:
    """What gto's enrichment event records about a version's commit."""

    hexsha: str
    time: int
    offset: int
    author: str
    author_email: str
    committer: str
    committer_email: str
    message: str


@dataclass(slots=True)
class Event:
    """One GTO tag, as gto's event of the same name."""

    tag: str
    artifact: str
    action: Action
    commit: str
    time: int
    offset: int
    author: str
    author_email: str
    message: str
    version: str | None = None  # for assignments: the version registered at the commit
    stage: str | None = None
    counter: int | None = None
    # Deterministic order: tagger time, counter, gto priority, tag name.
    key: tuple[int, int, int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = (self.time, self.counter or 0, PRIORITY[self.action], self.tag)

    @property
    def event(self) -> str:
        """gto's event name (``registration``, ``assignment``...)."""
        return EVENT_NAME[self.action]

    @property
    def priority(self) -> int:
        """gto's event priority."""
        return PRIORITY[self.action]

    @property
    def created_at(self) -> datetime:
        """Tagger time with the tagger's UTC offset, as gto builds it."""
        return to_datetime(self.time, self.offset)


def parse_commit_object(hexsha: str, raw: bytes) -> CommitInfo:
    """CommitInfo from a raw commit object (``git cat-file commit``)."""
    text = raw.decode("utf-8", "replace")
    header, _, message = text.partition("\n\n")
    people: dict[str, tuple[str, str, int, int]] = {}
    for line in header.splitlines():
        key, _, rest = line.partition(" ")
        if key in ("author", "committer"):
            who, _, when = rest.rpartition(">")
            name, _, email = who.partition("<")
            epoch, offset = _raw_offset(when.strip())
            people[key] = (name.strip(), email.strip(), epoch, offset)
    author = people.get("author", ("", "", 0, 0))
    committer = people.get("committer", author)
    return CommitInfo(
        hexsha,
        committer[2],
        committer[3],
        author[0],
        author[1],
        committer[0],
        committer[1],
        message,
    )


@functools.lru_cache(maxsize=64)
def _zone(offset: int) -> timezone:
    return timezone(timedelta(seconds=offset))


def to_datetime(epoch: int, offset: int) -> datetime:
    """A timezone-aware datetime exactly as gto (scmrepo) builds it."""
    return datetime.fromtimestamp(epoch, tz=_zone(offset))


@dataclass
class VersionState:
    """One version of an artifact: its direct events and its stage events."""

    artifact: str
    version: str
    commit: str
    registrations: list[Event] = field(default_factory=list)
    deregistrations: list[Event] = field(default_factory=list)
    stages: dict[str, list[Event]] = field(default_factory=dict)

    @property
    def registered(self) -> bool:
        """True when a registration tag exists (gto's ``is_registered``)."""
        return bool(self.registrations)

    @property
    def discovered(self) -> bool:
        """True when no registration/deregistration exists (gto's ``discovered``)."""
        return not self.registrations and not self.deregistrations

    @property
    def active(self) -> bool:
        """Registered and not deregistered since (or only seen through assignments)."""
        if not self.deregistrations:
            return True
        if not self.registrations:
            return False
        return self.registrations[-1].key > self.deregistrations[-1].key

    def stage_active(self, stage: str) -> bool:
        """True when the latest event of this version in ``stage`` is an assignment."""
        events = self.stages.get(stage)
        return bool(events) and events[-1].action is Action.ASSIGN  # type: ignore[index]

    def last_assignment(self, stage: str) -> Event | None:
        """The most recent assignment of this version to ``stage``."""
        for event in reversed(self.stages.get(stage, [])):
            if event.action is Action.ASSIGN:
                return event
        return None

    def active_stages(self) -> list[str]:
        """Stages this version is assigned to (not unassigned since)."""
        return [s for s in self.stages if self.stage_active(s)]


@dataclass
class ArtifactState:
    """Everything the tags say about one artifact."""

    name: str
    versions: dict[str, VersionState] = field(default_factory=dict)
    deprecations: list[Event] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    commit_times: dict[str, int] = field(default_factory=dict)
    by_commit: dict[str, list[VersionState]] = field(default_factory=dict)
    discovered_at: int | None = None  # HEAD commit time when declared in artifacts.yaml

    @property
    def registered(self) -> bool:
        """True when any GTO tag exists for the artifact."""
        return bool(self.events)

    @property
    def active(self) -> bool:
        """False while the latest deprecation is newer than every other event (as gto)."""
        if not self.deprecations:
            return bool(self.events) or self.discovered_at is not None
        last_deprecation = max(e.time for e in self.deprecations)
        others = [e.time for e in self.events if e.action is not Action.DEPRECATE]
        others += [
            self.commit_times[v.commit]
            for v in self.versions.values()
            if v.commit in self.commit_times
        ]
        if self.discovered_at is not None:
            others.append(self.discovered_at)
        # Same-second tie (ambiguous in gto): the deprecation, written last, wins.
        return bool(others) and max(others) > last_deprecation

    def latest_version(self) -> str | None:
        """Highest semver among active registered versions (gto's latest)."""
        best: tuple[SemVer, str] | None = None
        for v in self.versions.values():
            if v.registered and v.active and is_semver(v.version):
                sv = SemVer(v.version)
                if best is None or best[0] < sv:
                    best = (sv, v.version)
        return best[1] if best else None

    def stage_versions(self, stage: str) -> list[VersionState]:
        """Active versions with an active assignment to ``stage``, most recent first."""
        found = [
            (last.key, v)
            for v in self.versions.values()
            if v.active and v.stage_active(stage)
            for last in [v.last_assignment(stage)]
            if last is not None
        ]
        return [v for _, v in sorted(found, key=lambda kv: kv[0], reverse=True)]

    def active_version(self, stage: str) -> str | None:
        """The version the stage holds now, or None."""
        holders = self.stage_versions(stage)
        return holders[0].version if holders else None

    def used_stages(self) -> set[str]:
        """Stages with an active assignment on an active version (gto's unique_stages)."""
        return {s for v in self.versions.values() if v.active for s in v.active_stages()}

    def next_counter(self) -> int:
        """The next ``#N`` for this artifact (max over all its tags + 1)."""
        return max((e.counter or 0 for e in self.events), default=0) + 1

    def version_at(self, commit: str) -> VersionState | None:
        """The registered (or deregistered) version at ``commit``; latest if several."""
        found = [v for v in self.by_commit.get(commit, []) if not v.discovered]
        if not found:
            return None
        return max(found, key=lambda v: max(e.key for e in v.registrations + v.deregistrations))


@dataclass
class RegistryState:
    """The whole registry, from one scan of ``refs/tags``."""

    artifacts: dict[str, ArtifactState] = field(default_factory=dict)
    tags: dict[str, Event] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    lightweight: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    nested: list[str] = field(default_factory=list)  # tags on tags, not yet peeled
    max_counter: dict[str, int] = field(default_factory=dict)
    commits: dict[str, CommitInfo] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def artifact_names(self) -> list[str]:
        """Names of all artifacts with tags or declarations, in gto's order."""
        return list(self.artifacts)

    def artifact(self, name: str) -> ArtifactState:
        """The artifact called ``name``; RegistryError when unknown."""
        try:
            return self.artifacts[name]
        except KeyError:
            known = ", ".join(self.artifacts) or "none yet"
            raise RegistryError(
                f"unknown artifact {name!r}", f"known artifacts: {known}; register it first"
            ) from None

    def active_version(self, name: str, stage: str) -> str | None:
        """The version ``stage`` holds for artifact ``name`` (None when empty)."""
        art = self.artifacts.get(name)
        return art.active_version(stage) if art else None

    def latest_version(self, name: str) -> str | None:
        """Highest active registered semver of ``name`` (None when none)."""
        art = self.artifacts.get(name)
        return art.latest_version() if art else None

    def version_commit(self, name: str, version: str) -> str:
        """The commit hexsha of ``name`` ``version``; RegistryError when not registered."""
        art = self.artifact(name)
        v = art.versions.get(version)
        if v is None or not v.registered:
            raise RegistryError(
                f"version {version} of {name} is not registered",
                f"registered: {', '.join(x for x in art.versions if art.versions[x].registered)}",
            )
        return v.commit

    def next_counter(self, name: str) -> int:
        """The next assignment counter of ``name`` (counts lightweight tags as gto does)."""
        return self.max_counter.get(name, 0) + 1

    def events(self) -> list[Event]:
        """All events of all artifacts, oldest first."""
        return sorted((e for a in self.artifacts.values() for e in a.events), key=lambda e: e.key)

    def load_commits(self, repo: str | os.PathLike[str], names: list[str] | None = None) -> None:
        """Read the commits versions point at (for gto's enrichment events), in one batch.

        ``names`` defaults to the artifacts with a deprecation: only there do commit times
        change a result (whether the artifact is active).
        """
        if names is None:
            names = [a.name for a in self.artifacts.values() if a.deprecations]
        arts = [self.artifacts[n] for n in names if n in self.artifacts]
        todo = sorted({v.commit for a in arts for v in a.versions.values()} - set(self.commits))
        peeled = [f"{sha}^{{commit}}" for sha in todo]  # a tag on a tag: its commit
        for sha, obj in zip(todo, git.read_objects(repo, peeled), strict=True):
            if obj is not None and obj[1] == "commit":
                self.commits[sha] = parse_commit_object(obj[0], obj[2])
        for a in arts:
            for v in a.versions.values():
                if v.commit in self.commits:
                    a.commit_times[v.commit] = self.commits[v.commit].time

    def used_stages(self) -> list[str]:
        """Stages with an active assignment in any artifact, sorted (gto's used stages)."""
        return sorted({s for a in self.artifacts.values() for s in a.used_stages()})


# --------------------------------------------------------------------------------- scan
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


def _raw_offset(raw: str) -> tuple[int, int]:
    # "1764382016 +0130" -> (1764382016, 5400)
    epoch, _, tz = raw.partition(" ")
    sign = -1 if tz.startswith("-") else 1
    tz = tz.lstrip("+-") or "0000"
    return int(epoch), sign * (int(tz[:-2] or 0) * 3600 + int(tz[-2:]) * 60)


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


def parse_scan(raw: bytes, peeled: dict[str, str] | None = None) -> RegistryState:
    """Build the state from :func:`scan` output (pure; no git).

    ``peeled`` maps tags on tags to their commit; tags on tags missing from it are listed
    in ``state.nested`` (see :func:`parse_scan_peeled`).
    """
    parts = raw.decode("utf-8", "replace").split("\0")
    state = RegistryState()
    phases: dict[str, list[Event]] = {"artifact": [], "version": [], "stage": []}
    for i in range(0, len(parts) - _N + 1, _N):
        rec = parts[i : i + _N]
        refname = rec[0].lstrip("\n")
        name = refname[len("refs/tags/") :]
        state.names.add(name)
        parsed = parse_tag(name)
        if parsed is None or parsed.action is None:
            state.skipped.append(name)
            continue
        if parsed.counter is not None:
            prev = state.max_counter.get(parsed.artifact, 0)
            state.max_counter[parsed.artifact] = max(prev, parsed.counter)
        if rec[1] == "tag" and rec[3] == "tag":
            # gto (GitPython) names the inner tag object as the version's commit, and
            # reads the commit it peels to for enrichments; one not ending at a commit
            # is skipped (gto fails on it).
            if peeled is None or name not in peeled:
                state.nested.append(name)
                continue
        elif rec[1] != "tag" or rec[3] != "commit":
            state.lightweight.append(name)  # gto reads annotated tags on commits only
            continue
        who, _, when = rec[4].rpartition(">")
        author, _, email = who.partition("<")
        time, offset = _raw_offset(when.strip())
        event = Event(
            tag=name,
            artifact=parsed.artifact,
            action=parsed.action,
            commit=rec[2],
            time=time,
            offset=offset,
            author=author.strip(),
            author_email=email.strip(),
            message=strip_signature(rec[5]).strip(),
            version=parsed.version,
            stage=parsed.stage,
            counter=parsed.counter,
        )
        state.tags[name] = event
        phase = (
            "artifact"
            if parsed.action is Action.DEPRECATE
            else "version"
            if parsed.action in (Action.REGISTER, Action.DEREGISTER)
            else "stage"
        )
        phases[phase].append(event)
    # gto indexes deprecations, then versions, then stages, each by time: an assignment
    # finds the version registered at its commit whenever that registration happened.
    for phase in ("artifact", "version", "stage"):
        for event in sorted(phases[phase], key=lambda e: (e.time, e.tag)):
            _index(state, event)
    for art in state.artifacts.values():
        art.events.sort(key=lambda e: e.key)
        art.deprecations.sort(key=lambda e: e.key)
        for v in art.versions.values():
            v.registrations.sort(key=lambda e: e.key)
            v.deregistrations.sort(key=lambda e: e.key)
            for events in v.stages.values():
                events.sort(key=lambda e: e.key)
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
    return state


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
    objects = git.read_objects(repo, [f"refs/tags/{n}^{{commit}}" for n in state.nested])
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

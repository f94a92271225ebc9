"""The registry's entities: events, versions, artifacts and the whole registry.

Pure: built by :mod:`release.registry.state` from one scan of ``refs/tags``, with the
same rules as gto 1.x:

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
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from release.errors import RegistryError
from release.grammar import EVENT_NAME, PRIORITY, Action, SemVer, is_semver
from release.registry import git


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
            epoch, offset = raw_offset(when.strip())
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


def raw_offset(raw: str) -> tuple[int, int]:
    """Epoch and UTC offset in seconds of git's ``EPOCH +HHMM`` ("1764382016 +0130" ->
    (1764382016, 5400))."""
    epoch, _, tz = raw.partition(" ")
    sign = -1 if tz.startswith("-") else 1
    tz = tz.lstrip("+-") or "0000"
    return int(epoch), sign * (int(tz[:-2] or 0) * 3600 + int(tz[-2:]) * 60)


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
    # What the state was built from, in the form of ``git for-each-ref
    # --format='%(objectname) %(refname)' refs/tags`` (the read cache's key) and HEAD.
    refs: bytes = b""
    head: str | None = None

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

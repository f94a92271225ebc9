"""GTO 1.x tag grammar: every regular expression of the registry, named, in one module.

The patterns are character-for-character those of ``gto.constants`` (checked in the tests
against the installed gto), so a tag is a GTO tag here exactly when it is one for gto:

- ``NAME@vX.Y.Z`` registers a version; ``NAME@vX.Y.Z!`` deregisters it;
- ``NAME#STAGE#N`` assigns a stage (``NAME#STAGE`` is the older form without counter);
  ``NAME#STAGE!#N`` unassigns it;
- ``NAME@deprecated`` (or ``NAME@deprecated#N``) deprecates the artifact;
- a monorepo name ``dir/sub:name`` is written ``dir/sub=name`` in tags.

``N`` is one counter per artifact across all stages. This module is pure: no git, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from functools import total_ordering

from release.errors import UsageError

SEPARATOR_IN_NAME = ":"
SEPARATOR_IN_TAG = "="

DIRNAME = "[a-zA-Z0-9-_./]+"
NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
COUNTER = "?P<counter>[0-9]+"
FULLNAME = f"(?P<dirname>{DIRNAME}{SEPARATOR_IN_NAME})?(?P<name>{NAME})"
FULLNAME_IN_TAG = FULLNAME.replace(SEPARATOR_IN_NAME, SEPARATOR_IN_TAG)

NAME_RE = re.compile(f"^{NAME}$")
FULLNAME_RE = re.compile(f"^{FULLNAME}$")
FULLNAME_IN_TAG_RE = re.compile(f"^{FULLNAME_IN_TAG}$")
TAG_RE = re.compile(
    f"^(?P<artifact>{FULLNAME_IN_TAG})(((#(?P<stage>{NAME})|@(?P<version>v{SEMVER}))"
    f"(?P<cancel>!?))|@((?P<deprecated>deprecated)|(?P<created>created)))(#({COUNTER}))?$"
)
SHORTCUT_RE = re.compile(
    f"^(?P<artifact>{FULLNAME})(#(?P<stage>{NAME})|@(?P<version>latest|greatest|v{SEMVER}))$"
)
SEMVER_RE = re.compile(f"^v{SEMVER}$")
HEXSHA_RE = re.compile(r"^[0-9a-fA-F]{40}$")
# A git remote name: what `git remote add` accepts, minus anything an option could start with.
REMOTE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")


class Action(Enum):
    """What a GTO tag does (gto's ``Action`` values)."""

    DEPRECATE = "deprecate"
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"


# gto's event names and priorities (gto.base): history sorts by (timestamp, priority).
EVENT_NAME = {
    Action.DEPRECATE: "deprecation",
    Action.REGISTER: "registration",
    Action.DEREGISTER: "deregistration",
    Action.ASSIGN: "assignment",
    Action.UNASSIGN: "unassignment",
}
PRIORITY = {
    Action.DEPRECATE: 2,
    Action.REGISTER: 3,
    Action.DEREGISTER: 4,
    Action.ASSIGN: 5,
    Action.UNASSIGN: 6,
}


@dataclass(frozen=True)
class ParsedTag:
    """The parts of a GTO tag name. ``action`` is None for gto's ``NAME@created``."""

    artifact: str
    action: Action | None
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


@dataclass(frozen=True)
class Shortcut:
    """``NAME``, ``NAME#STAGE``, ``NAME@vX.Y.Z`` or ``NAME@latest`` (gto's shortcuts)."""

    name: str
    stage: str | None = None
    version: str | None = None
    latest: bool = False


def parse_shortcut(value: str) -> Shortcut:
    """Split a gto shortcut; a plain name comes back as ``Shortcut(name)``."""
    match = SHORTCUT_RE.search(value)
    if not match:
        return Shortcut(value)
    latest = match["version"] in ("latest", "greatest")
    return Shortcut(
        match["artifact"],
        stage=match["stage"],
        version=None if latest else match["version"],
        latest=latest,
    )


def name_to_tag(name: str) -> str:
    """Artifact name as written in tags (``dir/sub:name`` -> ``dir/sub=name``)."""
    return name.replace(SEPARATOR_IN_NAME, SEPARATOR_IN_TAG)


def tag_to_name(value: str) -> str:
    """Artifact name from its tag form (``dir/sub=name`` -> ``dir/sub:name``)."""
    return value.replace(SEPARATOR_IN_TAG, SEPARATOR_IN_NAME)


def parse_tag(tag: str) -> ParsedTag | None:
    """Parse a tag name as gto does; None when it is not a GTO tag."""
    match = TAG_RE.search(tag)
    if not match:
        return None
    action: Action | None = None
    if match["deprecated"]:
        action = Action.DEPRECATE
    if match["version"]:
        action = Action.DEREGISTER if match["cancel"] == "!" else Action.REGISTER
    if match["stage"]:
        action = Action.UNASSIGN if match["cancel"] == "!" else Action.ASSIGN
    counter = int(match["counter"]) if match["counter"] else None
    return ParsedTag(
        artifact=tag_to_name(match["artifact"]),
        action=action,
        version=match["version"],
        stage=match["stage"],
        counter=counter,
    )


def tag_name(
    action: Action,
    artifact: str,
    *,
    version: str | None = None,
    stage: str | None = None,
    counter: int | None = None,
) -> str:
    """The tag gto would write for ``action`` (with ``#N`` when a counter is given)."""
    base = name_to_tag(artifact)
    if action is Action.REGISTER:
        tag = f"{base}@{version}"
    elif action is Action.DEREGISTER:
        tag = f"{base}@{version}!"
    elif action is Action.ASSIGN:
        tag = f"{base}#{stage}"
    elif action is Action.UNASSIGN:
        tag = f"{base}#{stage}!"
    else:
        tag = f"{base}@deprecated"
    return tag if counter is None else f"{tag}#{counter}"


# --------------------------------------------------------------------------- validation
def _ref_safe(value: str) -> bool:
    # git check-ref-format rules that gto's patterns alone do not exclude (dirs allow ".").
    parts = value.split("/")
    return (
        ".." not in value
        and "//" not in value
        and not any(p.startswith(".") or p.endswith(".lock") for p in parts)
        and not value.endswith(".")
    )


def validate_name(name: str) -> str:
    """Check an artifact name (``name`` or ``dir/sub:name``); return it or raise UsageError."""
    if not isinstance(name, str) or not FULLNAME_RE.search(name) or not _ref_safe(name):
        raise UsageError(
            f"invalid artifact name {name!r}",
            "use letters, digits, '-', '_', '/', starting and ending with a letter or digit"
            " (monorepo: dir/sub:name)",
        )
    return name


def validate_stage(stage: str) -> str:
    """Check a stage name; return it or raise UsageError."""
    if not isinstance(stage, str) or not NAME_RE.search(stage):
        raise UsageError(
            f"invalid stage name {stage!r}",
            "use letters, digits, '-', '_', '/', starting and ending with a letter or digit",
        )
    return stage


def validate_version(version: str) -> str:
    """Check a version (semver with a ``v``: ``v1.2.3``); return it or raise UsageError."""
    if not isinstance(version, str) or not SEMVER_RE.search(version):
        raise UsageError(
            f"invalid version {version!r}", "use semantic versioning with a 'v', e.g. v1.2.3"
        )
    return version


def validate_remote(remote: str) -> str:
    """Check a git remote name before it reaches a subprocess."""
    if not isinstance(remote, str) or not REMOTE_RE.search(remote) or ".." in remote:
        raise UsageError(f"invalid remote name {remote!r}", "give a remote from `git remote`")
    return remote


# ------------------------------------------------------------------------------ semver
@total_ordering
class SemVer:
    """A ``vX.Y.Z[-pre][+build]`` version ordered by semver 2.0 precedence."""

    __slots__ = ("build", "major", "minor", "patch", "pre", "text")

    def __init__(self, text: str) -> None:
        match = SEMVER_RE.search(text)
        if not match:
            raise UsageError(f"invalid version {text!r}", "use e.g. v1.2.3")
        self.text = text
        self.major = int(match["major"])
        self.minor = int(match["minor"])
        self.patch = int(match["patch"])
        self.pre: tuple[str, ...] = (
            tuple(match["prerelease"].split(".")) if match["prerelease"] else ()
        )
        self.build = match["buildmetadata"]

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its pre-releases; numeric identifiers before alphanumeric.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SemVer) and self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"SemVer({self.text!r})"

    def bump(self, part: str) -> str:
        """The next version: ``major``, ``minor`` or ``patch`` (pre-release dropped)."""
        if part == "major":
            return f"v{self.major + 1}.0.0"
        if part == "minor":
            return f"v{self.major}.{self.minor + 1}.0"
        if part == "patch":
            return f"v{self.major}.{self.minor}.{self.patch + 1}"
        raise UsageError(f"invalid bump {part!r}", "use major, minor or patch")


def is_semver(text: str) -> bool:
    """True when ``text`` is a ``v``-prefixed semantic version."""
    return bool(SEMVER_RE.search(text))

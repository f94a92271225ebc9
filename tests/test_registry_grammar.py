"""The tag grammar equals gto's own: same regexes, same parses, same version order."""

from __future__ import annotations

import pytest
from gto import constants as gto_constants
from gto.tag import parse_name as gto_parse_name
from gto.versions import SemVer as GtoSemVer

from release import grammar
from release.errors import UsageError
from release.grammar import Action, SemVer, parse_tag, tag_name

NAMES = [
    "model@v0.0.1",
    "model@v1.2.3!",
    "model@v1.2.3-rc.1+build.5",
    "model#prod#3",
    "model#prod",
    "model#prod!#12",
    "model@deprecated",
    "model@deprecated#4",
    "model@created",
    "dir/sub=model@v1.0.0",
    "dir/sub=model#dev#1",
    "a@v1.0.0",
    "my_model-2#staging#7",
    "models/churn#dev#2",
    "model@1.0.0",
    "model#Prod stage#1",
    "-model@v1.0.0",
    "model-@v1.0.0",
    "model@v01.0.0",
    "model#dev#x",
    "v1.0.0",
    "model",
]


def test_patterns_are_gtos() -> None:
    assert grammar.NAME == gto_constants.name
    assert grammar.SEMVER == gto_constants.semver
    assert grammar.DIRNAME == gto_constants.dirname
    assert grammar.TAG_RE.pattern == gto_constants.tag_re.pattern
    assert grammar.NAME_RE.pattern == gto_constants.name_re.pattern
    assert grammar.FULLNAME_RE.pattern == gto_constants.fullname_re.pattern
    assert grammar.FULLNAME_IN_TAG_RE.pattern == gto_constants.fullname_in_tag_re.pattern
    assert grammar.SHORTCUT_RE.pattern == gto_constants.shortcut_re.pattern


@pytest.mark.parametrize(
    "value",
    [
        "model",
        "model#prod",
        "model@v1.2.3",
        "model@latest",
        "dir/sub:model#dev",
        "model@greatest",
        "model#bad!",
    ],
)
def test_shortcuts_match_gto(value: str) -> None:
    theirs = gto_constants.parse_shortcut(value)
    ours = grammar.parse_shortcut(value)
    assert (ours.name, ours.stage, ours.version, ours.latest) == (
        theirs.name,
        theirs.stage,
        theirs.version,
        theirs.latest,
    )


@pytest.mark.parametrize("name", NAMES)
def test_parse_matches_gto(name: str) -> None:
    theirs = gto_parse_name(name, raise_on_fail=False)
    ours = parse_tag(name)
    if not theirs:
        assert ours is None
        return
    assert ours is not None
    assert ours.artifact == theirs["name"]
    assert (ours.action.value if ours.action else None) == (
        theirs["action"].value if "action" in theirs else None
    )
    assert ours.version == theirs.get("version")
    assert ours.stage == theirs.get("stage")
    assert ours.counter == theirs.get("counter")


def test_tag_names_round_trip() -> None:
    assert tag_name(Action.REGISTER, "dir/sub:m", version="v1.0.0") == "dir/sub=m@v1.0.0"
    assert tag_name(Action.ASSIGN, "m", stage="prod", counter=3) == "m#prod#3"
    assert tag_name(Action.UNASSIGN, "m", stage="prod", counter=4) == "m#prod!#4"
    assert tag_name(Action.DEREGISTER, "m", version="v1.0.0") == "m@v1.0.0!"
    assert tag_name(Action.DEPRECATE, "m") == "m@deprecated"
    for tag in ("dir/sub=m@v1.0.0", "m#prod#3", "m#prod!#4", "m@v1.0.0!", "m@deprecated"):
        parsed = parse_tag(tag)
        assert parsed is not None
        rebuilt = tag_name(
            parsed.action,  # type: ignore[arg-type]
            parsed.artifact,
            version=parsed.version,
            stage=parsed.stage,
            counter=parsed.counter,
        )
        assert rebuilt == tag


VERSIONS = [
    "v0.0.1",
    "v0.1.0",
    "v1.0.0-alpha",
    "v1.0.0-alpha.1",
    "v1.0.0-alpha.beta",
    "v1.0.0-beta.2",
    "v1.0.0-beta.11",
    "v1.0.0-rc.1",
    "v1.0.0",
    "v1.0.10",
    "v1.2.0",
    "v10.0.0",
]


def test_semver_order_matches_gto() -> None:
    shuffled = VERSIONS[::-1][3:] + VERSIONS[::-1][:3]
    ours = sorted(shuffled, key=SemVer)
    theirs = sorted(shuffled, key=GtoSemVer)
    assert ours == theirs == VERSIONS


def test_bump() -> None:
    assert SemVer("v1.2.3").bump("patch") == "v1.2.4"
    assert SemVer("v1.2.3").bump("minor") == "v1.3.0"
    assert SemVer("v1.2.3-rc.1").bump("major") == "v2.0.0"
    with pytest.raises(UsageError):
        SemVer("v1.2.3").bump("huge")


@pytest.mark.parametrize("bad", ["", "-x", "a b", "model-", "a..b:m", "x/.hidden:m", "m@v1"])
def test_invalid_names(bad: str) -> None:
    with pytest.raises(UsageError):
        grammar.validate_name(bad)


def test_valid_names() -> None:
    for good in ("m", "model", "my_model-2", "models/churn", "dir/sub:model"):
        assert grammar.validate_name(good) == good
    with pytest.raises(UsageError):
        grammar.validate_stage("prod!")
    with pytest.raises(UsageError):
        grammar.validate_version("1.0.0")
    with pytest.raises(UsageError):
        grammar.validate_remote("--upload-pack=evil")

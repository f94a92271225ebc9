"""State rules on synthetic scans (pure: parse_scan takes for-each-ref's bytes)."""

from __future__ import annotations

import hashlib

from release.registry.api import previous_version
from release.registry.state import parse_scan
from release.registry.views import history, show_all

C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40


def record(tag: str, commit: str, when: int, message: str = "m", kind: str = "tag") -> bytes:
    tagger = f"T <t@example.invalid> {when} +0000" if kind == "tag" else ""
    target_type = "commit" if kind == "tag" else ""
    fields = [
        f"refs/tags/{tag}",
        hashlib.sha1(tag.encode()).hexdigest() if kind == "tag" else commit,  # objectname
        kind,
        commit if kind == "tag" else "",
        target_type,
        tagger,
        message + "\n",
    ]
    return ("\0".join(fields) + "\0\n").encode()


def scan(*records: bytes) -> bytes:
    return b"".join(records)


def test_assignment_stays_until_unassigned_and_same_second_ties_use_the_counter() -> None:
    raw = scan(
        record("m@v1.0.0", C1, 100),
        record("m@v1.1.0", C2, 101),
        record("m@v2.0.0", C3, 102),
        record("m#prod#1", C1, 110),
        # three assignments in one second: the counter decides, not the tag name order
        record("m#prod#10", C3, 120),
        record("m#prod#9", C2, 120),
        record("m#prod#2", C1, 120),
    )
    state = parse_scan(raw)
    assert state.active_version("m", "prod") == "v2.0.0"  # counter 10 is the latest
    art = state.artifact("m")
    assert [v.version for v in art.stage_versions("prod")] == ["v2.0.0", "v1.1.0", "v1.0.0"]
    assert state.next_counter("m") == 11
    events = history(state, "m")
    assert [e["ref"] for e in events[:3]] == ["m#prod#10", "m#prod#9", "m#prod#2"]


def test_unassign_deregister_and_previous_version() -> None:
    raw = scan(
        record("m@v1.0.0", C1, 100),
        record("m@v1.1.0", C2, 101),
        record("m@v2.0.0", C3, 102),
        record("m#prod#1", C1, 110),
        record("m#prod#2", C2, 111),
        record("m#prod#3", C3, 112),
        record("m#prod!#4", C3, 113),  # unassign v2.0.0: prod falls back to v1.1.0
    )
    state = parse_scan(raw)
    art = state.artifact("m")
    assert art.active_version("prod") == "v1.1.0"
    assert previous_version(art, "prod") == "v1.0.0"  # v2.0.0 was pulled on purpose
    raw += record("m@v1.1.0!", C2, 114)  # deregister: out of every stage
    state = parse_scan(raw)
    art = state.artifact("m")
    assert art.active_version("prod") == "v1.0.0"
    assert art.latest_version() == "v2.0.0"
    assert previous_version(art, "prod") is None  # v2.0.0 was unassigned, v1.1.0 is gone
    assert show_all(state, ["prod"])["m"] == {
        "version": "v2.0.0",
        "stage": {"prod": "v1.0.0"},
        "registered": True,
        "active": True,
    }


def test_rollback_twice_returns_where_it_started() -> None:
    raw = scan(
        record("m@v1.0.0", C1, 100),
        record("m@v2.0.0", C2, 101),
        record("m#prod#1", C1, 110),
        record("m#prod#2", C2, 111),
        record("m#prod#3", C1, 112),  # a rollback to v1.0.0
    )
    art = parse_scan(raw).artifact("m")
    assert art.active_version("prod") == "v1.0.0"
    assert previous_version(art, "prod") == "v2.0.0"


def test_deprecation_and_foreign_tags() -> None:
    raw = scan(
        record("m@v1.0.0", C1, 100),
        record("m@deprecated", C1, 120),
        record("release-2024", C1, 90),
        record("m@created", C1, 95),
        record("m#dev#7", C1, 0, kind="commit"),  # lightweight: ignored, counter counts
        record("other=x@v0.1.0-rc.1", C2, 130),
    )
    state = parse_scan(raw)
    assert not state.artifact("m").active
    assert show_all(state, []) == {
        "other:x": {"version": "v0.1.0-rc.1", "stage": {}, "registered": True, "active": True}
    }
    assert state.next_counter("m") == 8
    assert len(state.warnings) == 2
    assert "skipped 1 tag(s)" in state.warnings[0] and "lightweight" in state.warnings[1]
    assert "release-2024" not in state.warnings[0]
    raw += record("m@v1.1.0", C2, 130)  # a newer event brings the artifact back, as in gto
    assert parse_scan(raw).artifact("m").active

"""Rollout records as git notes: written by the records hook, bounded, merge-safe, read back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from release import notes
from release.deploy.records import save_record
from release.registry import api

BIN = Path(sys.executable).parent


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "tag.gpgsign", "false")
    (root / "models").mkdir()
    (root / "models" / "model.json").write_text(json.dumps({"sha256": "ab" * 32}))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    api.register(root, "model", version="v1.0.0")
    api.promote(root, "model", "prod", version="v1.0.0")
    (root / "models" / "model.json").write_text(json.dumps({"sha256": "cd" * 32}))
    git(root, "commit", "-qam", "two")
    api.register(root, "model", version="v1.1.0")
    return root


def entry(id_: str = "r1", **kw) -> dict:
    base = {
        "id": id_,
        "strategy": "canary",
        "candidate": "v1.1.0",
        "baseline": "v1.0.0",
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "outcome": "rolled_back",
        "reason": "10%: error rate",
        "checks": [],
        "steps": [{"step": "10%", "weight": 10, "verdict": {"status": "fail", "reasons": ["x"]}}],
        "rollback_tag": None,
    }
    return base | kw


def record(*entries: dict) -> dict:
    return {"name": "model", "stage": "prod", "current": None, "history": list(entries)}


def test_the_records_hook_notes_a_finished_rollout_on_the_tag_it_executed(repo: Path) -> None:
    tag = api.promote(repo, "model", "prod", version="v1.1.0")
    state_dir = repo / ".release" / "deployments"
    save_record(state_dir, record(entry(outcome="running", finished=None)))
    assert git(repo, "notes", "--ref=release", "list") == ""  # running: nothing yet
    save_record(state_dir, record(entry()))
    lines = git(repo, "notes", "--ref=release", "show", f"refs/tags/{tag}").splitlines()
    assert len(lines) == 1
    noted = json.loads(lines[0])
    assert noted["schema"] == notes.SCHEMA and noted["tag"] == tag
    assert noted["candidate_sha256"] == "cd" * 32 and noted["baseline_sha256"] == "ab" * 32
    assert noted["steps"][0]["verdict"]["status"] == "fail"
    assert "router" not in noted and "token" not in json.dumps(noted)
    # saving again (stop, a later save) changes nothing: one line per rollout id
    before = git(repo, "rev-parse", notes.REF)
    save_record(state_dir, record(entry()))
    assert git(repo, "rev-parse", notes.REF) == before
    assert [e["id"] for e in notes.read_all(repo)[tag]] == ["r1"]


def test_records_outside_a_repository_are_left_alone(tmp_path: Path, capsys) -> None:
    save_record(tmp_path / "state", record(entry()))
    assert capsys.readouterr().err == ""


def test_a_note_that_cannot_be_written_warns_and_never_fails(repo: Path, capsys) -> None:
    api.promote(repo, "model", "prod", version="v1.1.0")
    git(repo, "config", "core.notesRef", "refs/notes/commits")  # harmless
    (repo / ".git" / "refs" / "notes").mkdir(parents=True, exist_ok=True)
    (repo / ".git" / "refs" / "notes" / "release").write_text("not a sha\n")  # broken ref
    save_record(repo / ".release" / "deployments", record(entry()))
    assert "warning: rollout not noted in git" in capsys.readouterr().err


def test_lines_and_notes_are_bounded() -> None:
    huge = entry(
        steps=[{"step": str(i), "verdict": {"reasons": ["y" * 400] * 60}} for i in range(80)]
    )
    line = notes.bounded_line(notes.note_entry("model", "prod", "model#prod#3", huge))
    assert len(line.encode()) <= notes.MAX_LINE
    data = json.loads(line)
    assert data["truncated"] is True and data["steps"][0]["step"] == "0"
    old = [
        json.dumps({"id": f"x{i}", "started": f"2026-01-{i + 1:02d}"}) + " " * 30_000
        for i in range(12)
    ]
    merged = notes.merge_lines(old, line, "r1")
    assert sum(len(x) + 1 for x in merged) <= notes.MAX_NOTE
    assert line in merged and old[0] not in merged  # the oldest went first


def test_notes_from_two_runners_merge_with_cat_sort_uniq(repo: Path, tmp_path: Path) -> None:
    tag = api.promote(repo, "model", "prod", version="v1.1.0")
    other = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    git(other, "config", "user.name", "Runner")
    git(other, "config", "user.email", "r@example.com")
    git(other, "fetch", "-q", "origin", "refs/tags/*:refs/tags/*")
    notes.write_rollout(repo, tag, notes.note_entry("model", "prod", tag, entry("a")))
    notes.write_rollout(other, tag, notes.note_entry("model", "prod", tag, entry("b")))
    git(other, "fetch", "-q", "origin", f"{notes.REF}:refs/notes/incoming")
    git(
        other,
        "notes",
        f"--ref={notes.REF}",
        "merge",
        "-q",
        "-s",
        "cat_sort_uniq",
        "refs/notes/incoming",
    )
    assert [e["id"] for e in notes.read_all(other)[tag]] == ["a", "b"]


def test_a_note_naming_another_tag_is_ignored(repo: Path) -> None:
    tag = api.promote(repo, "model", "prod", version="v1.1.0")
    forged = notes.note_entry("model", "prod", "model#prod#99", entry("f"))
    obj = git(repo, "rev-parse", f"refs/tags/{tag}")
    git(repo, "notes", "--ref=release", "add", "-m", json.dumps(forged), obj)
    git(
        repo,
        "notes",
        "--ref=release",
        "add",
        "-f",
        "-m",
        "not json",
        git(repo, "rev-parse", "HEAD"),
    )
    assert notes.read_all(repo) == {}


def test_release_deployments_shows_rollouts_from_notes(repo: Path) -> None:
    tag = api.promote(repo, "model", "prod", version="v1.1.0")
    notes.write_rollout(repo, tag, notes.note_entry("model", "prod", tag, entry()))
    done = subprocess.run(
        [str(BIN / "release"), "deployments", "--json"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (rec,) = json.loads(done.stdout)
    assert (rec["name"], rec["stage"]) == ("model", "prod")
    assert rec["history"][0]["outcome"] == "rolled_back" and rec["history"][0]["source"] == "notes"
    text = subprocess.run(
        [str(BIN / "release"), "deployments"], cwd=repo, capture_output=True, text=True
    ).stdout
    assert "v1.0.0 -> v1.1.0: rolled_back" in text and "10% fail" in text

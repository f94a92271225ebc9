"""Interop with the real gto CLI, both ways, in temporary repositories.

gto orders events by tagger time to the second and is undefined within one second, so
gto writes wait for the next second and release writes get distinct GIT_COMMITTER_DATEs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_registry_support import (
    commit,
    fake_time_env,
    git,
    gto,
    gto_json,
    gto_write,
    init_repo,
    release,
    release_json,
    tags,
)

pytestmark = pytest.mark.slow


def same_output(repo: Path, *args: str) -> None:
    """``release ARGS --json`` prints exactly what ``gto ARGS --json`` prints."""
    theirs = gto(repo, *args, "--json", check=False)
    ours = release(repo, *args, "--json", check=False)
    if theirs.returncode == 0:
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout, args


def assert_same_reads(repo: Path, artifacts: list[str]) -> None:
    """Every read of release equals gto's: show, show NAME, history, check-ref."""
    same_output(repo, "show")
    same_output(repo, "show", "--deprecated")
    same_output(repo, "history")
    for name in artifacts:
        same_output(repo, "history", name)
        same_output(repo, "show", name)
    kinds: dict[str, str] = {}  # one tag of each kind keeps gto's slow check-ref bounded
    for tag in tags(repo):
        kind = "".join(c for c in tag if c in "@#!") + str(tag.endswith("deprecated"))
        kinds.setdefault(kind, tag)
    for tag in kinds.values():
        same_output(repo, "check-ref", tag)


def test_gto_writes_release_reads(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(repo, "artifacts.yaml", "data:\n  type: dataset\n  path: data.csv\n")
    gto_write(repo, "register", "model")
    gto_write(repo, "assign", "model", "--version", "v0.0.1", "--stage", "dev")
    commit(repo, "model.txt", "two\n")
    gto_write(repo, "register", "model", "--bump-minor")
    gto_write(repo, "assign", "model", "--version", "v0.1.0", "--stage", "dev")
    gto_write(repo, "assign", "model", "--version", "v0.0.1", "--stage", "staging")
    gto_write(repo, "deprecate", "model", "v0.0.1", "staging")  # unassign
    gto_write(repo, "assign", "model", "--version", "v0.1.0", "--stage", "prod")
    gto_write(repo, "register", "dir/sub:other", "HEAD~1", "--version", "v1.0.0")
    gto_write(repo, "register", "dir/sub:other", "HEAD", "--version", "v1.1.0")
    gto_write(repo, "deprecate", "dir/sub:other", "v1.1.0")  # deregister
    gto_write(repo, "register", "old", "HEAD")
    gto_write(repo, "deprecate", "old")
    assert "model#dev!#" not in " ".join(tags(repo))
    assert_same_reads(repo, ["model", "dir/sub:other", "old", "data"])
    for shortcut in ("model#dev", "model@latest", "model@v0.0.1", "model#staging"):
        assert (
            release(repo, "show", shortcut, "--json").stdout
            == gto(repo, "show", shortcut, "--json").stdout
        )
    state = release_json(repo, "show")
    assert state["model"]["stage"] == {"dev": "v0.1.0", "prod": "v0.1.0"}
    assert state["dir/sub:other"]["version"] == "v1.0.0"
    assert "old" not in state and state["data"]["registered"] is False


def test_release_writes_gto_reads(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / ".gto").write_text("stages: [dev, staging, prod]\n")
    first = git(repo, "rev-parse", "HEAD").strip()

    def rel(*args: str) -> str:
        return release(repo, *args, env=fake_time_env()).stdout

    rel("register", "model")
    rel("promote", "model", "dev")
    commit(repo, "model.txt", "two\n")
    rel("register", "model", "--bump", "minor")
    rel("promote", "model", "dev")
    rel("promote", "model", "staging", "--version", "v0.0.1")
    rel("deprecate", "model", "v0.0.1", "staging")
    rel("promote", "model", "staging", "--version", "v0.1.0")
    rel("promote", "model", "prod", "--version", "v0.1.0")
    rel("rollback", "model", "dev", "--reason", "canary failed")
    rel("register", "dir/sub:other", "--ref", first, "--version", "v1.0.0")
    rel("register", "dir/sub:other", "--version", "v1.1.0")
    rel("deprecate", "dir/sub:other", "v1.1.0")
    rel("register", "old")
    rel("deprecate", "old")
    assert "model#dev#7" in tags(repo)  # one counter per artifact across stages
    assert_same_reads(repo, ["model", "dir/sub:other", "old"])
    theirs = gto_json(repo, "show")
    assert theirs["model"]["stage"] == {"dev": "v0.0.1", "staging": "v0.1.0", "prod": "v0.1.0"}
    rollback = gto_json(repo, "check-ref", "model#dev#7")
    assert rollback["version"] == "v0.0.1"
    assert "canary failed" in rollback["message"]
    assert rollback["message"].startswith("Assigning stage dev to artifact model version v0.0.1")
    # gto keeps writing on top of release's tags with the next counter
    gto_write(repo, "assign", "model", "--version", "v0.1.0", "--stage", "dev", "--force")
    assert "model#dev#8" in tags(repo)
    assert release_json(repo, "show") == gto_json(repo, "show")

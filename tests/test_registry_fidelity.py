"""Registry fidelity against the real gto 1.10: tags on tags, auto-bump after a
deregistration, non-GTO tag shapes, and the real reasons git and the remote give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_registry_support import (
    fake_time_env,
    git,
    gto,
    gto_json,
    init_repo,
    release,
    release_json,
    tags,
)

from release.config import settings_from_dict
from release.errors import ConfigError


def rel(repo: Path, *args: str, check: bool = True):
    return release(repo, *args, check=check, env=fake_time_env())


def one_line(proc, code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert text in proc.stderr, proc.stderr


def test_a_tag_on_a_tag_is_read_as_gto_reads_it(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit_sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "tag", "-a", "-m", "inner", "inner-tag")
    git(repo, "tag", "-a", "-m", "Registering artifact model version v0.0.1", "model@v0.0.1",
        "inner-tag", env=fake_time_env())  # fmt: skip
    proc = release(repo, "show", "model", "--json")
    assert "lightweight" not in proc.stderr
    ours = json.loads(proc.stdout)
    assert ours == gto_json(repo, "show", "model")
    # as gto: the version names the inner tag object, its enrichment the commit
    assert ours[0]["commit_hexsha"] == git(repo, "rev-parse", "inner-tag").strip()
    assert ours[0]["enrichments"][0]["commit_hexsha"] == commit_sha
    assert release_json(repo, "history") == gto_json(repo, "history")


def _steps(repo: Path, tool: str) -> list[str]:
    """Register v1.0.0 and v1.1.0, deregister v1.1.0, register HEAD with an auto-bump."""
    if tool == "gto":
        gto(repo, "register", "model", "HEAD~2", "--version", "v1.0.0")
        gto(repo, "register", "model", "HEAD~1", "--version", "v1.1.0")
        gto(repo, "deprecate", "model", "v1.1.0")
        gto(repo, "register", "model", "HEAD")
    else:
        rel(repo, "register", "model", "--ref", "HEAD~2", "--version", "v1.0.0")
        rel(repo, "register", "model", "--ref", "HEAD~1", "--version", "v1.1.0")
        rel(repo, "deprecate", "model", "v1.1.0")
        rel(repo, "register", "model")
    return sorted(t for t in tags(repo) if t.startswith("model@"))


@pytest.mark.slow
def test_bump_after_deregistration_equals_gto(tmp_path: Path) -> None:
    theirs = _steps(init_repo(tmp_path / "theirs", commits=3), "gto")
    ours = _steps(init_repo(tmp_path / "ours", commits=3), "release")
    assert theirs == ours == ["model@v1.0.0", "model@v1.0.1", "model@v1.1.0", "model@v1.1.0!"]


def test_plain_release_tags_are_not_warned_about(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    git(repo, "tag", "-a", "-m", "release", "v1.2.3")
    git(repo, "tag", "-a", "-m", "x", "model@vbad")  # GTO-shaped but malformed: gto ignores it
    rel(repo, "register", "model")
    proc = release(repo, "show")
    assert "v1.2.3" not in proc.stderr and "model@vbad" in proc.stderr
    assert release_json(repo, "show") == gto_json(repo, "show")  # both ignore model@vbad


def test_real_reasons_for_long_names_clashes_and_refused_pushes(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    long_name = "m" + "x" * 299
    proc = rel(repo, "register", long_name, check=False)
    one_line(proc, 2, "too long for the file system")
    assert "gave up" not in proc.stderr
    # a ref/folder clash: a tag named like the artifact's folder
    git(repo, "tag", "-a", "-m", "x", "team")
    proc = rel(repo, "register", "team/model", check=False)
    one_line(proc, 2, "clashes with the existing ref refs/tags/team")
    assert tags(repo) == ["team"]
    # a push refused by the remote shows the remote's own reason
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "push", "-q", "origin", "HEAD:refs/heads/main")
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen until Monday' >&2\nexit 1\n")
    hook.chmod(0o755)
    proc = rel(repo, "register", "model", "--push", check=False)
    one_line(proc, 2, "tags are frozen until Monday")
    assert tags(repo) == ["team"]  # nothing half-written


def test_history_follows_shows_order_within_one_second(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    rel(repo, "register", "model")
    rel(repo, "promote", "model", "dev")
    # an unassignment and a re-assignment in the same second: the counter says which won
    same = {"GIT_COMMITTER_DATE": fake_time_env()["GIT_COMMITTER_DATE"]}
    git(repo, "tag", "-a", "-m", "Unassigning", "model#dev!#2", "model@v0.0.1^{}", env=same)
    git(repo, "tag", "-a", "-m", "Assigning", "model#dev#3", "model@v0.0.1^{}", env=same)
    assert release_json(repo, "show")["model"]["stage"] == {"dev": "v0.0.1"}
    refs = [e["ref"] for e in release_json(repo, "history", "model")]
    assert refs[:2] == ["model#dev#3", "model#dev!#2"]  # newest first, as show decided


def test_stage_force_setting_is_validated() -> None:
    good = settings_from_dict({"release": {"policy": {"prod": {"force": "forbidden"}}}})
    assert good.release.policy["prod"].force == "forbidden"
    assert good.release.policy_ref is None
    with pytest.raises(ConfigError, match="force"):
        settings_from_dict({"release": {"policy": {"prod": {"force": "sometimes"}}}})

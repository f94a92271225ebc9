"""Writing the registry: register, promote, rollback, deprecate; bad input; races; pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_registry_support import (
    RELEASE,
    commit,
    fake_time_env,
    git,
    init_repo,
    release,
    release_json,
    tags,
)

from release.errors import CheckFailed, RegistryError, UsageError
from release.registry import api


def rel(repo: Path, *args: str) -> str:
    return release(repo, *args, env=fake_time_env()).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """model v0.0.1 (dev) and v0.0.2 registered on two commits."""
    path = init_repo(tmp_path / "repo")
    rel(path, "register", "model")
    rel(path, "promote", "model", "dev")
    commit(path, "model.txt", "two\n")
    rel(path, "register", "model")
    return path


def test_register_versions_and_messages(repo: Path) -> None:
    assert tags(repo) == ["model#dev#1", "model@v0.0.1", "model@v0.0.2"]
    msg = git(repo, "tag", "-l", "--format=%(contents)", "model@v0.0.2").strip()
    assert msg == "Registering artifact model version v0.0.2"
    assert git(repo, "cat-file", "-t", "model@v0.0.2").strip() == "tag"  # annotated
    commit(repo, "model.txt", "three\n")
    out = rel(repo, "register", "model", "--bump", "minor")
    assert "model@v0.1.0" in out
    with pytest.raises(AssertionError, match="already registered"):
        rel(repo, "register", "model")  # same commit twice
    commit(repo, "model.txt", "four\n")
    with pytest.raises(AssertionError, match="lower than the latest"):
        rel(repo, "register", "model", "--version", "v0.0.9")
    with pytest.raises(AssertionError, match="already exists"):
        rel(repo, "register", "model", "--version", "v0.0.2")
    rel(repo, "register", "model", "--version", "v0.0.9", "--force")
    state = api.read_state(repo)
    assert state.latest_version("model") == "v0.1.0"
    assert state.version_commit("model", "v0.0.9") == git(repo, "rev-parse", "HEAD").strip()


def test_promote_assignment_semantics(repo: Path) -> None:
    rel(repo, "promote", "model", "dev")  # latest: v0.0.2
    assert "model#dev#2" in tags(repo)
    msg = git(repo, "tag", "-l", "--format=%(contents)", "model#dev#2").strip()
    assert msg == "Assigning stage dev to artifact model version v0.0.2"
    with pytest.raises(AssertionError, match="already in dev"):
        rel(repo, "promote", "model", "dev")
    rel(repo, "assign", "model", "staging", "--version", "v0.0.1")
    state = api.read_state(repo)
    assert state.active_version("model", "dev") == "v0.0.2"
    assert state.active_version("model", "staging") == "v0.0.1"
    # an assignment stays until unassigned: unassigning v0.0.2 gives dev back to v0.0.1
    rel(repo, "deprecate", "model", "v0.0.2", "dev")
    assert "model#dev!#4" in tags(repo)
    assert api.read_state(repo).active_version("model", "dev") == "v0.0.1"
    # deregistering a version takes it out of every stage
    rel(repo, "deprecate", "model", "v0.0.1")
    state = api.read_state(repo)
    assert state.active_version("model", "staging") is None
    assert state.latest_version("model") == "v0.0.2"
    rel(repo, "deprecate", "model")
    assert "model@deprecated" in tags(repo)
    assert release_json(repo, "show") == {}
    assert "model" in release_json(repo, "show", "--deprecated")


def test_rollback(repo: Path) -> None:
    commit(repo, "model.txt", "three\n")
    rel(repo, "register", "model")
    rel(repo, "promote", "model", "prod", "--version", "v0.0.1")
    rel(repo, "promote", "model", "prod", "--version", "v0.0.2")
    rel(repo, "promote", "model", "prod", "--version", "v0.0.3")
    out = rel(repo, "rollback", "model", "prod", "--reason", "p99 latency doubled")
    assert "model#prod#5" in out
    assert api.read_state(repo).active_version("model", "prod") == "v0.0.2"
    msg = git(repo, "tag", "-l", "--format=%(contents)", "model#prod#5")
    assert msg.startswith("Assigning stage prod to artifact model version v0.0.2\n")
    assert "Rollback of prod from v0.0.3 to v0.0.2: p99 latency doubled" in msg
    rel(repo, "rollback", "model", "prod", "--to", "v0.0.1")
    assert api.read_state(repo).active_version("model", "prod") == "v0.0.1"
    tag = api.rollback(repo, "model", "prod", reason="undo", push=None)
    assert tag == "model#prod#7"
    with pytest.raises(RegistryError, match="holds no version"):
        api.rollback(repo, "model", "staging")
    with pytest.raises(RegistryError, match="no other active version"):
        api.rollback(repo, "model", "dev")


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    assert text in lines[0], lines[0]


BAD = [
    (("register", "bad name!"), 2, "invalid artifact name"),
    (("register", "model", "--version", "1.0.0"), 2, "invalid version"),
    (("register", "model", "--ref", "nope"), 2, "does not resolve"),
    (("register", "model", "--ref", "--upload-pack=x"), 2, "invalid ref"),
    (("promote", "model", "Prod!"), 2, "invalid stage name"),
    (("promote", "model", "qa"), 2, "unknown stage"),
    (("promote", "ghost", "dev"), 2, "unknown artifact"),
    (("promote", "model", "dev", "--version", "v9.9.9"), 2, "not registered"),
    (("promote", "model", "staging", "--ref", "HEAD"), 2, "no version of model"),
    (("promote", "model", "dev", "--force"), 2, "--force needs --reason"),
    (("promote", "model", "dev", "--push", "nowhere"), 2, "not configured"),
    (("promote", "model", "dev", "--push", "bad..name"), 2, "invalid remote"),
    (("rollback", "model", "dev", "--to", "v7.0.0"), 2, "not registered"),
    (("deprecate", "model", "v0.0.2", "prod"), 2, "not assigned to prod"),
    (("check-ref", "not-a-tag"), 2, "not a GTO tag"),
    (("check-ref", "model@v5.0.0"), 2, "does not exist"),
    (("show", "ghost"), 2, "unknown artifact"),
]


@pytest.mark.parametrize(("args", "code", "text"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_input(repo: Path, args: tuple[str, ...], code: int, text: str) -> None:
    commit(repo, "unregistered.txt", "x\n")
    before = tags(repo)
    one_line_error(release(repo, *args, check=False), code, text)
    assert tags(repo) == before


def test_deregistered_version_cannot_be_promoted(repo: Path) -> None:
    rel(repo, "deprecate", "model", "v0.0.2")
    before = tags(repo)
    proc = release(repo, "promote", "model", "staging", "--version", "v0.0.2", check=False)
    one_line_error(proc, 2, "deregistered")
    assert tags(repo) == before


def test_no_repo_and_no_commits(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    one_line_error(release(plain, "show", check=False), 2, "not a git repository")
    one_line_error(release(plain, "register", "model", check=False), 2, "not a git repository")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    one_line_error(release(empty, "register", "model", check=False), 2, "no commits")
    assert tags(empty) == []
    assert release_json(empty, "show") == {}


def test_malformed_and_lightweight_tags_warn(repo: Path) -> None:
    git(repo, "tag", "-a", "-m", "x", "model@created")  # gto itself crashes on this one
    git(repo, "tag", "-a", "-m", "x", "v1.0.0")
    git(repo, "tag", "model#prod#9")  # lightweight: ignored, but its counter counts
    proc = release(repo, "show", "--json")
    assert proc.returncode == 0
    assert "skipped 1 tag(s)" in proc.stderr and "lightweight" in proc.stderr
    assert "v1.0.0" not in proc.stderr  # a plain release tag is not a malformed GTO tag
    assert len(proc.stderr.strip().splitlines()) == 2
    import json

    assert json.loads(proc.stdout)["model"]["stage"] == {"dev": "v0.0.1"}
    rel(repo, "promote", "model", "prod")
    assert "model#prod#10" in tags(repo)
    proc = release(repo, "check-ref", "model#prod#9", check=False)
    one_line_error(proc, 2, "lightweight")


def test_api_contract(repo: Path) -> None:
    state = api.read_state(repo)
    assert state.artifact_names() == ["model"]
    assert state.active_version("model", "dev") == "v0.0.1"
    assert state.active_version("model", "prod") is None
    assert state.latest_version("model") == "v0.0.2"
    assert state.version_commit("model", "v0.0.2") == git(repo, "rev-parse", "HEAD").strip()
    with pytest.raises(RegistryError):
        state.version_commit("model", "v3.0.0")
    with pytest.raises(UsageError):
        api.promote(repo, "model", "dev", force=True)
    assert api.stages(repo) == ["dev", "staging", "prod"]
    tag = api.promote(repo, "model", "staging", version="v0.0.2", reason="tested by hand")
    assert tag == "model#staging#2"
    assert "Reason: tested by hand" in git(repo, "tag", "-l", "--format=%(contents)", tag)
    assert isinstance(CheckFailed("x"), Exception)


def test_dvc_yaml_artifacts_listed_before_registration(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    commit(
        repo, "dvc.yaml", "artifacts:\n  churn:\n    path: models/model.skops\n    type: model\n"
    )
    shown = release_json(repo, "show")
    assert shown == {"churn": {"version": None, "stage": {}, "registered": False, "active": True}}
    assert "*churn" in release(repo, "show").stdout
    assert api.read_state(repo).artifact_names() == ["churn"]
    rel(repo, "register", "churn")
    assert release_json(repo, "show")["churn"]["registered"] is True


@pytest.mark.slow
def test_twenty_concurrent_promotes(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", commits=1)
    for i in range(20):
        commit(repo, "model.txt", f"{i}\n")
        rel(repo, "register", "model")
    procs = [
        subprocess.Popen(
            [RELEASE, "promote", "model", "dev", "--version", f"v0.0.{i + 1}"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in results), results
    assigned = [t for t in tags(repo) if t.startswith("model#dev#")]
    assert sorted(int(t.rsplit("#", 1)[1]) for t in assigned) == list(range(1, 21))
    state = api.read_state(repo)
    art = state.artifact("model")
    assert len({e.version for e in art.events if e.stage == "dev"}) == 20
    # the holder is the assignment with the latest (time, counter): deterministic
    last = max((e for e in art.events if e.stage == "dev"), key=lambda e: e.key)
    assert state.active_version("model", "dev") == last.version
    assert state.warnings == []


@pytest.mark.slow
def test_two_clones_push_to_one_remote(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    seed = init_repo(tmp_path / "seed")
    rel(seed, "register", "model")
    commit(seed, "model.txt", "two\n")
    rel(seed, "register", "model")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    a, b = tmp_path / "a", tmp_path / "b"
    for clone in (a, b):
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        git(clone, "config", "user.name", clone.name)
        git(clone, "config", "user.email", f"{clone.name}@example.invalid")
        git(clone, "fetch", "-q", "--tags", "origin")
    # b has not fetched a's tag: --push fetches the artifact's tags first, so no reuse of #1
    assert "model#dev#1" in rel(a, "promote", "model", "dev", "--version", "v0.0.1", "--push")
    out = rel(b, "promote", "model", "staging", "--version", "v0.0.2", "--push", "origin")
    assert "model#staging#2" in out
    remote_tags = sorted(git(origin, "tag", "-l").split())
    assert {"model#dev#1", "model#staging#2"} <= set(remote_tags)
    assert "model#staging#1" not in tags(b)
    # concurrently, from both clones at once: every tag lands, counters stay distinct
    script = (
        "set -e; for s in dev staging prod; do "
        f'{RELEASE} promote model $s --version "$1" --force --reason race --push; done'
    )
    procs = [
        subprocess.Popen(
            ["sh", "-c", script, "sh", version],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone, version in ((a, "v0.0.1"), (b, "v0.0.2"))
    ]
    for p in procs:
        assert p.wait(timeout=180) == 0, p.stderr.read() if p.stderr else ""
    git(a, "fetch", "-q", "--tags", "origin")
    state = api.read_state(a)
    counters = sorted(e.counter for e in state.artifact("model").events if e.counter)
    assert counters == list(range(1, 9))
    assert state.warnings == []


def test_push_detects_a_name_taken_on_the_remote(tmp_path: Path) -> None:
    from release.registry import write

    origin = tmp_path / "origin.git"
    seed = init_repo(tmp_path / "seed")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    a, b = tmp_path / "a", tmp_path / "b"
    for clone in (a, b):
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        git(clone, "config", "user.name", clone.name)
        git(clone, "config", "user.email", f"{clone.name}@example.invalid")
    head = git(a, "rev-parse", "HEAD").strip()
    plan = write.TagPlan("model#dev#1", head, "Assigning stage dev to artifact model")
    assert write.create_tag(a, plan) and write.push_tag(a, "origin", plan.name)
    other = write.TagPlan(plan.name, head, "Assigning stage dev, from clone b")
    assert write.create_tag(b, other)
    assert not write.create_tag(b, other)  # taken locally now
    assert write.push_tag(b, "origin", plan.name) is False  # taken on the remote: retry


def test_push_rejected_by_remote_leaves_no_tag(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    seed = init_repo(tmp_path / "seed")
    rel(seed, "register", "model")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    git(seed, "remote", "add", "origin", str(origin))
    before = tags(seed)
    proc = release(seed, "promote", "model", "dev", "--push", check=False)
    one_line_error(proc, 2, "push of model#dev#1 to origin failed")
    assert tags(seed) == before

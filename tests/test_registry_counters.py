"""Exact counters: one ``#N`` per artifact across all stages under concurrent writers.

In one clone a lock serialises writers; across clones the counter is claimed on the
remote (``refs/release/counters/NAME#N``) atomically with the tag. gto reads the result.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_registry_support import RELEASE, commit, git, gto_json, init_repo, release, tags

from release.registry import api

STAGES = ("dev", "staging", "prod")


def counters(repo: Path) -> list[int]:
    return sorted(
        int(t.rsplit("#", 1)[1]) for t in tags(repo) if t.startswith("model#") and "#" in t[6:]
    )


def stage_holders(show: dict) -> dict[str, str]:
    return dict(show["model"]["stage"])


@pytest.mark.slow
def test_twenty_concurrent_mixed_stage_promotes_in_one_clone(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    for i in range(20):
        commit(repo, "model.txt", f"{i}\n")
        release(repo, "register", "model")
    procs = [
        subprocess.Popen(
            [RELEASE, "promote", "model", STAGES[i % 3], "--version", f"v0.0.{i + 1}"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(20)
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert counters(repo) == list(range(1, 21))  # no duplicate, no gap
    # gto and release agree on what each stage holds
    ours = release(repo, "show", "--json").stdout
    assert stage_holders(gto_json(repo, "show")) == stage_holders(json.loads(ours))
    state = api.read_state(repo)
    for stage in STAGES:
        last = max(
            (e for e in state.artifact("model").events if e.stage == stage), key=lambda e: e.key
        )
        assert state.active_version("model", stage) == last.version


@pytest.mark.slow
def test_two_clones_promoting_mixed_stages_at_once_never_share_a_counter(tmp_path: Path) -> None:
    origin = tmp_path / "origin.git"
    seed = init_repo(tmp_path / "seed")
    for i in range(6):
        commit(seed, "model.txt", f"{i}\n")
        release(seed, "register", "model")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    clones = []
    for name in ("a", "b"):
        clone = tmp_path / name
        git(tmp_path, "clone", "-q", str(origin), str(clone))
        git(clone, "config", "user.name", name)
        git(clone, "config", "user.email", f"{name}@example.invalid")
        git(clone, "fetch", "-q", "--tags", "origin")
        clones.append(clone)
    # each clone promotes its three versions to dev, staging and prod, both at once
    script = (
        "set -e; i=0; for s in dev staging prod; do i=$((i+1)); "
        f'{RELEASE} promote model $s --version "v0.0.$(($1 + i))" --push; done'
    )
    procs = [
        subprocess.Popen(
            ["sh", "-c", script, "sh", offset],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone, offset in zip(clones, ("0", "3"), strict=True)
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read() if p.stderr else ""
    assert counters(origin) == list(range(1, 7))
    claims = git(origin, "for-each-ref", "--format=%(refname)", "refs/release/counters").split()
    assert sorted(int(c.rsplit("#", 1)[1]) for c in claims) == list(range(1, 7))
    # every claim points at the tag that carries its counter
    for c in claims:
        n = c.rsplit("#", 1)[1]
        (tag,) = [t for t in tags(origin) if t.endswith(f"#{n}")]
        assert git(origin, "rev-parse", c) == git(origin, "rev-parse", f"refs/tags/{tag}")
    a = clones[0]
    git(a, "fetch", "-q", "--tags", "origin")
    ours = json.loads(release(a, "show", "--json").stdout)
    assert stage_holders(gto_json(a, "show")) == stage_holders(ours)
    assert api.read_state(a).warnings == []


def test_a_claimed_counter_on_the_remote_is_skipped(tmp_path: Path) -> None:
    """A writer that has not seen a claim (its tag was deleted) still takes the next one."""
    origin = tmp_path / "origin.git"
    seed = init_repo(tmp_path / "seed")
    release(seed, "register", "model")
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    git(seed, "remote", "add", "origin", str(origin))
    head = git(seed, "rev-parse", "HEAD").strip()
    git(origin, "update-ref", "refs/release/counters/model#1", head)  # claimed elsewhere
    out = release(seed, "promote", "model", "dev", "--push").stdout
    assert "model#dev#2" in out
    assert "model#dev#2" in git(origin, "tag", "-l").split()

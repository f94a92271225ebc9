"""pages.yml and the rollout-notes steps of release.yml: privileges, triggers, and the two
scripts run for real against a temporary origin (two runners' notes merge there)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.ci_harness import load_workflow

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / ".github" / "scripts"


def test_pages_writes_only_in_its_deploy_job_and_runs_on_gto_tags():
    doc = load_workflow(ROOT / ".github" / "workflows" / "pages.yml")
    assert doc["permissions"] == {"contents": "read"}
    jobs = doc["jobs"]
    assert "permissions" not in jobs["build"]
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["environment"]["name"] == "github-pages"
    tags = doc["on"]["push"]["tags"]
    assert "**@v*" in tags and "**#*" in tags and "branches" not in doc["on"]["push"]
    runs = [s.get("run", "") for s in jobs["build"]["steps"]]
    assert any("release site build" in r for r in runs)
    assert any("refs/notes/release" in r for r in runs)


def test_release_pushes_notes_only_from_the_job_that_writes_tags():
    jobs = load_workflow(ROOT / ".github" / "workflows" / "release.yml")["jobs"]
    deploy_steps = {s.get("name", s.get("uses", "")): s for s in jobs["deploy"]["steps"]}
    keep = deploy_steps["Keep the rollout notes (refs/notes/release)"]
    assert keep["if"] == "always()" and "bundle-notes.sh" in keep["run"]
    assert jobs["deploy"]["outputs"]["notes"] == "${{ steps.notes.outputs.notes }}"
    for job_id, job in jobs.items():
        for step in job.get("steps", []):
            if "push-notes.sh" in step.get("run", ""):
                assert job_id == "rollback"
    rollback = jobs["rollback"]
    assert "needs.deploy.outputs.notes == 'true'" in rollback["if"]
    assert rollback["permissions"] == {"contents": "write"}


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env
    ).stdout.strip()


def _runner(origin: Path, path: Path, who: str) -> None:
    git(origin.parent, "clone", "-q", str(origin), str(path))
    git(path, "config", "user.name", who)
    git(path, "config", "user.email", f"{who}@example.com")
    git(path, "fetch", "-q", "--force", "--tags", "origin")


def _note(path: Path, tag: str, rollout_id: str) -> None:
    line = json.dumps({"id": rollout_id, "schema": "release.rollout/1", "tag": tag})
    obj = git(path, "rev-parse", f"refs/tags/{tag}")
    existing = subprocess.run(
        ["git", "notes", "--ref=release", "show", obj], cwd=path, capture_output=True, text=True
    ).stdout
    git(path, "notes", "--ref=release", "add", "-f", "-m", (existing + line).strip(), obj)


def _script(name: str, cwd: Path, *args: str, out: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "GH_TOKEN"}
    env["GITHUB_OUTPUT"] = str(out)
    done = subprocess.run(
        ["bash", str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_two_runners_notes_are_merged_at_origin(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    git(work, "config", "user.name", "T")
    git(work, "config", "user.email", "t@example.com")
    git(work, "commit", "-q", "--allow-empty", "-m", "one")
    git(work, "tag", "-a", "model#prod#1", "-m", "Assigning stage prod")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(origin))
    first, second = tmp_path / "first", tmp_path / "second"
    _runner(origin, first, "first")
    _runner(origin, second, "second")
    empty = tmp_path / "empty"
    _runner(origin, empty, "empty")
    _script("bundle-notes.sh", empty, str(tmp_path / "n0"), out=tmp_path / "o0")
    assert (tmp_path / "o0").read_text() == "notes=false\n"
    _note(first, "model#prod#1", "aaa")
    _note(second, "model#prod#1", "bbb")
    for i, runner in enumerate((first, second)):
        bundle = tmp_path / f"n{i + 1}"
        _script("bundle-notes.sh", runner, str(bundle), out=tmp_path / f"o{i + 1}")
        assert "notes=true" in (tmp_path / f"o{i + 1}").read_text()
        # the publishing job is a fresh checkout: it only has the bundle and origin
        publisher = tmp_path / f"publisher{i}"
        _runner(origin, publisher, "bot")
        assert "pushed rollout notes" in _script(
            "push-notes.sh", publisher, str(bundle), out=tmp_path / "x"
        )
    shown = git(origin, "notes", "--ref=release", "show", "refs/tags/model#prod#1")
    assert sorted(json.loads(line)["id"] for line in shown.splitlines()) == ["aaa", "bbb"]

"""Helpers for the registry tests: real git repositories and the real CLIs (no tests here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
RELEASE = str(BIN / "release")
GTO = str(BIN / "gto")

_last_fake_time = [0]


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run git in ``repo``; return stdout (raises on failure)."""
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout


def init_repo(path: Path, commits: int = 1) -> Path:
    """A fresh repository with ``commits`` commits and a tagger identity."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Tester")
    git(path, "config", "user.email", "tester@example.invalid")
    for i in range(commits):
        commit(path, f"file{i}.txt", f"content {i}\n")
    return path


def commit(repo: Path, name: str, content: str, message: str | None = None) -> str:
    """Write a file, commit it, return the commit hexsha."""
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message or f"add {name}")
    return git(repo, "rev-parse", "HEAD").strip()


def fake_time_env() -> dict[str, str]:
    """A GIT_COMMITTER_DATE a few seconds after the previous one (distinct tagger times).

    Never behind the real clock: commits made for real in a long test session must not
    look newer than the tags written after them.
    """
    _last_fake_time[0] = max(_last_fake_time[0] + 7, int(time.time()) + 10)
    return {"GIT_COMMITTER_DATE": f"{_last_fake_time[0]} +0000"}


def release(
    repo: Path, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``release`` console script in ``repo``."""
    proc = subprocess.run(
        [RELEASE, *args],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"release {args} failed ({proc.returncode}): {proc.stderr}")
    return proc


def release_json(repo: Path, *args: str) -> Any:
    """Run ``release ... --json`` and parse its output."""
    return json.loads(release(repo, *args, "--json").stdout)


def gto(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``gto`` CLI in ``repo``."""
    proc = subprocess.run([GTO, *args], cwd=repo, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"gto {args} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    return proc


def gto_write(repo: Path, *args: str) -> None:
    """A gto write, then wait for the next second: gto's order is undefined within one."""
    gto(repo, *args)
    start = int(time.time())
    while int(time.time()) <= start:
        time.sleep(0.05)


def gto_json(repo: Path, *args: str) -> Any:
    """Run ``gto ... --json`` and parse its output."""
    out = gto(repo, *args, "--json").stdout
    return json.loads(out) if out.strip() else None


def tags(repo: Path) -> list[str]:
    """All tag names, sorted."""
    return sorted(git(repo, "tag", "-l").split())

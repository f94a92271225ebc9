"""Test support: real temporary copies of this project, with real git and DVC."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Real git in temporary repositories needs an identity, and DVC must stay offline.
os.environ.setdefault("GIT_AUTHOR_NAME", "release-tests")
os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@example.invalid")
os.environ.setdefault("GIT_COMMITTER_NAME", "release-tests")
os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@example.invalid")
os.environ["DVC_NO_ANALYTICS"] = "1"
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"


def project_files() -> list[str]:
    """Files a clone of this repository would have (tracked and new, not ignored)."""
    from release.workspace import project_files as files

    return files(ROOT)


def run(
    args: Sequence[str], cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command; on an unexpected failure, show its output in the assertion."""
    proc = subprocess.run(
        list(args),
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
            f"stderr:\n{proc.stderr}"
        )
    return proc


class Exact(dict):
    """A mapping that replaces, rather than merges into, the value in params.yaml."""


def _deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    for key, value in changes.items():
        if (
            isinstance(value, dict)
            and not isinstance(value, Exact)
            and isinstance(base.get(key), dict)
        ):
            _deep_update(base[key], value)
        else:
            base[key] = dict(value) if isinstance(value, Exact) else value
    return base


def edit_params(project: Path, changes: dict[str, Any]) -> None:
    """Deep-merge ``changes`` into the project's params.yaml."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text()) or {}
    path.write_text(yaml.safe_dump(_deep_update(params, changes), sort_keys=False))


SMALL = {"data": {"rows": 3000}, "evaluate": {"bootstrap": 200}}

"""Shared fixtures: real temporary copies of this project, with real git and DVC.

Helpers live in ``tests/support.py`` (import them as ``tests.support``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, edit_params, project_files, run


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a copy of this project in a fresh git repository (committed, not run)."""

    def factory(params: dict[str, Any] | None = None, name: str = "project") -> Path:
        dest = tmp_path / name
        for rel in project_files():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target)
        (dest / ".dvc").mkdir(exist_ok=True)
        if params:
            edit_params(dest, params)
        run(["git", "init", "-q", "-b", "main"], dest)
        run(["git", "add", "-A"], dest)
        run(["git", "commit", "-q", "-m", "project"], dest)
        return dest

    return factory

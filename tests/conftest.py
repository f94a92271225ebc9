"""Shared fixtures: real temporary copies of this project, with real git and DVC.

Helpers live in ``tests/support.py`` (import them as ``tests.support``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.workspace import copy_project
from tests.support import ROOT, edit_params, run


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a copy of this project in a fresh git repository (committed, not run)."""

    def factory(params: dict[str, Any] | None = None, name: str = "project") -> Path:
        dest = copy_project(ROOT, tmp_path / name, commit=False)
        if params:
            edit_params(dest, params)
        run(["git", "add", "-A"], dest)
        run(["git", "commit", "-q", "-m", "project"], dest)
        return dest

    return factory

"""Shared fixtures: real temporary copies of this project, with real git and DVC.

Helpers live in ``tests/support.py`` (import them as ``tests.support``). The suite runs
on two pytest-xdist workers (``make test``); every fixture here is per worker process.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release.workspace import copy_project
from tests.support import ROOT, edit_params, run


@pytest.fixture(scope="session")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's files in a fresh git repository (no commit), made once per worker:
    tests copy it rather than walking and copying the checkout each time."""
    return copy_project(ROOT, tmp_path_factory.mktemp("template") / "project", commit=False)


@pytest.fixture
def make_project(tmp_path: Path, project_template: Path) -> Callable[..., Path]:
    """Factory: a copy of this project in a fresh git repository (committed, not run)."""

    def factory(params: dict[str, Any] | None = None, name: str = "project") -> Path:
        dest = Path(shutil.copytree(project_template, tmp_path / name, symlinks=True))
        if params:
            edit_params(dest, params)
        run(["git", "add", "-A"], dest)
        run(["git", "commit", "-q", "-m", "project"], dest)
        return dest

    return factory

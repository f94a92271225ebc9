"""Helpers for the data-layer tests: a bare project folder and the CLI run in process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from release.cli import main

# A project for data nobody tuned: no loan columns, no annotators, no demo slices.
BARE: dict[str, Any] = {
    "data": {"source": "csv", "path": "data/raw/data.csv", "target": "y"},
    "validate": {"min_rows": 50, "min_slice_rows": 1},
    "train": {"estimator": "logistic_regression"},
    "evaluate": {
        "bootstrap": 50,
        "hlp": {"source": "none"},
        "explain": {"permutation_repeats": 1, "max_rows": 200},
    },
}


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A deep merge of ``changes`` into a copy of ``base``."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def bare_project(root: Path, params: dict[str, Any] | None = None) -> Path:
    """A folder holding only params.yaml (BARE merged with ``params``) and data/raw/."""
    (root / "data" / "raw").mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(merged(BARE, params or {}), sort_keys=False)
    (root / "params.yaml").write_text(text)
    return root


class Result:
    """What one in-process CLI run did."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def error_lines(self) -> list[str]:
        """The lines of stderr that are `Error:` lines."""
        return [line for line in self.err.splitlines() if line.startswith("Error:")]

    def assert_one_error(self, code: int, *fragments: str) -> str:
        """Exit ``code``, exactly one Error: line holding ``fragments``, no traceback."""
        assert self.code == code, (self.code, self.out, self.err)
        assert len(self.error_lines) == 1, self.err
        assert "Traceback" not in self.err + self.out
        line = self.error_lines[0]
        for fragment in fragments:
            assert fragment in line, (fragment, line)
        return line


def release(project: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """Run ``release ARGS`` in ``project`` in this process (exceptions other than the
    CLI's own one-line errors propagate, so a traceback fails the test)."""
    before = Path.cwd()
    capsys.readouterr()
    os.chdir(project)
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        os.chdir(before)
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def files_under(root: Path) -> set[str]:
    """Every file below ``root``, relative, for nothing-half-written checks."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

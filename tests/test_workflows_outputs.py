"""`.github/scripts/ref_outputs.py` validates every value it writes to $GITHUB_OUTPUT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / ".github" / "scripts" / "ref_outputs.py"
RECORD = {
    "event": "assignment",
    "artifact": "model",
    "version": "v1.0.0",
    "stage": "dev",
    "tag": "model#dev#1",
}


def run(tmp_path: Path, record: dict, ref: str) -> tuple[subprocess.CompletedProcess[str], str]:
    (tmp_path / "params.yaml").write_text("release:\n  deploy:\n    strategies: {dev: direct}\n")
    (tmp_path / "record.json").write_text(json.dumps(record))
    out = tmp_path / "out.txt"
    out.write_text("")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "record.json", ref],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"GITHUB_OUTPUT": str(out), "PATH": "/usr/bin:/bin"},
    )
    return proc, out.read_text()


def test_a_valid_record_writes_every_output(tmp_path: Path) -> None:
    proc, written = run(tmp_path, RECORD, "model#dev#1")
    assert proc.returncode == 0, proc.stderr
    assert written.splitlines() == [
        "tag=model#dev#1",
        "artifact=model",
        "version=v1.0.0",
        "stage=dev",
        "event=assignment",
        "strategy=direct",
    ]


@pytest.mark.parametrize(
    "ref",
    [
        "model#dev#1\nstrategy=canary",  # a forged second output
        "model#dev#1 x",
        "model@vbad",
        "model#dev#1;rm",
        "m" * 201,
    ],
)
def test_a_hostile_tag_value_writes_nothing(tmp_path: Path, ref: str) -> None:
    record = dict(RECORD, tag=ref)
    proc, written = run(tmp_path, record, ref)
    assert proc.returncode == 1 and proc.stderr.startswith("::error::")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert written == ""


def test_a_hostile_record_field_writes_nothing(tmp_path: Path) -> None:
    proc, written = run(tmp_path, dict(RECORD, stage="dev\nevil=1"), "model#dev#1")
    assert proc.returncode == 1 and written == ""

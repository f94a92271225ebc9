"""The CLI shell: version, lazy help, one-line errors and exit codes."""

from __future__ import annotations

import subprocess
import sys

from tests.support import run


def test_version(tmp_path) -> None:
    proc = run(["release", "--version"], tmp_path)
    assert proc.stdout.strip() == "release, version 0.1.0"


def test_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from release.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pandas', 'sklearn', 'dvc', 'gto', 'scipy', 'starlette', 'numpy')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "HEAVY []" in out
    for name in ("data", "train", "evaluate", "card", "promote", "deploy", "monitor", "verify"):
        assert f"  {name}" in out


def test_config_error_is_one_line_exit_2(tmp_path) -> None:
    (tmp_path / "params.yaml").write_text("data:\n  test_size: 1.5\n")
    proc = run(["release", "train"], tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr == (
        "Error: params.yaml: data.test_size = 1.5 is invalid (expected a number between 0 and 1)\n"
    )


def test_missing_input_names_the_stage(tmp_path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    proc = run(["release", "train"], tmp_path, check=False)
    assert proc.returncode == 2
    assert "data/prepared/train.parquet missing (run `dvc repro prepare`" in proc.stderr


def test_debug_shows_the_traceback(tmp_path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    proc = run(["release", "--debug", "train"], tmp_path, check=False)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_unknown_command_is_a_usage_error(tmp_path) -> None:
    proc = run(["release", "deploi"], tmp_path, check=False)
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_generate_batch_validates_arguments(tmp_path) -> None:
    proc = run(
        ["release", "data", "generate-batch", "--drift", "-1", "--out", "b.csv"],
        tmp_path,
        check=False,
    )
    assert proc.returncode == 2 and "--drift -1.0 is invalid" in proc.stderr
    assert not (tmp_path / "b.csv").exists()

"""``release doctor`` on real temporary projects: healthy, then each problem with its fix."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from release.cli import cli
from release.doctor import diagnose, port_free
from release.errors import CheckFailed
from tests.support import run
from tests.test_scaffold import git_repo, init, messy_csv


def free_base_port(count: int = 3) -> int:
    """A port such that it and the next ``count - 1`` are free now."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count < 65535 and all(port_free(base + i) for i in range(count)):
            return base
    raise AssertionError("no free port range")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project made by ``release init`` (copied per test: dvc init is slow here)."""
    root = git_repo(tmp_path_factory.mktemp("doctor") / "p")
    # no missing-value markers: data.na_values comes with the data layer's settings
    data = messy_csv(root, markers=False)
    result = init(root, "--data", str(data), "--target", "label", "--yes")
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def project(made: Path, tmp_path: Path) -> Path:
    root = tmp_path / "p"
    shutil.copytree(made, root, symlinks=True)
    set_port(root, free_base_port())
    return root


def set_port(root: Path, port: int) -> None:
    params_path = root / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["release"]["deploy"]["router_port"] = port
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


def doctor(root: Path):
    return CliRunner().invoke(cli, ["doctor", "--dir", str(root)])


def problems(root: Path) -> list[str]:
    return [f"{f.check}: {f.detail}" for f in diagnose(root) if not f.ok]


def test_healthy_project(project: Path, tmp_path: Path) -> None:
    root = project
    result = doctor(root)
    assert result.exit_code == 0, result.output
    assert "healthy:" in result.output
    for check in ("git: git ", "dvc: dvc ", "gto: gto ", "remote local", "templates resolved"):
        assert check in result.output
    assert "every column named in params.yaml is in the data" in result.output


def test_each_problem_is_one_line_with_its_fix(project: Path, tmp_path: Path) -> None:
    root = project
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "init"], root)
    run(["git", "tag", "people-model@v0.1.0"], root)  # lightweight: gto ignores it
    run(["git", "tag", "not-a-release-tag"], root)  # not GTO-shaped: no problem
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["slice_columns"] = ["sex", "hours_per_week"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / ".github/workflows/monitor.yml").unlink()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", params["release"]["deploy"]["router_port"] + 1))
        busy.listen()
        result = doctor(root)
    assert result.exit_code == 1
    assert isinstance(result.exception, CheckFailed)
    lines = [line for line in result.output.splitlines() if line.startswith("problem")]
    assert len(lines) == 4, result.output
    text = "\n".join(lines)
    assert "tag people-model@v0.1.0 is lightweight" in text and "git tag -f -a" in text
    assert "not-a-release-tag" not in text
    assert "data.slice_columns names column 'hours_per_week'" in text
    assert "hours-per-week" in text  # the fix lists the real columns
    assert ".github/workflows/monitor.yml is missing" in text and "release init" in text
    assert "(staging) is taken by another program" in text
    assert all("(fix: " in line for line in lines)


def test_a_port_held_by_our_own_router_is_no_problem(project: Path) -> None:
    from release.config import load_settings
    from release.deploy.records import empty_record, save_record
    from release.doctor import check_ports

    settings = load_settings(project / "params.yaml")
    port = settings.release.deploy.router_port
    record = {**empty_record("people-model", "dev"), "router": {"port": port, "pid": 1}}
    save_record(project / settings.release.deploy.state_dir, record)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        found = check_ports(project, settings)
    assert all(f.ok for f in found), found
    assert any(f"router port {port} serves this project's dev" in f.detail for f in found)


def test_missing_data_and_invalid_params(project: Path, tmp_path: Path) -> None:
    root = project
    (root / "data/raw/people.csv").unlink()
    assert any("data file data/raw/people.csv not found" in p for p in problems(root))
    (root / "params.yaml").write_text("data:\n  test_size: 2\n")
    found = problems(root)
    assert any("data.test_size" in p and "is invalid" in p for p in found)


def test_no_dvc_remote_and_not_a_repository(project: Path, tmp_path: Path) -> None:
    root = project
    run(["dvc", "remote", "remove", "local"], root)
    assert any("no default DVC remote" in p for p in problems(root))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert any("is not a git repository" in p for p in problems(plain))

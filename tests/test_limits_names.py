"""One name grammar (issue 16): every NAME a command takes, and every name read from
params.yaml, is checked against what ``release register`` accepts before it reaches a path,
a tag or a shell. Each case runs the real CLI in process in a real git repository and
asserts the exit code, exactly one ``Error:`` line, no traceback and nothing changed
(files, tags, deployment state)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_limits_matrix import assert_one_error, run_cli, snapshot
from test_registry_support import git, init_repo

EVIL = "../../etc/passwd"
SHELL = "x;$(id)"

COMMAND_CASES: list[tuple[str, list[str], str]] = [
    ("deployments-name", ["deployments", EVIL], "invalid artifact name '../../etc/passwd'"),
    ("deployments-stage", ["deployments", "model", "../x"], "invalid stage name '../x'"),
    ("deployments-stop", ["deployments", "--stop", EVIL, "dev"], "invalid artifact name"),
    ("deployments-stop-stage", ["deployments", "--stop", "model", SHELL], "invalid stage"),
    ("deployments-recover", ["deployments", "--recover", SHELL, "dev"], "invalid artifact"),
    ("deploy-name", ["deploy", EVIL, "dev"], "invalid artifact name"),
    ("deploy-stage", ["deploy", "model", "dev/../../x"], "stage"),
    ("deploy-k8s-name", ["deploy", SHELL, "dev", "--target", "kubernetes"], "invalid artifact"),
    ("rollback-name", ["rollback", EVIL, "dev"], "invalid artifact name"),
    ("promote-name", ["promote", SHELL, "dev"], "invalid artifact name"),
    ("register-name", ["register", EVIL], "invalid artifact name"),
    ("show-name", ["show", EVIL], "invalid artifact name"),
    ("history-name", ["history", SHELL], "invalid artifact name"),
    ("signals-name", ["monitor", "signals", "--deployment", EVIL, "dev"], "invalid artifact"),
    ("signals-stage", ["monitor", "signals", "--deployment", "model", "../x"], "invalid stage"),
    ("serve-ref", ["serve", "--model", f"{SHELL}@v1.0.0"], "is neither an existing path"),
]

SETTINGS_CASES: list[tuple[str, str, str]] = [
    ("artifact-path", f'release: {{artifact: "{EVIL}"}}\n', "release.artifact = '../../etc"),
    ("artifact-shell", f'release: {{artifact: "{SHELL}"}}\n', "release.artifact = 'x;$(id)'"),
    ("artifact-space", 'release: {artifact: "my model"}\n', "release.artifact"),
    ("artifact-dots", 'release: {artifact: "a..b"}\n', "release.artifact"),
    ("stage-path", 'release: {stages: [dev, "../prod"]}\n', "release.stages[1] = '../prod'"),
    ("stage-shell", f'release: {{stages: ["{SHELL}"]}}\n', "release.stages[0]"),
    ("stage-slash-end", 'release: {stages: ["dev/"]}\n', "release.stages[0]"),
]


def _state(root: Path) -> tuple[dict[str, str], str]:
    return snapshot(root), git(root, "tag", "--list")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = init_repo(tmp_path / "proj")
    (root / "params.yaml").write_text("release: {artifact: model}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "params")
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize(
    ("args", "fragment"), [pytest.param(a, f, id=n) for n, a, f in COMMAND_CASES]
)
def test_bad_names_on_the_command_line_give_one_error_and_change_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    before = _state(project)
    code, err = run_cli(args, capsys)
    assert_one_error(code, err, 2, fragment)
    assert _state(project) == before
    assert not (project / ".release").exists()


@pytest.mark.parametrize(
    ("text", "fragment"), [pytest.param(t, f, id=n) for n, t, f in SETTINGS_CASES]
)
@pytest.mark.parametrize("command", [["deployments"], ["data", "prepare"]])
def test_bad_names_in_params_yaml_give_one_error_naming_the_setting(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    fragment: str,
    command: list[str],
) -> None:
    (project / "params.yaml").write_text(text)
    before = _state(project)
    code, err = run_cli([*command, "--params", "params.yaml"], capsys)
    assert_one_error(code, err, 2, fragment)
    assert "(set release." in err  # the fix names the setting
    assert _state(project) == before


@pytest.mark.parametrize("name", ["Team_Model", "team/model", "dir/sub:model", "a-b_c"])
def test_names_register_accepts_are_accepted_everywhere(name: str) -> None:
    from release.config import settings_from_yaml
    from release.deploy.records import check_name, record_path
    from release.grammar import validate_name

    assert validate_name(name) == name
    assert check_name(name) == name
    assert settings_from_yaml(f'release: {{artifact: "{name}"}}\n').release.artifact == name
    path = record_path("/state", name, "dev")
    assert path.parent.parent == Path("/state")  # one folder per artifact, never deeper


@pytest.mark.parametrize(
    "args",
    [["deployments", "--stop", "model", "dev"], ["deployments", "--recover", "model", "dev"]],
)
def test_stop_or_recover_with_nothing_deployed_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = _state(project)
    code, _ = run_cli(args, capsys)
    assert code == 0
    assert _state(project) == before
    assert not (project / ".release").exists()  # no lock file, no empty folder


@pytest.mark.parametrize("bad", ["x;$(id)", "../evil", "a b", "-rf"])
def test_a_bad_name_in_artifacts_yaml_is_one_error_naming_the_file(
    project: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    (project / "artifacts.yaml").write_text(f'"{bad}":\n  type: model\n  path: models\n')
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "index")
    before = _state(project)
    code, err = run_cli(["show"], capsys)
    assert_one_error(code, err, 2, f"artifacts.yaml: artifact name {bad!r} is invalid")
    assert "(rename it in artifacts.yaml" in err
    assert _state(project) == before


def test_the_hint_after_nothing_assigned_is_a_command_the_cli_accepts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _state(project)
    code, err = run_cli(["deploy", "model", "dev"], capsys)
    assert_one_error(code, err, 1, "no version of model is assigned to dev")
    assert "(promote one first: release promote model dev)" in err
    assert _state(project) == before and not (project / ".release").exists()
    # The suggested command parses (it fails only because nothing is registered yet).
    code, err = run_cli(["promote", "model", "dev"], capsys)
    assert "No such option" not in err and "Usage:" not in err

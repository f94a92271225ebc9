"""CLI habits (#20): -v/-q, RELEASE_* variables, one option spelling, --json on writes,
JSON errors, settings found from a subfolder. In process with CliRunner and as real
subprocesses in temporary git repositories."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from test_registry_support import RELEASE, commit, fake_time_env, git, init_repo

from release import console
from release.cli import COMMANDS, cli, main
from release.rootdir import find_root


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RELEASE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **fake_time_env(), **(env or {})},
    )


def _leaves(command: click.Command, path: str) -> list[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        out = []
        for name, sub in command.commands.items():
            out += _leaves(sub, f"{path} {name}")
        return out
    return [(path, command)]


def all_commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(cli)
    out: list[tuple[str, click.Command]] = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None, name
        out += _leaves(command, name)
    return out


def test_common_options_have_one_name_one_type_and_a_variable() -> None:
    seen: dict[str, set[str]] = {}
    for path, command in all_commands():
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            for opt in param.opts:
                seen.setdefault(opt, set()).add(repr(type(param.type)))
            if "--repo" in param.opts:
                assert isinstance(param.type, click.Path) and not param.type.file_okay, path
                assert param.envvar == "RELEASE_REPO", path
            if "--params" in param.opts:
                assert isinstance(param.type, click.Path) and not param.type.dir_okay, path
                assert param.envvar == "RELEASE_PARAMS", path
            if "--json" in param.opts:
                assert param.envvar == "RELEASE_JSON", path
            if "--templates" in param.opts:
                assert param.envvar == "RELEASE_TEMPLATES", path
            if "--template-dir" in param.opts:
                assert param.hidden, path  # the deprecated spelling stays, unlisted
    for opt in ("--repo", "--params", "--json", "--templates"):
        assert len(seen[opt]) == 1, (opt, seen[opt])
    writes = {"register", "promote", "assign", "rollback", "deprecate", "deploy", "verify"}
    with_json = {p for p, c in all_commands() if any("--json" in o.opts for o in c.params)}
    assert writes <= with_json


def test_help_documents_the_variables_and_verbosity() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for text in ("RELEASE_REPO", "RELEASE_JSON", "RELEASE_PARAMS", "-v, --verbose", "-q, --quiet"):
        assert text in result.output
    assert "--template-dir" not in CliRunner().invoke(cli, ["card", "build", "--help"]).output


def test_quiet_and_verbose_set_the_log_level(capsys: pytest.CaptureFixture[str]) -> None:
    console.setup_logging(verbose=False, quiet=True)
    console.progress("a status line")
    console.log.warning("a warning")
    console.log.error("an error")
    err = capsys.readouterr().err
    assert "status line" not in err and "warning" not in err and "Error: an error" in err
    assert console.quiet()
    console.setup_logging(verbose=True, quiet=False)
    console.log.debug("a debug line")
    console.progress("a status line")
    err = capsys.readouterr().err
    assert "a debug line" in err and "a status line" in err
    assert console.log.level == logging.DEBUG
    result = CliRunner().invoke(cli, ["-v", "-q", "stages"])
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_track_falls_back_to_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    console.setup_logging(verbose=True, quiet=False)
    assert list(console.track([1, 2, 3], "steps")) == [1, 2, 3]
    assert "steps: 3/3" in capsys.readouterr().err


def test_json_error_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--json"])
    out = capsys.readouterr()
    assert exit_.value.code == 2 and out.out == ""
    error = json.loads(out.err.strip().splitlines()[-1])["error"]
    assert error["type"] == "ConfigError" and error["exit_code"] == 2
    assert error["what"] == "params.yaml not found" and error["fix"]
    monkeypatch.setenv("RELEASE_JSON", "1")
    with pytest.raises(SystemExit) as exit_:
        main(["deploi"])  # a usage error, JSON by the variable
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])["error"]
    assert exit_.value.code == 2 and error["type"] == "NoSuchCommand"
    monkeypatch.delenv("RELEASE_JSON")
    with pytest.raises(SystemExit):
        main(["train"])
    assert capsys.readouterr().err.startswith("Error: params.yaml not found (")
    # In process (CliRunner) the ReleaseError itself reaches the caller, as before.
    result = CliRunner().invoke(cli, ["train", "--json"])
    assert type(result.exception).__name__ == "ConfigError"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    commit(path, "params.yaml", "release:\n  stages: [dev, staging, qa, prod]\n")
    commit(path, "sub/deeper/note.txt", "hello\n")
    return path


def test_writes_print_one_json_object(repo: Path, tmp_path: Path) -> None:
    out = run(repo, "register", "model", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "tag": "model@v0.0.1",
        "event": "register",
        "name": "model",
        "pushed": None,
    }
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"RELEASE_REPO": str(repo), "RELEASE_JSON": "true"}
    out = run(elsewhere, "promote", "model", "dev", env=env)
    assert out.returncode == 0, out.stderr
    promoted = json.loads(out.stdout)
    assert promoted["tag"] == "model#dev#1" and promoted["stage"] == "dev"
    commit(repo, "model.txt", "two\n")
    run(repo, "register", "model")
    run(repo, "promote", "model", "dev")
    back = run(repo, "rollback", "model", "dev", "--json")
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["event"] == "rollback"
    bad = run(repo, "promote", "model", "nowhere", "--json")
    assert bad.returncode != 0 and bad.stdout == ""
    error = json.loads(bad.stderr.strip().splitlines()[-1])["error"]
    assert error["exit_code"] == bad.returncode and "nowhere" in error["message"]
    assert "model#nowhere" not in git(repo, "tag")


def test_settings_found_from_a_subfolder(repo: Path) -> None:
    sub = repo / "sub" / "deeper"
    assert find_root(sub) == repo
    out = run(sub, "-v", "stages")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["dev", "staging", "qa", "prod"]  # the root's params.yaml
    assert f"project root: {repo}" in out.stderr  # -v: DEBUG lines
    # A path typed in the subfolder is read from the subfolder, not the root.
    gen = run(sub, "-q", "data", "generate-batch", "--rows", "200", "--out", "b.csv")
    assert gen.returncode == 0, gen.stderr
    assert (sub / "b.csv").is_file() and not (repo / "b.csv").exists()
    assert gen.stderr == ""


def test_no_settings_above_the_git_top(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("{}\n")
    inner = init_repo(tmp_path / "inner")
    assert find_root(inner) is None  # never another project's settings


def test_status_and_track_without_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    console.setup_logging(verbose=True, quiet=False)
    with console.status("reproducing"):
        pass
    assert "reproducing" in capsys.readouterr().err  # plain line when not a terminal
    monkeypatch.setattr(console, "is_interactive", lambda: True)
    assert list(console.track(range(5), "pages")) == [0, 1, 2, 3, 4]  # rich sees no tty
    console.setup_logging(verbose=False, quiet=True)
    with console.status("hidden"):
        pass
    assert "hidden" not in capsys.readouterr().err


def test_template_dir_is_a_deprecated_alias(capsys: pytest.CaptureFixture[str]) -> None:
    console.setup_logging(verbose=False, quiet=False)
    assert console.pick_templates(None, "mine") == "mine"
    assert "Warning: --template-dir is deprecated; use --templates" in capsys.readouterr().err
    assert console.pick_templates("new", None) == "new"
    assert capsys.readouterr().err == ""


def test_a_settings_reader_run_from_a_subfolder_reads_the_roots(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "p")
    (root / "params.yaml").write_text("data:\n  test_size: 1.5\n")
    sub = root / "notebooks"
    sub.mkdir()
    out = run(sub, "train")  # not "params.yaml not found": the root's file, checked
    assert out.returncode == 2
    assert out.stderr == (
        "Error: params.yaml: data.test_size = 1.5 is invalid (expected a number between 0 and 1)\n"
    )

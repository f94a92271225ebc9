"""The console entry (``release.entry``): a cached ``show --json`` printed before click is
imported, byte for byte what the click CLI prints; everything else is the CLI's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_registry_support import RELEASE, commit, fake_time_env, git, gto_write, init_repo

from release import entry
from release.registry import readcache

NAME = "team/model-a_1"  # odd but valid: a folder, a dash, an underscore, a digit
NO_CACHE = {"RELEASE_NO_CACHE": "1"}
Run = tuple[str, str, int]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tags written by gto and by release, a declaration and a malformed tag (a warning)."""
    path = init_repo(tmp_path_factory.mktemp("entry") / "repo")
    commit(path, "artifacts.yaml", f"{NAME}:\n  type: model\n  path: model.pkl\n")
    gto_write(path, "register", NAME)
    commit(path, "model.txt", "two\n")
    subprocess.run(
        [RELEASE, "register", NAME],
        cwd=path,
        env={**os.environ, **fake_time_env()},
        check=True,
        capture_output=True,
    )
    gto_write(path, "assign", NAME, "--version", "v0.0.1", "--stage", "dev")
    git(path, "tag", "-a", "other@vbad", "-m", "malformed")
    return path


def _env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASE_")}
    return {**env, **(extra or {})}


def console(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """The installed console script (``release.entry:main``)."""
    proc = subprocess.run([RELEASE, *args], cwd=cwd, capture_output=True, text=True, env=_env(env))
    return proc.stdout, proc.stderr, proc.returncode


def click_cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """The click CLI itself (``release.cli:main``), which never takes the fast path."""
    proc = subprocess.run(
        [sys.executable, "-m", "release.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(env),
    )
    return proc.stdout, proc.stderr, proc.returncode


def loaded_after(cwd: Path, *args: str) -> list[str]:
    """Which heavy modules a run of the entry imported (in a fresh interpreter)."""
    code = (
        "import sys; from release.entry import main; main(sys.argv[1:]);"
        "heavy = ('click', 'rich', 'gto', 'yaml', 'release.cli', 'release.registry.reads');"
        "sys.stderr.write('\\nLOADED ' + ' '.join(m for m in heavy if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(None),
        check=True,
    )
    return proc.stderr.rpartition("LOADED ")[2].split()


def _clear(repo: Path) -> None:
    shutil.rmtree(repo / ".git" / readcache.DIRNAME, ignore_errors=True)


CASES = [
    ("show", "--json"),
    ("show", NAME, "--json"),
    ("show", "--json", f"{NAME}#dev", "--deprecated"),
    ("show", "--deprecated", f"{NAME}@latest", "--json"),
]


@pytest.mark.parametrize("args", CASES)
def test_cached_and_uncached_the_entry_prints_what_click_prints(
    repo: Path, args: tuple[str, ...]
) -> None:
    _clear(repo)
    want = click_cli(repo, *args, env=NO_CACHE)
    assert want[2] == 0 and want[0].startswith(("{", "[")) and "skipped 1 tag" in want[1]
    assert console(repo, *args, env=NO_CACHE) == want  # uncached: the CLI, unchanged
    assert not (repo / ".git" / readcache.DIRNAME).exists()
    assert console(repo, *args) == want  # a miss: computed (through click) and stored
    assert len(list((repo / ".git" / readcache.DIRNAME).iterdir())) == 1
    assert console(repo, *args) == want  # a hit, answered before click
    assert click_cli(repo, *args) == want  # click's own hit of the same entry
    assert loaded_after(repo, *args) == []  # the hit imported nothing heavy
    _clear(repo)
    assert "click" in loaded_after(repo, *args)  # a miss runs the CLI


def test_the_repository_from_elsewhere_and_from_a_subfolder(repo: Path, tmp_path: Path) -> None:
    args = ("show", NAME, "--json")
    want = click_cli(repo, *args, env=NO_CACHE)
    console(repo, *args)  # stored
    for how in (("--repo", str(repo)), (f"--repo={repo}",)):
        assert console(tmp_path, *args, *how) == want
        assert loaded_after(tmp_path, *args, *how) == []
    assert console(tmp_path, *args, env={"RELEASE_REPO": str(repo)}) == want
    sub = repo / "sub" / "deeper"
    sub.mkdir(parents=True, exist_ok=True)
    (repo / "params.yaml").write_text("{}\n")  # the CLI runs at the project root
    try:
        assert console(sub, *args) == want == click_cli(sub, *args)
        assert console(sub, *args, "--repo", "../..") == want
    finally:
        (repo / "params.yaml").unlink()


ERRORS = [
    ("show", "nosuch", "--json"),  # an unknown artifact: exit 2, the registry's message
    ("show", "bad!", "--json"),  # an invalid name
    ("show", "--json", "--bogus"),  # an unknown option: click's usage error
    ("show", "a", "b", "--json"),  # an extra argument
    ("show", "--json", "--repo"),  # an option without its value
    ("show", "--json", "--repo", "/nonexistent/repo"),
    ("show", "--json", "--help"),
    ("-v", "show", "--json"),
    ("show", "--json", "--params", "params.yaml"),
]


@pytest.mark.parametrize("args", ERRORS)
def test_everything_else_is_the_cli_unchanged(repo: Path, args: tuple[str, ...]) -> None:
    console(repo, "show", "--json")  # a cache exists: nothing here may be answered from it
    got = console(repo, *args)
    assert got == click_cli(repo, *args)
    if args[1] == "nosuch":
        assert got[2] == 2 and "unknown artifact 'nosuch'" in got[1] and got[0] == ""


@pytest.mark.parametrize("var", ["RELEASE_VERBOSE", "RELEASE_QUIET", "RELEASE_DEBUG"])
def test_options_set_in_the_environment_go_through_the_cli(repo: Path, var: str) -> None:
    console(repo, "show", "--json")
    env = {var: "1"}
    assert console(repo, "show", "--json", env=env) == click_cli(repo, "show", "--json", env=env)


def test_parse_takes_exactly_the_cached_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [*entry._CLI_ONLY, "RELEASE_REPO"]:
        monkeypatch.delenv(var, raising=False)
    read = entry.parse(["show", "--deprecated", "--repo=r", NAME, "--json"])
    assert read is not None and (read.repo, read.name, read.deprecated) == ("r", NAME, True)
    read = entry.parse(["show", "--json"])
    assert read is not None and (read.repo, read.name, read.deprecated) == (".", None, False)
    for args in (
        [],
        ["show"],  # text output: tables need the whole registry
        ["--debug", "show", "--json"],
        ["show", "--json", "--"],
        ["show", "--json", "-h"],
        ["show", "--json", "--repo", "a", "--repo", "b"],
        ["show", "--json", "--repo="],
        ["show", "--json", "--repo", "--deprecated"],
        ["show", "--json", "modèle"],
        ["shows", "--json"],
    ):
        assert entry.parse(args) is None, args
    monkeypatch.setenv("RELEASE_REPO", "elsewhere")
    read = entry.parse(["show", "--json"])
    assert read is not None and read.repo == "elsewhere"
    monkeypatch.setenv("RELEASE_REPO", "")
    assert entry.parse(["show", "--json"]) is None  # empty: click's rules, not ours
    monkeypatch.delenv("RELEASE_REPO")
    monkeypatch.setenv("RELEASE_PARAMS", "p.yaml")  # click validates it
    assert entry.parse(["show", "--json"]) is None
    monkeypatch.delenv("RELEASE_PARAMS")
    monkeypatch.setenv("_RELEASE_COMPLETE", "bash_complete")  # click's shell completion
    assert entry.parse(["show", "--json"]) is None


def test_an_unused_handed_probe_is_dropped(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # From a subfolder the CLI reads at the project root, so the entry's probe of the
    # subfolder goes unused; it must not answer a later read in the same process.
    for var in [*entry._CLI_ONLY, "RELEASE_REPO", "RELEASE_NO_CACHE", "RELEASE_JSON"]:
        monkeypatch.delenv(var, raising=False)
    _clear(repo)
    sub = repo / "sub"
    sub.mkdir(exist_ok=True)
    (repo / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(sub)
    try:
        entry.main(["show", "--json"])
        first = json.loads(capsys.readouterr().out)
        assert readcache._handed == {}
        git(repo, "tag", "-a", f"{NAME}#prod#9", "HEAD", "-m", "later")
        entry.main(["show", "--json"])
        second = json.loads(capsys.readouterr().out)
    finally:
        (repo / "params.yaml").unlink()
        git(repo, "tag", "-d", f"{NAME}#prod#9")
    assert first[NAME]["stage"].get("prod") is None
    assert second[NAME]["stage"]["prod"] == "v0.0.2"


def test_an_entry_that_is_not_plain_ascii_is_printed_by_the_cli(tmp_path: Path) -> None:
    path = init_repo(tmp_path / "repo")
    subprocess.run([RELEASE, "register", "model"], cwd=path, check=True, capture_output=True)
    git(path, "tag", "-a", "modèle@vbad", "-m", "skipped, with a warning naming it")
    want = click_cli(path, "show", "--json", env=NO_CACHE)
    assert "modèle@vbad" in want[1]
    assert console(path, "show", "--json") == want  # stored
    assert console(path, "show", "--json") == want  # a hit, printed by the CLI
    assert "click" in loaded_after(path, "show", "--json")


def test_a_reader_that_leaves_early_ends_it_as_it_ends_the_cli(repo: Path) -> None:
    args = ("show", NAME, "--json")
    console(repo, *args)  # stored: the next run is a hit

    def leave_early(cmd: list[str]) -> tuple[int, bytes]:
        env = {k: v for k, v in _env(None).items() if k != "PYTHONUNBUFFERED"}
        proc = subprocess.Popen(
            cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()
        return proc.wait(), proc.stderr.read()

    head = git(repo, "rev-parse", "HEAD").strip()
    stream = "".join(  # a long output (one fast-import), so the pipe fills before the end
        f"tag {NAME}#staging#{100 + i}\nfrom {head}\n"
        f"tagger T <t@example.invalid> {1_700_000_000 + i} +0000\ndata 2000\n{'x' * 2000}\n"
        for i in range(40)
    )
    subprocess.run(
        ["git", "-C", str(repo), "fast-import", "--quiet"], input=stream.encode(), check=True
    )
    try:
        console(repo, *args)
        got = leave_early([RELEASE, *args])
        assert got == leave_early([sys.executable, "-m", "release.cli", *args])
        assert got[0] == 1 and b"Traceback" not in got[1]
    finally:
        git(repo, "tag", "-d", *(f"{NAME}#staging#{100 + i}" for i in range(40)))

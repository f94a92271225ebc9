"""The read cache of ``show --json``: same output as uncached, exact invalidation, and
entries that match the state they are keyed by while another process writes tags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_registry_support import commit, fake_time_env, git, init_repo, release

from release.registry import readcache
from release.registry.show_command import show_json
from release.registry.state import read_state

NO_CACHE = {"RELEASE_NO_CACHE": "1"}


def cache_dir(repo: Path) -> Path:
    return repo / ".git" / readcache.DIRNAME


def uncached(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return release(repo, *args, env=NO_CACHE)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo")
    env = fake_time_env()
    release(path, "register", "model", env=env)
    release(path, "promote", "model", "dev", env=fake_time_env())
    commit(path, "model.txt", "two\n")
    release(path, "register", "model", env=fake_time_env())
    git(path, "tag", "-a", "other@vbad", "-m", "malformed")  # a warning line
    return path


@pytest.mark.parametrize("args", [("show", "--json"), ("show", "model", "--json")])
def test_a_hit_prints_what_the_uncached_read_prints(repo: Path, args: tuple[str, ...]) -> None:
    want = uncached(repo, *args)
    assert not cache_dir(repo).exists()  # RELEASE_NO_CACHE=1 stores nothing
    first, second = release(repo, *args), release(repo, *args)
    assert len(list(cache_dir(repo).iterdir())) == 1  # stored once, then hit
    for got in (first, second):
        assert (got.stdout, got.stderr) == (want.stdout, want.stderr)
    assert "skipped 1 tag(s)" in second.stderr  # warnings come from the entry too


def test_every_input_of_the_key_invalidates(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def same(deprecated: bool = False) -> None:
        for name in (None, "model"):
            monkeypatch.delenv("RELEASE_NO_CACHE", raising=False)
            got = show_json(repo, name, deprecated)
            monkeypatch.setenv("RELEASE_NO_CACHE", "1")
            assert got == show_json(repo, name, deprecated)

    same()
    git(repo, "tag", "-a", "model#staging#5", "HEAD", "-m", "x")  # a new tag
    same()
    # the same tag name moved to another tag object (new message): name alone is not enough
    git(repo, "tag", "-f", "-a", "model@v0.0.1", "HEAD~1", "-m", "rewritten")
    same()
    git(repo, "tag", "-d", "model#dev#1")  # a deleted tag
    same()
    (repo / ".gto").write_text("stages: [dev, staging, prod, qa]\n")  # .gto in the work tree
    same()
    (repo / "artifacts.yaml").write_text("model:\n  type: model\n  path: model.txt\n")
    git(repo, "add", "artifacts.yaml")
    git(repo, "commit", "-q", "-m", "declare")  # HEAD moves: declarations at HEAD
    same()
    same(deprecated=True)


def test_the_key_of_a_computation_is_the_listing_a_hit_compares(repo: Path) -> None:
    # the state records exactly what `for-each-ref %(objectname) %(refname)` lists
    probe = readcache.probe(repo, ("x",))
    assert probe is not None
    state = read_state(repo)
    assert state.refs == probe.refs
    assert probe.refs.count(b"\n") == len(git(repo, "tag", "-l").split())


def test_damaged_entries_and_bounded_size(repo: Path) -> None:
    release(repo, "show", "--json")
    (entry,) = cache_dir(repo).iterdir()
    entry.write_bytes(entry.read_bytes()[:40])  # truncated: a miss, then rewritten
    assert release(repo, "show", "--json").stdout == uncached(repo, "show", "--json").stdout
    for i in range(readcache.KEEP + 3):
        git(repo, "tag", "-a", f"model#dev#{100 + i}", "-m", "x")
        show_json(repo, None, False)
    assert len(list(cache_dir(repo).iterdir())) == readcache.KEEP
    assert readcache.probe(repo.parent, ("x",)) is None  # not a repository: no cache


def test_replaced_objects_are_not_cached(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "replace", "--graft", head)
    assert readcache.probe(repo, ("show",)) is None


def _entry_refs(entry: Path) -> tuple[list[str], str, list[str], str]:
    """An entry's args, its HEAD, its tags (``sha ref`` lines) and its text."""
    data = entry.read_bytes()
    head, _, rest = data.partition(b"\n")
    key_len, warn_len = (int(x) for x in head.split())
    key = rest[:key_len].split(b"\n", 5)
    args = key[2].decode().split("\0")
    return args, key[3].decode(), key[5].decode().splitlines(), rest[key_len + warn_len :].decode()


def _race(repo: Path, script: str) -> list[tuple[list[str], str, list[str], str]]:
    """Read (``show`` and ``show model``) while ``script`` writes; every entry stored."""
    writer = subprocess.Popen(
        ["sh", "-c", script], cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stored: dict[str, tuple[list[str], str, list[str], str]] = {}
    while writer.poll() is None:
        for name in (None, "model"):
            show_json(repo, name, False)
        for entry in cache_dir(repo).iterdir():
            if not entry.name.startswith(".tmp-"):
                stored[entry.name] = _entry_refs(entry)  # before pruning removes it
    assert writer.wait() == 0
    return list(stored.values())


def _check_against_twins(repo: Path, stored: list[tuple[list[str], str, list[str], str]]) -> None:
    """Each entry equals an uncached read of a repository with exactly its HEAD and tags."""
    objects = (repo / ".git" / "objects").resolve()
    for i, (args, head, refs, text) in enumerate(stored):
        twin = init_repo(repo.parent / f"twin{i}", commits=0)
        (twin / ".git" / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        lines = [f"create {line.split(' ')[1]} {line.split(' ')[0]}" for line in refs]
        git(twin, "update-ref", "refs/heads/main", head)
        subprocess.run(
            ["git", "-C", str(twin), "update-ref", "--stdin"],
            input="\n".join(lines) + "\n",
            text=True,
            check=True,
        )
        name = args[1] or None
        want, _ = _uncached_json(twin, name)
        assert text == want, f"entry for {args} at {head} differs from its state"


def test_entries_match_their_state_while_another_process_writes(repo: Path) -> None:
    """Readers race a writer adding, moving and deleting tags; afterwards each stored
    entry is checked against an uncached read of a repository with exactly its tags."""
    stored = _race(
        repo,
        'for i in $(seq 1 15); do git tag -a "model#prod#$((i + 10))" -m "w$i";'
        ' git tag -f -a model@v0.0.1 HEAD~1 -m "m$i"; git tag -d "model#prod#$((i + 9))";'
        " done",
    )
    assert len(stored) >= 2
    _check_against_twins(repo, stored)


def test_entries_match_their_head_while_another_process_commits(repo: Path) -> None:
    """HEAD moves while readers run: each commit declares other artifacts in
    ``artifacts.yaml`` (and tags move too), so an entry whose declarations came from
    another commit than its HEAD would differ from the read of its own HEAD."""
    stored = _race(
        repo,
        "for i in $(seq 1 12); do"
        ' printf "model:\\n  type: model\\n  description: d$i\\nextra$i:\\n  type: data\\n"'
        " > artifacts.yaml; git add artifacts.yaml; git commit -q -m c$i;"
        ' git tag -a "model#staging#$((i + 20))" -m "s$i"; done',
    )
    heads = {head for _, head, _, _ in stored}
    assert len(heads) >= 2  # the readers saw HEAD move
    _check_against_twins(repo, stored)


def _uncached_json(repo: Path, name: str | None) -> tuple[str, list[str]]:
    env = {**os.environ, **NO_CACHE}
    code = (
        "import sys; from release.registry.show_command import show_json;"
        "print(show_json(sys.argv[1], sys.argv[2] or None, False)[0], end='')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(repo), name or ""],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return proc.stdout, []


def test_the_portable_probe_reads_what_the_posix_one_reads(repo: Path) -> None:
    # Windows has no posix_spawn: the same two reads through subprocess
    assert readcache._git_both_subprocess(str(repo)) == readcache._git_both(str(repo))
    assert readcache._git_both_subprocess(str(repo.parent))[1] is None  # not a repository
    assert readcache._git_both(str(repo.parent))[1] is None

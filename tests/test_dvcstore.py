"""The DVC and git layers on real repositories: `dvc add`, a shared cache.dir, a local
remote with a relative URL, fetch and push, and git's own errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dvc.config import Config
from dvc.config_schema import RelPath
from dvc.repo import Repo

from release import dvcstore, gitcmd
from release.deploy.checks import find_golden
from release.errors import RegistryError
from tests.support import run


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], repo)
    Repo.init(str(repo)).close()  # DVC's own API in-process: the CLI's start-up is slow
    return repo


def _remote(repo: Path, name: str, url: str, *, default: bool = True) -> None:
    """``dvc remote add [-d] NAME URL`` through DVC's config API (URL as typed at the root)."""
    with Config(dvc_dir=str(repo / ".dvc")).edit("repo") as conf:
        # RelPath: saved relative to .dvc/, as `dvc remote add` saves a relative path.
        conf["remote"][name] = {"url": url if "://" in url else RelPath((repo / url).resolve())}
        if default:
            conf["core"]["remote"] = name


def _add_and_commit(repo: Path, files: dict[str, bytes]) -> str:
    for rel, data in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    with Repo(str(repo)) as dvc_repo:
        dvc_repo.add([str(repo / rel) for rel in files])
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "data"], repo)
    return gitcmd.output(repo, "rev-parse", "HEAD")


def test_shared_cache_dir_is_honoured(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    shared = tmp_path / "shared-cache"
    with Config(dvc_dir=str(repo / ".dvc")).edit("local") as conf:
        conf["cache"]["dir"] = str(shared)
    files = {"data/prepared/test.parquet": b"test-rows", "reports/predictions.parquet": b"preds"}
    commit = _add_and_commit(repo, files)
    assert dvcstore.cache_dir(repo) == shared
    md5 = dvcstore.tracked_md5(repo, commit, "reports/predictions.parquet")
    assert md5 == dvcstore.md5_file(repo / "reports/predictions.parquet")
    assert dvcstore.read_object(repo, md5) == b"preds"
    assert not (repo / ".dvc" / "cache").exists()
    # The golden set is found in the shared cache once the working tree lost it.
    for rel in files:
        (repo / rel).unlink()
    golden = find_golden(repo, commit, tmp_path)
    assert golden is not None and golden.predictions.read_bytes() == b"preds"
    assert shared in golden.predictions.parents
    assert dvcstore.read_at(repo, commit, "data/prepared/test.parquet") == b"test-rows"


def test_file_inside_a_dvc_added_directory(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (repo / "data/raw").mkdir(parents=True)
    (repo / "data/raw/a.csv").write_text("x\n1\n")
    (repo / "data/raw/b.csv").write_text("x\n2\n")
    with Repo(str(repo)) as dvc_repo:
        dvc_repo.add([str(repo / "data/raw")])
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "raw"], repo)
    assert dvcstore.read_at(repo, "HEAD", "data/raw/b.csv") == b"x\n2\n"
    # Without the cache (listing included), the file comes back from the remote.
    _remote(repo, "store", "../storage")
    assert dvcstore.push(repo) == 3  # two files and the directory listing
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / "data/raw/b.csv").unlink()
    assert dvcstore.read_at(repo, "HEAD", "data/raw/b.csv") == b"x\n2\n"
    assert dvcstore.tracked_md5(repo, "HEAD", "data/raw/missing.csv") is None
    assert dvcstore.dvc_files(repo) == ["data/raw.dvc"]


def test_relative_remote_resolves_against_the_repository(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    run(["dvc", "remote", "add", "-d", "store", "../storage"], repo)  # writes ../../storage
    assert "['remote \"store\"']" in (repo / ".dvc/config").read_text()
    assert dvcstore.remotes(repo) == {"store": str(tmp_path / "storage")}
    assert dvcstore.default_remote(repo) == "store"
    first = _add_and_commit(repo, {"a.txt": b"first"})
    _add_and_commit(repo, {"a.txt": b"second"})
    # Every commit's outputs land in the repository's folder, not in /storage.
    assert dvcstore.push(repo, all_commits=True) == 2
    pushed = {p.name for p in (tmp_path / "storage").rglob("*") if p.is_file()}
    assert len(pushed) == 2
    # A cache that lost the first version's object gets it back from the remote.
    shutil.rmtree(repo / ".dvc" / "cache")
    assert dvcstore.read_at(repo, first, "a.txt") == b"first"


def test_pinned_remotes_make_dvcs_own_cli_push_every_commit_to_the_repository_folder(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path)
    _remote(repo, "store", "../storage")
    _remote(repo, "cloud", "s3://bucket/x", default=False)
    _add_and_commit(repo, {"a.txt": b"first"})
    _add_and_commit(repo, {"a.txt": b"second"})
    assert dvcstore.pin_remotes(repo) == {"store": str(tmp_path / "storage")}
    assert dvcstore.pin_remotes(repo) == {}  # a second run changes nothing
    assert run(["git", "status", "--porcelain"], repo).stdout == ""
    run(["dvc", "push", "-q", "--all-commits"], repo)
    assert len([p for p in (tmp_path / "storage").rglob("*") if p.is_file()]) == 2


def test_push_version_pushes_that_commit_and_needs_a_remote(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit = _add_and_commit(repo, {"models/model.skops": b"model-bytes"})
    with pytest.raises(dvcstore.DvcError, match="no default DVC remote"):
        dvcstore.push_version(repo, commit)
    _remote(repo, "store", "../storage")
    assert dvcstore.push_version(repo, commit) == 1
    md5 = dvcstore.tracked_md5(repo, commit, "models/model.skops")
    assert md5 is not None
    assert dvcstore.object_paths(repo, md5, cache=tmp_path / "storage")[0].is_file()
    plain = tmp_path / "plain"
    plain.mkdir()
    run(["git", "init", "-q"], plain)
    assert dvcstore.push_version(plain, commit) is None  # not a DVC project: nothing to push


def test_fetch_failure_carries_dvcs_message(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _remote(repo, "store", "../storage")
    commit = _add_and_commit(repo, {"a.txt": b"only-local"})
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / "a.txt").unlink()
    with pytest.raises(dvcstore.DvcError) as err:
        dvcstore.read_at(repo, commit, "a.txt")
    message = err.value.one_line()
    assert "a.txt at " in message and "neither in the DVC cache nor on its remote: " in message
    assert "Missing cache files" in message  # DVC's own words, never an empty cause


def test_prepare_clone_points_remotes_at_the_origin(tmp_path: Path) -> None:
    origin = _repo(tmp_path)
    _remote(origin, "store", "../storage")
    _remote(origin, "cloud", "s3://bucket/path", default=False)
    _add_and_commit(origin, {"a.txt": b"x"})
    clone = tmp_path / "deep" / "clone"
    run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    dvcstore.prepare_clone(clone, origin)
    remotes = dvcstore.remotes(clone)
    assert remotes["store"] == str(tmp_path / "storage")
    assert remotes["cloud"] == "s3://bucket/path"
    assert dvcstore.cache_dir(clone) == clone / ".dvc" / "cache"
    assert run(["git", "status", "--porcelain"], clone).stdout == ""  # config.local is ignored


def test_lock_readers_skip_malformed_files(tmp_path: Path) -> None:
    repo = tmp_path
    run(["git", "init", "-q"], repo)
    (repo / "dvc.lock").write_text("stages: [not, a, mapping")
    assert dvcstore.read_lock(repo) == {}
    lock = {"schema": "2.0", "stages": {"s": {"outs": [{"path": "m", "md5": "0" * 32}]}}}
    (repo / "dvc.lock").write_text(json.dumps(lock))
    assert dvcstore.lock_outs(repo) == [dvcstore.Out("m", "0" * 32)]


def test_git_errors_carry_gits_own_message(tmp_path: Path) -> None:
    run(["git", "init", "-q"], tmp_path)
    with pytest.raises(gitcmd.GitError, match=r"git checkout failed: .*nowhere") as err:
        gitcmd.run(tmp_path, "checkout", "nowhere")
    assert isinstance(err.value, RegistryError)
    assert gitcmd.rev_parse(tmp_path, "HEAD") is None
    assert gitcmd.show(tmp_path, "HEAD", "x") is None
    with pytest.raises(gitcmd.GitError, match="invalid revision"):
        gitcmd.show(tmp_path, "--output=/tmp/x", "x")
    with pytest.raises(gitcmd.GitError, match="no commits"):
        gitcmd.resolve_commit(tmp_path, "HEAD")
    with pytest.raises(gitcmd.GitError, match="did not finish"):
        gitcmd.run(tmp_path, "hash-object", "--stdin", input=b"x" * 10, timeout=1e-6)


def test_verify_reports_dvcs_error_lines_never_an_empty_cause() -> None:
    from release.verify import _dvc_reason

    out = (
        "Running stage 'prepare':\n> release data prepare\n"
        "\x1b[31mERROR\x1b[39m: failed to reproduce 'prepare': missing data 'source'\n"
    )
    assert _dvc_reason(out, 1) == "ERROR: failed to reproduce 'prepare': missing data 'source'"
    assert _dvc_reason("a\nb\nc\nd\n", 2) == "b | c | d"
    assert _dvc_reason("\n  \n", 255) == "exit code 255 and no message"

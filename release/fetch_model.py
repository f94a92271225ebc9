"""``release fetch-model NAME@vX.Y.Z --to DIR``: one registered model file, verified, on disk.

Built for a Kubernetes init container (read-only root filesystem, no checkout, no DVC
cache): the repository (``--repo-url``, else ``--repo``) is cloned into a temporary
directory with only the artifact's GTO tags (shallow), the tag is resolved to its commit
by the registry, and that commit is checked out so DVC reads its ``.dvc/config``. The
model's bytes then come from the same code ``release serve --model NAME@vX.Y.Z`` uses
(:func:`release.serve.loader.read_version`: the DVC cache, else the DVC remote), checked
against the sha256 in ``model.json`` and the md5 DVC recorded, and against
``RELEASE_MODEL_SHA256`` when it is set.

``DIR`` receives ``model.skops``, ``model.json`` (as committed) and ``release-model.json``
(name, version, commit, sha256, md5), each written to a temporary file in ``DIR`` and
renamed; nothing is written before every check passed. ``release serve --model DIR``
serves the result.

Credentials of the DVC remote come from DVC's own configuration levels, so a Kubernetes
Secret can supply them without this command seeing them: mount a DVC config file and point
``DVC_GLOBAL_CONFIG_DIR`` (or ``DVC_SYSTEM_CONFIG_DIR``) at its folder (``dvc remote modify
--global NAME access_key_id ...`` writes one), or set the storage's own variables
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``GOOGLE_APPLICATION_CREDENTIALS``,
``AZURE_STORAGE_CONNECTION_STRING``). With ``--repo`` an existing checkout's
``.dvc/config.local`` applies as usual. A private git repository is reached as git reaches
it (a token in ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_0=http.extraHeader``, or SSH).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from release import fsio, gitcmd
from release.console import emit_json, json_option, repo_option
from release.dvcconfig import config
from release.errors import RegistryError, UsageError
from release.serve.loader import (
    NAME_RE,
    VersionFile,
    parse_version_ref,
    pinned_sha256,
    read_version,
    version_commit,
)

MODEL_FILE = "model.skops"
META_FILE = "model.json"
FETCHED_FILE = "release-model.json"
# git URLs we hand to `git fetch`: a scheme git speaks, scp-like SSH, or a local path.
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")
_URL = re.compile(r"^(?:(?:https?|ssh|git|file)://[^\s]+|[\w.-]+@[\w.-]+:[^\s]+|/[^\s]*)$")


@dataclass(frozen=True)
class Fetched:
    """What ``fetch-model`` wrote."""

    directory: Path
    name: str
    version: str
    commit: str
    sha256: str
    size: int


def check_url(url: str) -> str:
    """A repository URL safe to hand to git (no option, no whitespace, a known form)."""
    if not _URL.fullmatch(url) or url.startswith("-"):
        raise UsageError(
            f"--repo-url {url[:120]!r} is not a git URL",
            "use https://..., ssh://..., git@host:path, file:///path or an absolute path",
        )
    return url


def _redact(text: str, url: str) -> str:
    """``text`` with the user-info part of ``url`` (``user:token@``) replaced by ``***@``."""
    safe = _USERINFO.sub(r"\1***@", url)
    return _USERINFO.sub(r"\1***@", text.replace(url, safe))


@contextlib.contextmanager
def shallow_clone(url: str, name: str) -> Iterator[Path]:
    """A temporary repository holding ``url``'s tags of artifact ``name`` (each commit at
    depth 1: the registry needs every tag of the artifact, not the history), removed on exit.

    DVC's caches (object cache and site cache) stay inside it, so the command needs a
    writable temporary directory and nothing else.
    """
    root = Path(tempfile.mkdtemp(prefix="release-fetch-"))
    try:
        repo = root / "repo"
        repo.mkdir()
        gitcmd.run(repo, "init", "-q")
        refspecs = [f"+refs/tags/{name}{sep}*:refs/tags/{name}{sep}*" for sep in "@#"]
        try:
            gitcmd.run(
                repo, "fetch", "-q", "--depth=1", "--no-tags", "--end-of-options", url, *refspecs
            )
        except gitcmd.GitError as exc:  # git may echo the URL: never its credentials
            raise gitcmd.GitError(_redact(exc.what, url), exc.fix) from None
        yield repo
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _checkout(repo: Path, name: str, version: str) -> None:
    """Check out the version's commit, so DVC reads that commit's ``.dvc/config``."""
    tagged = gitcmd.rev_parse(repo, f"refs/tags/{name}@{version}")
    if tagged is None:
        raise RegistryError(
            f"version {name}@{version} is not registered in the repository",
            "list versions with `release show NAME`",
        )
    for commit in (tagged, version_commit(repo, name, version)):  # HEAD first, then GTO's say
        gitcmd.run(repo, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commit)
    if (repo / ".dvc").is_dir():
        with config(repo).edit("local") as local:
            local["cache"]["dir"] = str(repo / ".dvc" / "cache")
            local["core"]["site_cache_dir"] = str(repo.parent / "dvc-site-cache")


def fetch_model(
    spec: str,
    to: str | os.PathLike[str],
    *,
    repo_url: str | None = None,
    repo: str | os.PathLike[str] = ".",
    pinned: str | None = None,
) -> Fetched:
    """Fetch ``spec`` (NAME@vX.Y.Z) from ``repo_url`` (or the repository ``repo``) into ``to``.

    Raises UsageError (bad spec, URL or pin), RegistryError (unknown version, unreachable
    repository) or ModelError (hash mismatch, DVC remote unreachable or lacking the
    object); ``to`` is left as it was on every error.
    """
    ref = parse_version_ref(spec)
    if ref is None or not NAME_RE.match(ref[0]):
        raise UsageError(f"{spec!r} is not a registered version", "use NAME@vX.Y.Z")
    name, version = ref
    target = Path(to)
    if target.exists() and not target.is_dir():
        raise UsageError(f"--to {target} is not a directory", "pass a directory")
    if repo_url is not None:
        with shallow_clone(check_url(repo_url), name) as clone:
            _checkout(clone, name, version)
            found = read_version(clone, name, version, pinned=pinned, action="fetch")
    else:
        found = read_version(Path(repo), name, version, pinned=pinned, action="fetch")
    return write_fetched(found, target)


def write_fetched(found: VersionFile, directory: Path) -> Fetched:
    """Write the verified model, its ``model.json`` and the fetch record into ``directory``.

    The model file goes last but one and the record last: a reader that finds the record
    finds the matching model (and ``release serve`` checks model.json's sha256 anyway).
    """
    record = {
        "name": found.name,
        "version": found.version,
        "commit": found.commit,
        "model": MODEL_FILE,
        "sha256": found.sha256,
        "md5": found.md5,
        "size": len(found.data),
    }
    directory.mkdir(parents=True, exist_ok=True)
    fsio.write_bytes(directory / META_FILE, found.raw_meta)
    fsio.write_bytes(directory / MODEL_FILE, found.data)
    fsio.write_json(directory / FETCHED_FILE, record)
    return Fetched(
        directory, found.name, found.version, found.commit, found.sha256, len(found.data)
    )


@contextlib.contextmanager
def _quiet_dvc() -> Iterator[None]:
    """Silence DVC's own console handlers: its warnings reach the user inside our one-line
    error (:mod:`release.dvctransfer` collects them), not as extra lines before it."""
    handlers = [
        handler
        for name in ("dvc", "dvc_data", "dvc_objects")
        for handler in logging.getLogger(name).handlers
    ]
    levels = [handler.level for handler in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)


@click.command("fetch-model")
@click.argument("spec", metavar="NAME@vX.Y.Z")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write model.skops and model.json.",
)
@click.option(
    "--repo-url",
    envvar="RELEASE_REPO_URL",
    default=None,
    help="Git repository to fetch from (env RELEASE_REPO_URL) [the repository --repo].",
)
@repo_option("Local repository without --repo-url.")
@json_option
def fetch_model_command(spec: str, to: str, repo_url: str | None, repo: str, as_json: bool) -> None:
    """Fetch a registered version's model file (DVC cache or remote), verified, into a folder.

    The sha256 in model.json and the md5 in dvc.lock must match, and so must
    RELEASE_MODEL_SHA256 when set. DVC remote credentials come from DVC's own config
    (DVC_GLOBAL_CONFIG_DIR pointing at a mounted config, or the storage's own variables).
    """
    import dvc.logger  # noqa: F401  (installs DVC's handlers now, so _quiet_dvc finds them)

    with _quiet_dvc():
        fetched = fetch_model(spec, to, repo_url=repo_url, repo=repo, pinned=pinned_sha256())
    if as_json:
        emit_json(
            {
                "directory": str(fetched.directory),
                "name": fetched.name,
                "version": fetched.version,
                "commit": fetched.commit,
                "sha256": fetched.sha256,
                "size": fetched.size,
            }
        )
        return
    click.echo(
        f"fetched {fetched.name}@{fetched.version} ({fetched.commit[:8]}, "
        f"sha256 {fetched.sha256[:12]}..., {fetched.size} bytes) into {fetched.directory}"
    )

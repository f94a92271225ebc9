"""The one DVC reader and writer: ``dvc.lock`` and ``.dvc`` files at a revision, the cache
(wherever ``cache.dir`` puts it), the remotes, fetch and push.

Settings come from DVC's own config API (:class:`dvc.config.Config`), never from a
hand-written parser: it reads every level (system, global, repo, local), DVC's section
format (``['remote "x"']``) and resolves relative paths against the config file, as
``dvc`` does. Fetch and push run through :class:`dvc.repo.Repo` with each local-folder
remote given as an absolute path, because DVC resolves a relative remote against the
filesystem root when it reads the config of a git revision (``--all-commits``, ``revs``).
A failure raises :class:`DvcError` with DVC's own message (its exception and the warnings
it logged), never an empty cause.

``dvc`` is imported inside the functions that need it: reading a ``dvc.lock`` blob costs
no DVC import, and the registry commands stay fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from release import gitcmd
from release.errors import DataError

LOCK = "dvc.lock"
_MD5 = re.compile(r"^[0-9a-f]{32}(?:\.dir)?$")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_MESSAGE = 600
ORIGIN_CACHE_REMOTE = "release-origin-cache"


class DvcError(DataError):
    """DVC could not read, fetch or push data; the message is DVC's own."""


@dataclass(frozen=True)
class Out:
    """One output (or dependency) DVC recorded: repository-relative path and md5."""

    path: str
    md5: str

    @property
    def is_dir(self) -> bool:
        """True for a directory output (its md5 names a ``.dir`` listing)."""
        return self.md5.endswith(".dir")


# ------------------------------------------------------------------ reading at a revision
def _read(repo: Path, rev: str | None, path: str) -> bytes | None:
    """``path`` at ``rev`` from git objects, or from the working tree when ``rev`` is None."""
    if rev is None:
        file = repo / path
        return file.read_bytes() if file.is_file() else None
    return gitcmd.show(repo, rev, path)


def _yaml(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError:
        return {}
    return doc if isinstance(doc, dict) else {}


def read_lock(repo: str | Path, rev: str | None = None) -> dict[str, dict[str, Any]]:
    """The ``stages`` of ``dvc.lock`` at ``rev`` (working tree when None); {} when absent."""
    stages = _yaml(_read(Path(repo), rev, LOCK)).get("stages")
    if not isinstance(stages, dict):
        return {}
    return {str(k): v for k, v in stages.items() if isinstance(v, dict)}


def _entries(entries: Any, base: PurePosixPath) -> Iterator[Out]:
    for entry in entries or []:
        if not isinstance(entry, dict):
            continue
        md5 = str(entry.get("md5") or "")
        path = str(entry.get("path") or "").rstrip("/")
        if path and _MD5.match(md5):
            yield Out(str(base / path) if str(base) != "." else path, md5)


def lock_outs(repo: str | Path, rev: str | None = None, *, deps: bool = False) -> list[Out]:
    """Outputs (and with ``deps`` the dependencies) ``dvc.lock`` records at ``rev``."""
    found: list[Out] = []
    for stage in read_lock(repo, rev).values():
        found.extend(_entries(stage.get("outs"), PurePosixPath(".")))
        if deps:
            found.extend(_entries(stage.get("deps"), PurePosixPath(".")))
    return found


def dvc_file_outs(repo: str | Path, rev: str | None, dvc_file: str) -> list[Out]:
    """Outputs a ``.dvc`` file (``dvc add``) records at ``rev``, paths made repo-relative."""
    doc = _yaml(_read(Path(repo), rev, dvc_file))
    return list(_entries(doc.get("outs"), PurePosixPath(dvc_file).parent))


def tracked_md5(repo: str | Path, rev: str | None, path: str) -> str | None:
    """The md5 DVC recorded for file ``path`` at ``rev``: in ``dvc.lock`` (an output, or a
    dependency's hash), in ``path.dvc``, or in the cached listing of a directory output or
    ``dvc add``-ed directory holding it.

    None when DVC does not track it; DvcError when a directory listing is not cached.
    """
    repo = Path(repo)
    target = PurePosixPath(path)
    outs = lock_outs(repo, rev)
    for candidate in [target, *target.parents]:
        if str(candidate) != ".":
            outs.extend(dvc_file_outs(repo, rev, f"{candidate}.dvc"))
    for out in [*outs, *_lock_deps(repo, rev)]:
        if PurePosixPath(out.path) == target and not out.is_dir:
            return out.md5
    for out in outs:
        out_path = PurePosixPath(out.path)
        if out.is_dir and out_path in target.parents:
            return _md5_in_listing(repo, out.md5, str(target.relative_to(out_path)))
    return None


def _lock_deps(repo: Path, rev: str | None) -> list[Out]:
    return [
        dep
        for stage in read_lock(repo, rev).values()
        for dep in _entries(stage.get("deps"), PurePosixPath("."))
    ]


def _md5_in_listing(repo: Path, dir_md5: str, relpath: str) -> str | None:
    raw = read_object(repo, dir_md5)
    if raw is None:
        raise DvcError(
            f"the DVC cache lacks the directory listing {dir_md5}",
            "run `dvc fetch` (or `dvc pull`) for that commit",
        )
    try:
        listing = json.loads(raw)
    except ValueError:
        raise DvcError(f"the DVC directory listing {dir_md5} is not JSON", "dvc fetch") from None
    for entry in listing if isinstance(listing, list) else []:
        if isinstance(entry, dict) and entry.get("relpath") == relpath:
            md5 = str(entry.get("md5", ""))
            return md5 if _MD5.match(md5) else None
    return None


# ------------------------------------------------------------------------- config, cache
def config(repo: str | Path) -> Any:
    """DVC's merged config of ``repo`` (all levels, paths resolved as DVC resolves them)."""
    from dvc.config import Config

    try:
        return Config(dvc_dir=str(Path(repo).resolve() / ".dvc"))
    except Exception as exc:  # ConfigError and the schema's own errors
        raise DvcError(
            f"DVC config of {repo} is invalid: {_clean(str(exc))}", "dvc config -l"
        ) from None


def cache_dir(repo: str | Path) -> Path:
    """The DVC cache directory: ``cache.dir`` from DVC's config, else ``.dvc/cache``."""
    configured = config(repo)["cache"].get("dir")
    return Path(configured) if configured else Path(repo).resolve() / ".dvc" / "cache"


def object_paths(repo: str | Path, md5: str, cache: Path | None = None) -> list[Path]:
    """Where DVC keeps the object ``md5``: DVC 3's ``files/md5`` layout, then DVC 2's."""
    if not _MD5.match(md5):
        raise DvcError(f"{md5!r} is not a DVC md5", "check dvc.lock")
    root = cache if cache is not None else cache_dir(repo)
    return [root / "files" / "md5" / md5[:2] / md5[2:], root / md5[:2] / md5[2:]]


def cached_object(repo: str | Path, md5: str) -> Path | None:
    """The cache file holding object ``md5``, or None when the cache lacks it."""
    return next((p for p in object_paths(repo, md5) if p.is_file()), None)


def read_object(repo: str | Path, md5: str) -> bytes | None:
    """The bytes of object ``md5`` from the cache, or None when it is not there."""
    found = cached_object(repo, md5)
    return found.read_bytes() if found is not None else None


def md5_file(path: str | Path) -> str:
    """DVC's content address of a file (md5 of its bytes)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_at(repo: str | Path, rev: str, path: str) -> Path | None:
    """A local file with the content DVC recorded for ``path`` at ``rev``: the working
    tree's copy when its md5 matches, else the cache's object; None when neither has it."""
    repo = Path(repo)
    md5 = tracked_md5(repo, rev, path)
    if md5 is None:
        return None
    work = repo / path
    if work.is_file() and md5_file(work) == md5:
        return work
    return cached_object(repo, md5)


def read_at(repo: str | Path, rev: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``rev``: git's blob, or the content DVC recorded (from the
    cache, the working tree when it matches, else fetched from the remote).

    None when neither DVC nor git has the file at ``rev``; DvcError when DVC records it
    but neither the cache nor the remote has it (the message says why).
    """
    repo = Path(repo)
    blob = gitcmd.show(repo, rev, path)  # committed (``cache: false``) files are in git
    if blob is not None:
        return blob
    logged: list[str] = []
    try:
        md5 = tracked_md5(repo, rev, path)
    except DvcError:  # the listing of a directory holding it is not cached: fetch it
        logged = fetch(repo, rev, [path])
        md5 = tracked_md5(repo, rev, path)
    if md5 is None:
        return None
    found = file_at(repo, rev, path)
    if found is None:
        logged += fetch(repo, rev, [path])
        found = cached_object(repo, md5)
    if found is None:
        said = "; ".join(logged)[:_MAX_MESSAGE] or "DVC gave no reason"
        raise DvcError(
            f"{path} at {rev[:8]} is neither in the DVC cache nor on its remote: {said}",
            "run `dvc push` where it was made, or `dvc pull` here",
        )
    return found.read_bytes()


def remotes(repo: str | Path) -> dict[str, str]:
    """Remote name -> URL, local folders as absolute paths (as DVC resolves them)."""
    return {str(k): str(v.get("url", "")) for k, v in config(repo)["remote"].items()}


def default_remote(repo: str | Path) -> str | None:
    """The name of the default remote (``core.remote``), or None."""
    name = config(repo)["core"].get("remote")
    return str(name) if name else None


def _is_local(url: str) -> bool:
    return bool(url) and "://" not in url


def absolute_remotes(repo: str | Path) -> dict[str, Any]:
    """A config override giving every local-folder remote its absolute path."""
    local = {n: {"url": u} for n, u in remotes(repo).items() if _is_local(u)}
    return {"remote": local} if local else {}


def prepare_clone(clone: str | Path, origin: str | Path) -> None:
    """Make a temporary clone of ``origin`` self-contained (its ``config.local``): local-folder
    remotes point at ``origin``'s folders, and the cache stays inside the clone, so nothing
    the clone runs writes into the user's (possibly shared) cache."""
    found = absolute_remotes(origin).get("remote", {})
    conf = config(clone)
    with conf.edit("local") as local:
        for name, values in found.items():
            local["remote"].setdefault(name, {})["url"] = values["url"]
        local["cache"]["dir"] = str(Path(clone).resolve() / ".dvc" / "cache")


def pin_remotes(repo: str | Path) -> dict[str, str]:
    """Pin each committed relative local remote to its absolute folder in ``config.local``.

    DVC's own CLI resolves a committed relative URL against the filesystem root when it
    reads a past revision's config (``dvc push --all-commits``, ``dvc fetch --rev``); the
    local level is always read from the working tree, so a pinned URL is used for every
    revision. Remotes the local level already sets are left alone. Returns what was pinned.
    """
    from dvc.config_schema import RelPath

    conf = config(repo)
    committed = conf.read("repo").get("remote", {})
    local_level = conf.read("local").get("remote", {})
    pinned = {
        str(name): str(values["url"])
        for name, values in committed.items()
        if isinstance(values.get("url"), RelPath) and "url" not in local_level.get(name, {})
    }
    if pinned:
        with conf.edit("local") as local:
            for name, url in pinned.items():
                local["remote"].setdefault(name, {})["url"] = url
    return pinned


# ------------------------------------------------------------------------- fetch, push
def _clean(text: str) -> str:
    return " ".join(_ANSI.sub("", text).split())


@contextlib.contextmanager
def _messages() -> Iterator[list[str]]:
    """Collect what DVC logs at WARNING and above (it often explains the exception)."""
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                lines.append(_clean(record.getMessage()))

    handler = _Collect()
    loggers = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _failure(what: str, exc: BaseException, logged: list[str]) -> str:
    parts = [*logged, _clean(str(exc)) or type(exc).__name__]
    text = "; ".join(dict.fromkeys(p for p in parts if p))
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return f"{what}: {text}"


def _dvc_call(
    repo: Path, what: str, fix: str, call: Any, extra: dict[str, Any] | None
) -> tuple[Any, list[str]]:
    """``call(Repo)`` with absolute local remotes; its result and the warnings DVC logged."""
    from dvc.repo import Repo

    override = absolute_remotes(repo)
    for key, value in (extra or {}).items():
        override.setdefault(key, {}).update(value)
    # DVC resolves targets against the working directory, ours are repository-relative.
    with _messages() as logged, contextlib.chdir(repo):
        try:
            with Repo(str(repo), config=override or None) as dvc_repo:
                return call(dvc_repo), logged
        except Exception as exc:  # DVC raises many types (no remote, network, missing files)
            raise DvcError(_failure(what, exc, logged), fix) from None


def _remote(repo: Path, remote: str | None) -> str | None:
    # Named explicitly: for a past revision DVC would read that revision's default remote,
    # which may be none (it then pushes or fetches nothing, silently).
    return remote if remote is not None else default_remote(repo)


def fetch(
    repo: str | Path,
    rev: str | None,
    targets: list[str],
    *,
    remote: str | None = None,
) -> list[str]:
    """Fetch ``targets`` as recorded at ``rev`` (workspace when None) into the cache.

    Returns the warnings DVC logged (DVC only warns when the remote lacks a file).
    """
    repo = Path(repo)
    revs = [rev] if rev else None
    name = _remote(repo, remote)
    _, logged = _dvc_call(
        repo,
        f"dvc fetch of {', '.join(targets)} failed",
        "run `dvc push` where the data was made, or check the DVC remote",
        lambda r: r.fetch(targets=targets, revs=revs, workspace=rev is None, remote=name),
        None,
    )
    return logged


def pull(repo: str | Path, targets: list[str], *, also_from: Path | None = None) -> None:
    """Check out ``targets`` (``.dvc`` files, outputs) in ``repo``'s working tree.

    Objects come from ``also_from`` (another repository's cache, e.g. the one a clone was
    made from) first, then from the default remote for whatever is still missing.
    """
    repo = Path(repo)
    if also_from is not None and also_from.is_dir():
        extra = {"remote": {ORIGIN_CACHE_REMOTE: {"url": str(also_from)}}}
        # Objects the origin lacks are fetched from the default remote just below.
        with contextlib.suppress(DvcError):
            _dvc_call(
                repo,
                "fetch from the origin's cache",
                "",
                lambda r: r.fetch(targets=targets, remote=ORIGIN_CACHE_REMOTE),
                extra,
            )
    _dvc_call(
        repo,
        "dvc pull failed",
        "push the data with `dvc push` (or `release register --push`), or fix the DVC remote",
        lambda r: r.pull(targets=targets),
        None,
    )


def has_dvc(repo: str | Path) -> bool:
    """True when ``repo`` is a DVC project (has a ``.dvc`` folder)."""
    return (Path(repo) / ".dvc").is_dir()


def push(
    repo: str | Path,
    revs: list[str] | None = None,
    *,
    all_commits: bool = False,
    remote: str | None = None,
) -> int:
    """Push the outputs recorded at ``revs`` (or every commit) to the remote; the count.

    Local-folder remotes are passed as absolute paths, so a relative URL means the same
    folder for every revision.
    """
    repo = Path(repo)
    name = _remote(repo, remote)
    result, _ = _dvc_call(
        repo,
        "dvc push failed",
        "run `dvc repro` (or `dvc fetch`) so the cache has the outputs, and check the remote",
        lambda r: r.push(
            revs=revs,
            all_commits=all_commits,
            workspace=not revs and not all_commits,
            remote=name,
        ),
        None,
    )
    return int(result or 0)


def push_version(repo: str | Path, commit: str) -> int | None:
    """Push the DVC outputs of ``commit`` to the default remote so any clone can pull them.

    None when the project does not use DVC or records no outputs at ``commit``; DvcError
    when it does but no remote is configured or the push fails.
    """
    repo = Path(repo)
    if not has_dvc(repo):
        return None
    recorded = lock_outs(repo, commit) or _dvc_files_at(repo, commit)
    if not recorded:
        return None
    if default_remote(repo) is None:
        raise DvcError(
            f"commit {commit[:8]} has DVC outputs but the project has no default DVC remote",
            "add one: dvc remote add -d storage URL",
        )
    return push(repo, [commit])


def _dvc_files_at(repo: Path, commit: str) -> list[str]:
    listed = gitcmd.output(repo, "ls-tree", "-r", "--name-only", "-z", commit)
    return [p for p in listed.split("\0") if p.endswith(".dvc") and not p.startswith(".dvc/")]


def dvc_files(root: str | Path) -> list[str]:
    """The ``.dvc`` files (``dvc add`` outputs) git tracks in ``root``'s working tree."""
    listed = gitcmd.output(root, "ls-files", "-z", "--", "*.dvc")
    return sorted(p for p in listed.split("\0") if p and not p.startswith(".dvc/"))

"""The one DVC layer, as the rest of ``release`` sees it: ``dvc.lock`` and ``.dvc`` files
at a revision, objects in the cache (wherever ``cache.dir`` puts it), a file's bytes at a
revision, and, from :mod:`release.dvcconfig` and :mod:`release.dvctransfer`, the settings
(through DVC's own config API, never a hand-written parser) and fetch, pull and push
(with DVC's own message on failure, never an empty cause).

``dvc`` is imported inside the functions that need it: reading a ``dvc.lock`` blob costs
no DVC import, and the registry commands stay fast.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from release import gitcmd
from release.dvcconfig import (
    DvcError,
    absolute_remotes,
    cache_dir,
    config,
    default_remote,
    pin_remotes,
    prepare_clone,
    remotes,
)
from release.dvctransfer import fetch, pull, push

__all__ = [
    "LOCK",
    "DvcError",
    "Out",
    "absolute_remotes",
    "cache_dir",
    "cached_object",
    "config",
    "default_remote",
    "dvc_file_outs",
    "dvc_files",
    "fetch",
    "file_at",
    "has_dvc",
    "lock_outs",
    "md5_file",
    "object_paths",
    "pin_remotes",
    "prepare_clone",
    "pull",
    "push",
    "push_version",
    "read_at",
    "read_lock",
    "read_object",
    "remotes",
    "tracked_md5",
]

LOCK = "dvc.lock"
_MD5 = re.compile(r"^[0-9a-f]{32}(?:\.dir)?$")
_MAX_MESSAGE = 600


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
    return parse_lock(_read(Path(repo), rev, LOCK))


def parse_lock(raw: bytes | None) -> dict[str, dict[str, Any]]:
    """The ``stages`` of a ``dvc.lock`` already read (for batched git reads); {} if unusable."""
    stages = _yaml(raw).get("stages")
    if not isinstance(stages, dict):
        return {}
    return {str(k): v for k, v in stages.items() if isinstance(v, dict)}


_ROOT = PurePosixPath(".")


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


def outs_in_lock(raw: bytes | None) -> list[Out]:
    """The outputs a ``dvc.lock`` already read records (for batched git reads)."""
    return [o for stage in parse_lock(raw).values() for o in _entries(stage.get("outs"), _ROOT)]


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


def read_at(
    repo: str | Path, rev: str, path: str, *, check_size: Callable[[int], None] | None = None
) -> bytes | None:
    """The bytes of ``path`` at ``rev``: git's blob, or the content DVC recorded (from the
    cache, the working tree when it matches, else fetched from the remote).

    None when neither DVC nor git has the file at ``rev``; DvcError when DVC records it
    but neither the cache nor the remote has it (the message says why). ``check_size``
    sees the file's size before its bytes are read (and raises to refuse it).
    """
    repo = Path(repo)
    blob = gitcmd.show(repo, rev, path)  # committed (``cache: false``) files are in git
    if blob is not None:
        if check_size is not None:
            check_size(len(blob))
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
    if check_size is not None:
        check_size(found.stat().st_size)
    return found.read_bytes()


def has_dvc(repo: str | Path) -> bool:
    """True when ``repo`` is a DVC project (has a ``.dvc`` folder)."""
    return (Path(repo) / ".dvc").is_dir()


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

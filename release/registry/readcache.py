"""A cache of registry reads (``release show --json``), keyed by the exact state read.

What ``show --json`` prints is a function of: the tags (each ref's name and object name:
a tag object's name fixes its target, tagger and message, and commits and blobs are
immutable by name), HEAD's commit (declarations are read at HEAD), the bytes of ``.gto``
(read from the work tree), the command's arguments and this code. The key is all of
them, so a hit costs one ``git rev-parse`` and one ``git for-each-ref`` that reads no
object, run side by side, instead of reading every tag, commit and index file.

Exact under concurrent writers: an entry is stored under the refs and HEAD that the
computation itself read (``state.refs`` from its own scan, ``state.head`` from its own
read of HEAD), never under a listing taken before or after it; ``.gto`` must be byte-
and stat-identical before and after. Each entry holds its whole key, compared byte for
byte on a hit (not only its hash). Entries live in the git directory
(``release-cache/``), are written atomically (a rename) and at most :data:`KEEP` are
kept. Repositories with ``refs/replace`` (objects replaced by name) are not cached.
``RELEASE_NO_CACHE=1`` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import NamedTuple

import release
from release.registry import git

KEEP = 8  # entries kept per repository (bounded disk: one entry per recent state)
DIRNAME = "release-cache"
_REFS_FORMAT = "--format=%(objectname) %(refname)"
_GTO = ".gto"


class Probe(NamedTuple):
    """The key parts read before computing: where, what, HEAD, ``.gto`` and the tags."""

    root: Path
    directory: Path
    args: tuple[str, ...]
    head: str
    gto: bytes
    gto_stat: tuple[int, ...]
    refs: bytes


def enabled() -> bool:
    """False when ``RELEASE_NO_CACHE`` is set to anything but empty or 0."""
    return os.environ.get("RELEASE_NO_CACHE", "") in ("", "0")


def _code_stamp() -> bytes:
    # Invalidate on any change of this package's registry code (an edited checkout too).
    here = Path(__file__).parent
    stats = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in here.glob("*.py"))
    return f"{release.__version__}|{stats}".encode()


def _read_gto(root: Path) -> tuple[bytes, tuple[int, ...]]:
    try:
        st = (root / _GTO).stat()
        data = (root / _GTO).read_bytes()
    except FileNotFoundError:
        return b"\0missing", ()
    return data, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def probe(repo: str | os.PathLike[str], args: tuple[str, ...]) -> Probe | None:
    """The current key of ``args`` in ``repo``; None when it cannot be cached (no commits,
    replaced objects, not a repository: the caller computes and reports as usual)."""
    if not enabled():
        return None
    listing = git.start(repo, "for-each-ref", _REFS_FORMAT, "refs/tags", "refs/replace")
    where = git.start(repo, "rev-parse", "--show-toplevel", "--git-common-dir", "HEAD^{commit}")
    try:
        refs = git.finish(listing)
        lines = git.finish(where).decode().splitlines()
    except git.GitError:
        return None
    if len(lines) != 3 or b" refs/replace/" in refs:
        return None
    root = Path(lines[0])
    common = Path(lines[1]) if os.path.isabs(lines[1]) else root / lines[1]
    gto, gto_stat = _read_gto(root)
    return Probe(root, common / DIRNAME, args, lines[2], gto, gto_stat, refs)


def _key(p: Probe, refs: bytes, head: str) -> bytes:
    parts = [b"release-cache/1", _code_stamp(), "\0".join(p.args).encode(), head.encode()]
    return b"\n".join([*parts, hashlib.sha256(p.gto).hexdigest().encode(), refs])


def _path(p: Probe, key: bytes) -> Path:
    return p.directory / hashlib.sha256(key).hexdigest()


def load(p: Probe) -> tuple[str, list[str]] | None:
    """The output and warnings stored for the probed state, or None (a miss)."""
    key = _key(p, p.refs, p.head)
    try:
        data = _path(p, key).read_bytes()
    except OSError:
        return None
    head, _, rest = data.partition(b"\n")
    try:
        key_len, warn_len = (int(x) for x in head.split(b" "))
    except ValueError:
        return None
    if rest[:key_len] != key:
        return None  # a hash collision or a damaged entry: never trust the name alone
    warnings = rest[key_len : key_len + warn_len].decode()
    text = rest[key_len + warn_len :].decode()
    return text, warnings.split("\n") if warnings else []


def save(p: Probe, refs: bytes, head: str | None, text: str, warnings: list[str]) -> bool:
    """Store ``text`` under the state the computation read (``refs``, ``head``), if
    ``.gto`` did not change meanwhile; False when not stored. Never raises on I/O."""
    if head is None or (p.gto, p.gto_stat) != _read_gto(p.root):
        return False
    key = _key(p, refs, head)
    warn = "\n".join(warnings).encode()
    body = b"%d %d\n" % (len(key), len(warn)) + key + warn + text.encode()
    try:
        p.directory.mkdir(exist_ok=True)
        # a name of our own (not tempfile: a hit must not pay for importing it)
        tmp = p.directory / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(tmp, _path(p, key))
        _prune(p.directory)
    except OSError:
        return False
    return True


def _prune(directory: Path) -> None:
    entries = []
    for path in directory.iterdir():
        try:
            entries.append((path.stat().st_mtime_ns, path))
        except FileNotFoundError:
            continue  # pruned by a concurrent reader
    for _, path in sorted(entries, reverse=True)[KEEP:]:
        path.unlink(missing_ok=True)

"""A cache of registry reads (``release show --json``), keyed by the exact state read.

What ``show --json`` prints is a function of: the tags (each ref's name and object name:
a tag object's name fixes its target, tagger and message, and commits and blobs are
immutable by name), HEAD's commit (declarations are read at HEAD, by its object name),
the bytes of ``.gto`` (read from the work tree), the command's arguments and this code.
The key is all of them, so a hit costs one ``git rev-parse`` and one ``git for-each-ref``
that reads no object, run side by side, instead of reading every tag, commit and index
file.

Exact under concurrent writers: an entry is stored under the refs and HEAD that the
computation itself read (``state.refs`` from its own scan, ``state.head`` from its own
read of HEAD, whose files it then reads by that commit's name), never under a listing
taken before or after it; ``.gto`` must be byte- and stat-identical before and after.
Each entry holds its whole key, compared byte for byte on a hit (not only its hash).
Entries live in the git directory (``release-cache/``), are written atomically (a
rename) and at most :data:`KEEP` are kept. Repositories with ``refs/replace`` (objects
replaced by name) are not cached. ``RELEASE_NO_CACHE=1`` turns the cache off.

Start-up matters here more than anywhere: :mod:`release.entry` answers a hit from this
module before click is imported. So it imports only ``os`` and a SHA-256, and
starts its two git processes with ``os.posix_spawnp`` rather than :mod:`release.gitcmd`
(whose ``subprocess`` and ``logging`` imports cost more than the hit itself). Any failure
of those two reads is a plain miss: the caller computes and reports through gitcmd.
"""

from __future__ import annotations

import os

import release

try:  # CPython's own SHA-256: importing hashlib loads OpenSSL first, 2-3 ms of a hit
    from _sha2 import sha256  # Python 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:
        from hashlib import sha256

KEEP = 8  # entries kept per repository (bounded disk: one entry per recent state)
DIRNAME = "release-cache"
_LISTING = ("for-each-ref", "--format=%(objectname) %(refname)", "refs/tags", "refs/replace")
_WHERE = ("rev-parse", "--show-toplevel", "--git-common-dir", "HEAD^{commit}")
_GTO = ".gto"
_HERE = os.path.dirname(os.path.abspath(__file__))
# Modules outside this folder whose code shapes the output (tag grammar, object parsing).
_ALSO = ("grammar.py", "gitcmd.py")
# gitcmd's environment: messages and output do not change with the user's locale.
_GIT_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


class Probe:
    """The key parts read before computing: where, what, HEAD, ``.gto`` and the tags."""

    __slots__ = ("args", "directory", "gto", "gto_stat", "head", "refs", "root")

    def __init__(
        self,
        root: str,
        directory: str,
        args: tuple[str, ...],
        head: str,
        gto: bytes,
        gto_stat: tuple[int, ...],
        refs: bytes,
    ) -> None:
        self.root = root
        self.directory = directory
        self.args = args
        self.head = head
        self.gto = gto
        self.gto_stat = gto_stat
        self.refs = refs


# The console entry's probe of a miss, handed to the CLI it falls back to (one process,
# one command: probing twice would cost a miss two more git processes).
_handed: dict[tuple[str, tuple[str, ...]], Probe] = {}


def enabled() -> bool:
    """False when ``RELEASE_NO_CACHE`` is set to anything but empty or 0."""
    return os.environ.get("RELEASE_NO_CACHE", "") in ("", "0")


def show_args(name: str | None, deprecated: bool) -> tuple[str, ...]:
    """The arguments part of the key of ``show [NAME] [--deprecated] --json``."""
    return ("show", name or "", "deprecated" if deprecated else "")


def _code_stamp() -> bytes:
    # Invalidate on any change of the code that computes the output (an edited checkout
    # too): this folder's modules and the few outside it, by name, mtime and size.
    stats = []
    for entry in os.scandir(_HERE):
        if entry.name.endswith(".py"):
            st = entry.stat()
            stats.append((entry.name, st.st_mtime_ns, st.st_size))
    for name in _ALSO:
        st = os.stat(os.path.join(os.path.dirname(_HERE), name))
        stats.append((name, st.st_mtime_ns, st.st_size))
    return f"{release.__version__}|{sorted(stats)}".encode()


def _read_gto(root: str) -> tuple[bytes, tuple[int, ...]]:
    path = os.path.join(root, _GTO)
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return b"\0missing", ()
    return data, (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _spawn(repo: str, *args: str) -> tuple[int, int]:
    """Start ``git -C repo ARGS``: its pid and the read end of its stdout."""
    read, write = os.pipe()  # not inheritable: the child holds only its own stdout
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, write, 1),
        (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),  # a miss says nothing
    ]
    try:
        argv = ["git", "-C", repo, *args]
        pid = os.posix_spawnp("git", argv, {**os.environ, **_GIT_ENV}, file_actions=actions)
    except BaseException:
        os.close(read)
        raise
    finally:
        os.close(write)
    return pid, read


def _collect(pid: int, fd: int) -> bytes | None:
    """The stdout of a :func:`_spawn`-ed git, or None when it failed."""
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return b"".join(chunks) if os.waitstatus_to_exitcode(status) == 0 else None


def _git_both(repo: str) -> tuple[bytes | None, bytes | None]:
    """The tag listing and ``rev-parse`` lines, read side by side (None: git failed)."""
    if not hasattr(os, "posix_spawnp"):  # not POSIX (Windows): the slower, portable way
        return _git_both_subprocess(repo)
    try:
        listing = _spawn(repo, *_LISTING)
    except OSError:
        return None, None  # no git on PATH: the computation says so properly
    try:
        where = _spawn(repo, *_WHERE)
    except OSError:
        _collect(*listing)
        return None, None
    refs = _collect(*listing)  # the long one first; rev-parse's lines fit in its pipe
    return refs, _collect(*where)


def _git_both_subprocess(repo: str) -> tuple[bytes | None, bytes | None]:
    import subprocess

    env = {**os.environ, **_GIT_ENV}
    pipe, null = subprocess.PIPE, subprocess.DEVNULL
    try:
        procs = [
            subprocess.Popen(["git", "-C", repo, *a], stdout=pipe, stderr=null, env=env)
            for a in (_LISTING, _WHERE)
        ]
    except OSError:
        return None, None
    outs = [(p.communicate()[0], p.returncode) for p in procs]
    listing, where = (out if code == 0 else None for out, code in outs)
    return listing, where


def probe(repo: str | os.PathLike[str], args: tuple[str, ...]) -> Probe | None:
    """The current key of ``args`` in ``repo``; None when it cannot be cached (no commits,
    replaced objects, not a repository: the caller computes and reports as usual)."""
    if not enabled():
        return None
    handed = _handed.pop((os.path.abspath(repo), args), None)
    if handed is not None:
        return handed
    refs, where = _git_both(os.fspath(repo))
    if refs is None or where is None or b" refs/replace/" in refs:
        return None
    lines = where.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 3:
        return None
    root = lines[0]
    common = lines[1] if os.path.isabs(lines[1]) else os.path.join(root, lines[1])
    gto, gto_stat = _read_gto(root)
    return Probe(root, os.path.join(common, DIRNAME), args, lines[2], gto, gto_stat, refs)


def hand_over(repo: str | os.PathLike[str], p: Probe) -> None:
    """Keep the probe of a miss for the next :func:`probe` of the same ``repo`` and args
    in this process (the console entry falling back to the CLI)."""
    _handed.clear()
    _handed[(os.path.abspath(repo), p.args)] = p


def forget() -> None:
    """Drop a handed-over probe that was not used (an in-process caller runs again)."""
    _handed.clear()


def _key(p: Probe, refs: bytes, head: str) -> bytes:
    parts = [b"release-cache/1", _code_stamp(), "\0".join(p.args).encode(), head.encode()]
    return b"\n".join([*parts, sha256(p.gto).hexdigest().encode(), refs])


def _path(p: Probe, key: bytes) -> str:
    return os.path.join(p.directory, sha256(key).hexdigest())


def _entry(p: Probe) -> tuple[bytes, int, int] | None:
    """The stored entry of the probed state: its bytes and where its warnings and its text
    start; None on a miss or a damaged entry. One read, no copy of the text."""
    key = _key(p, p.refs, p.head)
    try:
        with open(_path(p, key), "rb") as f:
            data = f.read()
    except OSError:
        return None
    nl = data.find(b"\n")
    try:
        key_len, warn_len = (int(x) for x in data[: max(nl, 0)].split(b" "))
    except ValueError:
        return None
    if key_len != len(key) or not data.startswith(key, nl + 1):
        return None  # a hash collision or a damaged entry: never trust the name alone
    warn_at = nl + 1 + key_len
    return data, warn_at, warn_at + warn_len


def load(p: Probe) -> tuple[str, list[str]] | None:
    """The output and warnings stored for the probed state, or None (a miss)."""
    entry = _entry(p)
    if entry is None:
        return None
    data, warn_at, text_at = entry
    try:
        warnings = data[warn_at:text_at].decode()
        text = data[text_at:].decode()
    except UnicodeDecodeError:
        return None  # damaged
    return text, warnings.split("\n") if warnings else []


def load_plain(p: Probe) -> tuple[memoryview, list[str]] | None:
    """:func:`load` for printing as bytes: the text uncopied, only when the whole entry is
    plain ASCII without escape sequences (then every stream prints it as these bytes and
    click strips nothing from it); None otherwise, or on a miss."""
    entry = _entry(p)
    if entry is None:
        return None
    data, warn_at, text_at = entry
    if not data.isascii() or b"\x1b" in data:
        return None
    warnings = data[warn_at:text_at].decode("ascii")
    return memoryview(data)[text_at:], warnings.split("\n") if warnings else []


def save(p: Probe, refs: bytes, head: str | None, text: str, warnings: list[str]) -> bool:
    """Store ``text`` under the state the computation read (``refs``, ``head``), if
    ``.gto`` did not change meanwhile; False when not stored. Never raises on I/O."""
    if head is None or (p.gto, p.gto_stat) != _read_gto(p.root):
        return False
    key = _key(p, refs, head)
    warn = "\n".join(warnings).encode()
    body = b"%d %d\n" % (len(key), len(warn)) + key + warn + text.encode()
    try:
        os.makedirs(p.directory, exist_ok=True)
        # a name of our own (not tempfile: a hit must not pay for importing it)
        tmp = os.path.join(p.directory, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
        os.replace(tmp, _path(p, key))
        _prune(p.directory)
    except OSError:
        return False
    return True


def _prune(directory: str) -> None:
    entries = []
    for entry in os.scandir(directory):
        try:
            entries.append((entry.stat().st_mtime_ns, entry.path))
        except FileNotFoundError:
            continue  # pruned by a concurrent reader
    for _, path in sorted(entries, reverse=True)[KEEP:]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue  # a concurrent reader pruned it first

"""The one way ``release`` runs git: argument lists, timeouts, git's own error text.

Every caller (registry, serve, deploy, card, verify, monitor) goes through :func:`run`;
nothing runs through a shell. Values that reach git are validated here (revisions and
paths never start with ``-`` nor hold NUL or newlines) or passed after
``--end-of-options``. A failure raises :class:`GitError` carrying the last line git
printed on stderr, so a user sees git's reason, never an empty one.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
from pathlib import Path

from release.errors import RegistryError

# C locale: messages callers match (``already exists``) do not change with the user's.
_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
TIMEOUT = 120.0  # seconds: local commands finish in milliseconds; network ones may not
log = logging.getLogger("release.git")


class GitError(RegistryError):
    """git failed, was not found, or took too long (the registry is git, hence the base)."""


def _reason(stderr: bytes, code: int | str) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit code {code}"


def _argv(repo: str | os.PathLike[str], args: tuple[str, ...]) -> list[str]:
    return ["git", "-C", str(repo), *args]


def run(
    repo: str | os.PathLike[str],
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C repo ARGS``; raise GitError (with git's stderr) on failure when ``check``."""
    full_env = {**os.environ, **_ENV, **(env or {})}
    log.debug("git -C %s %s", repo, " ".join(args)[:200])  # release -v shows every git call
    try:
        proc = subprocess.run(
            _argv(repo, args),
            input=input,
            capture_output=True,
            env=full_env,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed", "install git and put it on PATH") from None
    except subprocess.TimeoutExpired:
        raise GitError(
            f"git {args[0] if args else ''} did not finish within {timeout:g} s",
            "check the repository and the network",
        ) from None
    if check and proc.returncode != 0:
        raise GitError(
            f"git {args[0] if args else ''} failed: {_reason(proc.stderr, proc.returncode)}",
            "check the repository and the arguments",
        )
    return proc


def start(repo: str | os.PathLike[str], *args: str) -> subprocess.Popen[bytes]:
    """Start ``git -C repo ARGS`` in the background (collect with :func:`finish`)."""
    try:
        return subprocess.Popen(
            _argv(repo, args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **_ENV},
        )
    except FileNotFoundError:
        raise GitError("git is not installed", "install git and put it on PATH") from None


def finish(proc: subprocess.Popen[bytes], timeout: float | None = TIMEOUT) -> bytes:
    """Wait for a :func:`start`-ed git; its stdout, or GitError on failure."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise GitError(f"git did not finish within {timeout:g} s", "check the repository") from None
    if proc.returncode != 0:
        raise GitError(f"git failed: {_reason(err, proc.returncode)}", "check the repository")
    return out


def output(repo: str | os.PathLike[str], *args: str, timeout: float | None = TIMEOUT) -> str:
    """stdout of ``git ARGS`` as stripped text; GitError on failure."""
    return run(repo, *args, timeout=timeout).stdout.decode("utf-8", "replace").strip()


def try_output(repo: str | os.PathLike[str], *args: str) -> str | None:
    """stdout of ``git ARGS`` as stripped text, or None when git exits non-zero or is absent."""
    try:
        proc = run(repo, *args, check=False)
    except GitError:
        return None
    return proc.stdout.decode("utf-8", "replace").strip() if proc.returncode == 0 else None


def _check_value(value: str, what: str) -> str:
    if not value or value.startswith("-") or any(c in value for c in "\0\n\r"):
        raise GitError(f"invalid {what} {value!r}", f"give a plain {what}")
    return value


def show(repo: str | os.PathLike[str], rev: str, path: str) -> bytes | None:
    """The bytes of file ``path`` at revision ``rev`` (from git objects), None when absent."""
    spec = f"{_check_value(rev, 'revision')}:{_check_value(path, 'path')}"
    obj = read_objects(repo, [spec])[0]
    return obj[2] if obj is not None and obj[1] == "blob" else None


def rev_parse(repo: str | os.PathLike[str], rev: str) -> str | None:
    """The commit hexsha ``rev`` names, or None when it names no commit."""
    _check_value(rev, "revision")
    proc = run(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{rev}^{{commit}}",
        check=False,
    )
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def for_each_ref(repo: str | os.PathLike[str], fmt: str, *patterns: str) -> bytes:
    """Raw ``git for-each-ref --format=FMT PATTERNS`` output (the registry's fast path)."""
    for pattern in patterns:
        _check_value(pattern, "ref pattern")
    return run(repo, "for-each-ref", f"--format={fmt}", *patterns).stdout


def probe(repo: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """The work tree root of ``repo`` and its HEAD commit (None before the first commit).

    One git process; GitError when ``repo`` is not a git repository.
    """
    if not Path(repo).is_dir():
        raise GitError(f"{repo} is not a directory", "pass the path of a git repository")
    proc = run(repo, "rev-parse", "--show-toplevel", "HEAD^{commit}", check=False)
    lines = proc.stdout.decode().splitlines()
    if proc.returncode == 0 and len(lines) == 2:
        return Path(lines[0]), lines[1]
    if lines and Path(lines[0]).is_absolute():
        return Path(lines[0]), None  # a repository without commits
    proc_git = run(repo, "rev-parse", "--git-dir", check=False)
    if proc_git.returncode == 0:  # a bare repository: tags live there, no work tree
        return Path(repo).resolve(), head(repo)
    raise GitError(
        f"{Path(repo).resolve()} is not a git repository",
        "run inside a git repository (git init) or pass --repo",
    )


@functools.lru_cache(maxsize=64)
def _toplevel(path: str) -> Path:
    return probe(path)[0]


def toplevel(repo: str | os.PathLike[str]) -> Path:
    """The work tree root of ``repo`` (cached: it never changes); GitError if none."""
    return _toplevel(os.path.abspath(repo))


def head(repo: str | os.PathLike[str]) -> str | None:
    """HEAD's commit, or None (no commits yet)."""
    proc = run(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def has_commits(repo: str | os.PathLike[str]) -> bool:
    """True when HEAD points at a commit."""
    return run(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0


def resolve_commit(repo: str | os.PathLike[str], ref: str) -> str:
    """The commit hexsha ``ref`` names; GitError when it does not resolve."""
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise GitError(f"invalid ref {ref!r}", "give a commit, branch or tag")
    commit = rev_parse(repo, ref)
    if commit is None:
        if ref == "HEAD" and not has_commits(repo):
            raise GitError("the repository has no commits", "commit something first (git commit)")
        raise GitError(
            f"ref {ref!r} does not resolve to a commit", "give an existing commit, branch or tag"
        )
    return commit


def read_objects(
    repo: str | os.PathLike[str], specs: list[str]
) -> list[tuple[str, str, bytes] | None]:
    """``(hexsha, type, content)`` of objects such as ``COMMIT:path``, None when missing.

    One ``git cat-file --batch`` for all specs; the working tree is never read.
    """
    if not specs:
        return []
    for spec in specs:
        if "\n" in spec or "\0" in spec:
            raise GitError(f"invalid object name {spec!r}", "report this as a bug")
    proc = run(repo, "cat-file", "--batch", input=("\n".join(specs) + "\n").encode())
    out = proc.stdout
    results: list[tuple[str, str, bytes] | None] = []
    pos = 0
    for _ in specs:
        end = out.index(b"\n", pos)
        header = out[pos:end].split(b" ")
        pos = end + 1
        if len(header) == 3:
            size = int(header[2])
            results.append((header[0].decode(), header[1].decode(), out[pos : pos + size]))
            pos += size + 1
        else:  # "<spec> missing" / "ambiguous"
            results.append(None)
    return results


def read_blobs(repo: str | os.PathLike[str], specs: list[str]) -> list[bytes | None]:
    """Contents of files ``COMMIT:path`` from git objects; None when missing."""
    return [
        obj[2] if obj is not None and obj[1] == "blob" else None
        for obj in read_objects(repo, specs)
    ]

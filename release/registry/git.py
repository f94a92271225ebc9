"""Running git: one helper, argument lists only, errors turned into RegistryError.

Every value that reaches git here was validated by :mod:`release.registry.grammar` or is a
hexsha/ref checked with ``--end-of-options``; nothing runs through a shell.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from release.errors import RegistryError

_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


def start(repo: str | os.PathLike[str], *args: str) -> subprocess.Popen[bytes]:
    """Start ``git -C repo ARGS`` in the background (collect with :func:`finish`)."""
    return subprocess.Popen(
        ["git", "-C", str(repo), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **_ENV},
    )


def finish(proc: subprocess.Popen[bytes]) -> bytes:
    """Wait for a :func:`start`-ed git; its stdout, or RegistryError on failure."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        raise RegistryError(
            f"git failed: {lines[-1] if lines else proc.returncode}", "check the repository"
        )
    return out


def run(
    repo: str | os.PathLike[str],
    *args: str,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C repo ARGS``; raise RegistryError on failure when ``check``."""
    full_env = {**os.environ, **_ENV, **(env or {})}
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=input,
            capture_output=True,
            env=full_env,
            check=False,
        )
    except FileNotFoundError:
        raise RegistryError("git is not installed", "install git and put it on PATH") from None
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RegistryError(
            f"git {args[0]} failed: {message[-1] if message else proc.returncode}",
            "check the repository and the arguments",
        )
    return proc


def probe(repo: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """The work tree root of ``repo`` and its HEAD commit (None before the first commit).

    One git process; RegistryError when ``repo`` is not a git repository.
    """
    if not Path(repo).is_dir():
        raise RegistryError(f"{repo} is not a directory", "pass the path of a git repository")
    proc = run(repo, "rev-parse", "--show-toplevel", "HEAD^{commit}", check=False)
    lines = proc.stdout.decode().splitlines()
    if proc.returncode == 0 and len(lines) == 2:
        return Path(lines[0]), lines[1]
    if lines and Path(lines[0]).is_absolute():
        return Path(lines[0]), None  # a repository without commits
    proc_git = run(repo, "rev-parse", "--git-dir", check=False)
    if proc_git.returncode == 0:  # a bare repository: tags live there, no work tree
        return Path(repo).resolve(), resolve_commit_or_none(repo)
    raise RegistryError(
        f"{Path(repo).resolve()} is not a git repository",
        "run inside a git repository (git init) or pass --repo",
    )


@functools.lru_cache(maxsize=64)
def _toplevel(path: str) -> Path:
    return probe(path)[0]


def toplevel(repo: str | os.PathLike[str]) -> Path:
    """The work tree root of ``repo`` (cached: it never changes); RegistryError if none."""
    return _toplevel(os.path.abspath(repo))


def resolve_commit_or_none(repo: str | os.PathLike[str]) -> str | None:
    """HEAD's commit, or None."""
    proc = run(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def resolve_commit(repo: str | os.PathLike[str], ref: str) -> str:
    """The commit hexsha ``ref`` names; RegistryError when it does not resolve."""
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise RegistryError(f"invalid ref {ref!r}", "give a commit, branch or tag")
    proc = run(
        repo,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{ref}^{{commit}}",
        check=False,
    )
    if proc.returncode != 0:
        if ref == "HEAD" and not has_commits(repo):
            raise RegistryError(
                "the repository has no commits", "commit something first (git commit)"
            )
        raise RegistryError(
            f"ref {ref!r} does not resolve to a commit", "give an existing commit, branch or tag"
        )
    return proc.stdout.decode().strip()


def has_commits(repo: str | os.PathLike[str]) -> bool:
    """True when HEAD points at a commit."""
    return run(repo, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0


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
            raise RegistryError(f"invalid object name {spec!r}", "report this as a bug")
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

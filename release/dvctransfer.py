"""Moving DVC data: fetch into the cache, pull into a working tree, push to a remote.

Every call runs through :class:`dvc.repo.Repo` with each local-folder remote given as an
absolute path (DVC resolves a committed relative remote against the filesystem root when
it reads a past revision's config), inside the repository (DVC resolves targets against
the working directory), and with the remote named explicitly (for a past revision DVC
would read that revision's default remote, which may be none, and then do nothing). A
failure raises :class:`DvcError` with DVC's own message: its exception and the warnings
it logged (a missing file is only a warning to DVC), never an empty cause.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from release.dvcconfig import DvcError, absolute_remotes, clean, default_remote

_MAX_MESSAGE = 600
ORIGIN_CACHE_REMOTE = "release-origin-cache"


@contextlib.contextmanager
def _messages() -> Iterator[list[str]]:
    """Collect what DVC logs at WARNING and above (it often explains the exception)."""
    lines: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                lines.append(clean(record.getMessage()))

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
    parts = [*logged, clean(str(exc)) or type(exc).__name__]
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

"""DVC's settings of a repository, read and written through DVC's own config API.

:class:`dvc.config.Config` reads every level (system, global, repo, local), DVC's section
format (``['remote "x"']``, which configparser misreads) and resolves relative paths
against the config file, as ``dvc`` does. Nothing here parses a config file by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from release.errors import DataError

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DvcError(DataError):
    """DVC could not read, fetch or push data; the message is DVC's own."""


def clean(text: str) -> str:
    """DVC's text on one line, without terminal colours."""
    return " ".join(_ANSI.sub("", text).split())


def config(repo: str | Path) -> Any:
    """DVC's merged config of ``repo`` (all levels, paths resolved as DVC resolves them)."""
    from dvc.config import Config

    try:
        return Config(dvc_dir=str(Path(repo).resolve() / ".dvc"))
    except Exception as exc:  # ConfigError and the schema's own errors
        raise DvcError(
            f"DVC config of {repo} is invalid: {clean(str(exc))}", "dvc config -l"
        ) from None


def cache_dir(repo: str | Path) -> Path:
    """The DVC cache directory: ``cache.dir`` from DVC's config, else ``.dvc/cache``."""
    configured = config(repo)["cache"].get("dir")
    return Path(configured) if configured else Path(repo).resolve() / ".dvc" / "cache"


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

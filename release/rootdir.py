"""Find the project root from any subfolder, as git and DVC do.

The project root is the nearest folder, from the working directory up to the git
repository's top, that holds ``params.yaml``. Commands run there, so the pipeline's
relative paths (``data/prepared/...``, ``models/...``) mean the same from any subfolder,
while the paths a user types are still read from where they typed them.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from release.paths import PARAMS

_WRAPPED = "__release_at_root__"
log = logging.getLogger("release")
USER_SOURCES = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


def find_root(start: str | os.PathLike[str] = ".") -> Path | None:
    """The nearest folder from ``start`` up to its git top that holds params.yaml, if any."""
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / PARAMS).is_file():
            return folder
        if (folder / ".git").exists():
            return None  # the repository's top: never read another project's settings
    return None


def _absolute(ctx: click.Context, kwargs: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """The user's relative click.Path values made absolute from the folder they typed in."""
    out = dict(kwargs)
    for param in ctx.command.params:
        name = param.name
        if name is None or name not in out or not isinstance(param.type, click.Path):
            continue
        if ctx.get_parameter_source(name) not in USER_SOURCES:
            continue  # a default is relative to the project root, where it is meant
        value = out[name]
        if isinstance(value, (str, os.PathLike)) and not os.path.isabs(value):
            out[name] = str(cwd / value)
        elif isinstance(value, tuple):
            out[name] = tuple(v if os.path.isabs(v) else str(cwd / v) for v in value)
    return out


def at_root(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command's callback to run in the project root (if found above the cwd)."""
    if getattr(callback, _WRAPPED, False):
        return callback

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        cwd = Path.cwd()
        root = find_root(cwd)
        if root is None or root == cwd:
            return callback(*args, **kwargs)
        ctx = click.get_current_context()
        kwargs = _absolute(ctx, kwargs, cwd)
        log.debug("project root: %s", root)
        os.chdir(root)
        try:
            return callback(*args, **kwargs)
        finally:
            os.chdir(cwd)  # in-process callers (tests, scripts) keep their folder

    setattr(run, _WRAPPED, True)
    return run


def run_at_root(command: click.Command) -> click.Command:
    """Make every leaf command under ``command`` run at the project root."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            run_at_root(sub)
    elif command.callback is not None:
        command.callback = at_root(command.callback)
    return command

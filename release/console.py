"""Small helpers shared by every command: common options and output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def params_option(func: F) -> F:
    """``--params PATH``: the settings file (default ``params.yaml``)."""
    return click.option(
        "--params",
        "params_path",
        default="params.yaml",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="Settings file.",
    )(func)


def json_option(func: F) -> F:
    """``--json``: print a machine-readable result instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(func)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    from release.fsio import dumps_json

    click.echo(dumps_json(obj), nl=False)


def is_interactive() -> bool:
    """True on a terminal outside CI: show progress; otherwise stay quiet."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress(message: str) -> None:
    """A progress line on stderr, only on an interactive terminal."""
    if is_interactive():
        click.echo(message, err=True)


def dumps(obj: Any) -> str:
    """Compact JSON for one-line messages."""
    return json.dumps(obj, default=str)

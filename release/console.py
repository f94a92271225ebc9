"""Small helpers shared by every command: common options, output, logging and progress.

Each common option is defined once here, with one name, one type and one ``RELEASE_*``
environment variable, so ``--repo`` means the same thing on every command.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

log = logging.getLogger("release")

# The environment variables of the common options (documented in `release --help`).
ENVVARS: dict[str, str] = {
    "--repo": "RELEASE_REPO",
    "--params": "RELEASE_PARAMS",
    "--json": "RELEASE_JSON",
    "--templates": "RELEASE_TEMPLATES",
    "--stage": "RELEASE_STAGE",
    "--verbose": "RELEASE_VERBOSE",
    "--quiet": "RELEASE_QUIET",
    "--debug": "RELEASE_DEBUG",
}


class _State:
    """What the top-level options asked for, read by the error printer in ``release.cli``."""

    json = False


STATE = _State()


def _remember_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        STATE.json = True  # errors after this point print as one JSON object
    return value


def params_option(func: F) -> F:
    """``--params PATH``: the settings file (default ``params.yaml``)."""
    return click.option(
        "--params",
        "params_path",
        default="params.yaml",
        show_default=True,
        envvar=ENVVARS["--params"],
        type=click.Path(dir_okay=False),
        help="Settings file.",
    )(func)


def optional_params_option(func: F) -> F:
    """``--params PATH`` with no default: the command falls back to the repository's."""
    return click.option(
        "--params",
        "params",
        default=None,
        envvar=ENVVARS["--params"],
        type=click.Path(dir_okay=False),
        help="Settings file (default: params.yaml at the repository root, if present).",
    )(func)


def repo_option(help: str = "Git repository of the registry.") -> Callable[[F], F]:
    """``--repo DIR``: the git repository (default ``.``), always a directory."""
    return click.option(
        "--repo",
        default=".",
        show_default=True,
        envvar=ENVVARS["--repo"],
        type=click.Path(file_okay=False),
        help=help,
    )


def json_option(func: F) -> F:
    """``--json``: print a machine-readable result (and errors) instead of text."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        envvar=ENVVARS["--json"],
        callback=_remember_json,
        help="Print JSON for machines (errors too: one JSON line on stderr).",
    )(func)


def templates_option(func: F) -> F:
    """``--templates DIR``: your own template folder (``--template-dir`` is deprecated)."""
    func = click.option(
        "--templates",
        "templates",
        envvar=ENVVARS["--templates"],
        type=click.Path(file_okay=False),
        help="Your own template folder.",
    )(func)
    return click.option(
        "--template-dir",
        "template_dir_old",
        type=click.Path(file_okay=False),
        hidden=True,
        expose_value=True,
        help="Deprecated spelling of --templates.",
    )(func)


def pick_templates(templates: str | None, old: str | None) -> str | None:
    """The template folder from ``--templates`` or its deprecated ``--template-dir``."""
    if old is not None:
        log.warning("--template-dir is deprecated; use --templates")
    return templates if templates is not None else old


def emit_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    from release.fsio import dumps_json

    click.echo(dumps_json(obj), nl=False)


def is_interactive() -> bool:
    """True on a terminal outside CI: show progress; otherwise stay quiet."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class _StderrHandler(logging.Handler):
    """Log records as plain lines on the current stderr (click's, so tests capture it)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = self.format(record)
        if record.levelno >= logging.WARNING and not message.startswith(("Warning", "Error")):
            message = f"{record.levelname.capitalize()}: {message}"
        click.echo(message, err=True)


def setup_logging(verbose: bool, quiet: bool) -> None:
    """``-v`` DEBUG, ``-q`` errors only; otherwise INFO on a terminal, warnings elsewhere."""
    if verbose:
        level = logging.DEBUG
    elif quiet:
        level = logging.ERROR
    else:
        level = logging.INFO if is_interactive() else logging.WARNING
    log.handlers[:] = [_StderrHandler()]
    log.setLevel(level)
    log.propagate = False


def quiet() -> bool:
    """True under ``-q``: status displays (a rollout's step lines) should print nothing."""
    return not log.isEnabledFor(logging.WARNING)


def progress(message: str) -> None:
    """A status line: a log record at INFO (shown on a terminal, with ``-v``, not ``-q``)."""
    log.info(message)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on a terminal, or INFO lines elsewhere.

    Long work (rollout steps, replay, verify, site build) wraps its loop in this; the bar
    is rich's, drawn on stderr only when stderr is a terminal and INFO is shown.
    """
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if not (is_interactive() and log.isEnabledFor(logging.INFO)):
        every = max(1, (total or 0) // 10)  # about ten lines, not one per item
        for n, item in enumerate(items, 1):
            if n % every == 0 or n == total:
                log.info("%s: %d%s", description, n, f"/{total}" if total else "")
            yield item
        return
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    if not console.is_terminal:  # e.g. TERM=dumb or a pipe rich detects: plain lines
        yield from items
        return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """Long work without steps: rich's spinner on a terminal, one INFO line elsewhere."""
    if not (is_interactive() and log.isEnabledFor(logging.INFO)):
        log.info(message)
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(message):
        yield


def dumps(obj: Any) -> str:
    """Compact JSON for one-line messages."""
    return json.dumps(obj, default=str)

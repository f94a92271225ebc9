"""The ``release`` command line: a thin Click layer over the package's functions.

Commands are imported lazily (``release --help`` must not pay for pandas, sklearn or
dvc), each by a small loader function below with a plain import statement, so tools
(and readers) can follow every dependency. A :class:`~release.errors.ReleaseError`
becomes one line ``Error: <what> (<how to fix>)`` and its exit code, or one JSON line
on stderr under ``--json``; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from release import __version__
from release.console import ENVVARS, STATE, setup_logging
from release.errors import ReleaseError, error_json
from release.rootdir import run_at_root


# One loader per module that owns commands: a plain import, run only when needed.
def _data() -> dict[str, click.Command]:
    from release.data import commands

    return {"data": commands.data}


def _model() -> dict[str, click.Command]:
    from release.model import commands

    return {"train": commands.train, "evaluate": commands.evaluate}


def _card() -> dict[str, click.Command]:
    from release.card import commands

    return {"card": commands.card}


def _show() -> dict[str, click.Command]:
    # A light module: a cached read imports none of the registry's writes.
    from release.registry import show_command

    return {"show": show_command.show}


def _registry() -> dict[str, click.Command]:
    from release.registry import commands

    return {
        "history": commands.history,
        "check-ref": commands.check_ref,
        "stages": commands.stages,
        "register": commands.register,
        "promote": commands.promote,
        "assign": commands.assign,
        "rollback": commands.rollback,
        "deprecate": commands.deprecate,
    }


def _serve() -> dict[str, click.Command]:
    from release.serve import commands

    return {"serve": commands.serve}


def _fetch_model() -> dict[str, click.Command]:
    from release import fetch_model

    return {"fetch-model": fetch_model.fetch_model_command}


def _deploy() -> dict[str, click.Command]:
    from release.deploy import commands

    return {"deploy": commands.deploy, "deployments": commands.deployments}


def _check() -> dict[str, click.Command]:
    from release.deploy import smoke_command

    return {"check": smoke_command.check}


def _monitor() -> dict[str, click.Command]:
    from release.monitor import commands

    return {"monitor": commands.monitor}


def _verify() -> dict[str, click.Command]:
    from release import verify

    return {"verify": verify.verify_command}


def _init() -> dict[str, click.Command]:
    from release.scaffold import commands

    return {"init": commands.init}


def _doctor() -> dict[str, click.Command]:
    from release import doctor

    return {"doctor": doctor.doctor_command}


def _site() -> dict[str, click.Command]:
    from release.site import commands

    return {"site": commands.site, "ui": commands.ui}


Loader = Callable[[], dict[str, click.Command]]

# command name -> (loader, one-line help). The help is here so `release --help` imports
# no part of the system.
COMMANDS: dict[str, tuple[Loader, str]] = {
    "data": (_data, "Prepare, validate and generate data (provenance, quality rules)."),
    "train": (_model, "Train the scikit-learn pipeline from params.yaml; save it with skops."),
    "evaluate": (_model, "Measure the model: metrics, intervals, slices, HLP, explanations."),
    "card": (_card, "Build, check and diff model cards."),
    "show": (_show, "Show the registry: versions and stages (as `gto show`)."),
    "history": (_registry, "Show the registry's history of events (as `gto history`)."),
    "check-ref": (_registry, "Parse a GTO tag name (as `gto check-ref`)."),
    "stages": (_registry, "List the stages in promotion order."),
    "register": (_registry, "Register a model version as a GTO tag."),
    "promote": (_registry, "Assign a stage to a version, after the policy gates pass."),
    "assign": (_registry, "Alias of promote."),
    "rollback": (_registry, "Assign a stage back to its previous version."),
    "deprecate": (_registry, "Unassign a stage, deregister a version or deprecate an artifact."),
    "serve": (_serve, "Serve a model over the Open Inference Protocol (V2 REST)."),
    "deploy": (_deploy, "Deploy the version in a stage: canary, shadow, blue/green or direct."),
    "deployments": (_deploy, "Show deployment records."),
    "fetch-model": (
        _fetch_model,
        "Fetch a registered version's model file, hash-checked, into a folder.",
    ),
    "check": (_check, "Check a running model server (smoke: requests from its own metadata)."),
    "monitor": (_monitor, "Data drift, data quality and golden signals of production."),
    "verify": (_verify, "Reproduce a registered version and compare it with the registry."),
    "init": (
        _init,
        "Set up a project from your data (or --example loan): params, pipeline, card, CI.",
    ),
    "doctor": (
        _doctor,
        "Check tools, tags, DVC remote, settings against the data, templates and ports.",
    ),
    "site": (_site, "Build the registry's static website from git (release site build)."),
    "ui": (_site, "Serve the registry's website on 127.0.0.1, rebuilt when refs change."),
}
HELP: dict[str, str] = {name: help for name, (_, help) in COMMANDS.items()}
HERE = frozenset({"init"})  # commands that run in the current folder, not the project root

EPILOG = f"""\b
Environment variables (an option on the command line wins):
  {ENVVARS["--repo"]:<18} --repo DIR, the git repository
  {ENVVARS["--params"]:<18} --params PATH, the settings file
  {ENVVARS["--json"]:<18} --json (1/true): JSON results, and errors as JSON
  {ENVVARS["--templates"]:<18} --templates DIR, your own template folder
  {ENVVARS["--stage"]:<18} --stage STAGE of `release monitor drift`
  {ENVVARS["--verbose"]:<18} -v; {ENVVARS["--quiet"]} -q; {ENVVARS["--debug"]} --debug

\b
Settings: params.yaml is found in the current folder or the nearest parent up to the
git repository's top; commands then run there (paths you type stay relative to you).
Under --json, stdout holds only the result object; an error is one JSON object on one
line, the last of stderr, and the exit code is non-zero:
  {{"error": {{"type": "ConfigError", "message": "...", "what": "...", "fix": "...",
   "exit_code": 2}}}}
Shell completion: eval "$(_RELEASE_COMPLETE=bash_source release)" (zsh_source, fish_source).
"""


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = entry[0]()[cmd_name]
        # init makes a project where it is asked to, never in an enclosing one's root.
        return command if cmd_name in HERE else run_at_root(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every part: one line per command, from HELP.
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _truthy(envvar: str) -> bool:
    return os.environ.get(envvar, "").strip().lower() in ("1", "true", "t", "yes", "y", "on")


def _json_wanted(args: Sequence[str]) -> bool:
    # STATE.json is set once --json is parsed; the others cover errors raised earlier.
    return STATE.json or "--json" in args or _truthy(ENVVARS["--json"])


def _plain_json(kind: str, message: str, code: int) -> dict[str, Any]:
    # The same keys as errors.error_json: click's own usage errors carry no separate fix.
    return {
        "error": {"type": kind, "message": message, "what": message, "fix": None, "exit_code": code}
    }


def _fail(line: str, code: int, as_json: dict[str, Any], json_wanted: bool) -> None:
    # Under --json stdout keeps only the result (a failed check may have printed one),
    # so the error is one compact JSON object on stderr's last line.
    if json_wanted:
        click.echo(json.dumps(as_json, sort_keys=True, default=str), err=True)
    else:
        click.echo(f"Error: {line}" if line != "Aborted." else line, err=True)
    sys.exit(code)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EPILOG,
)
@click.version_option(__version__, prog_name="release")
@click.option("--debug", is_flag=True, envvar=ENVVARS["--debug"], help="Show tracebacks.")
@click.option(
    "-v", "--verbose", is_flag=True, envvar=ENVVARS["--verbose"], help="Debug log lines too."
)
@click.option(
    "-q", "--quiet", is_flag=True, envvar=ENVVARS["--quiet"], help="Only errors and results."
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: bool, quiet: bool) -> None:
    """release: a GitOps model registry and release tool."""
    if verbose and quiet:
        raise click.UsageError("-v and -q exclude each other; pass one")
    setup_logging(verbose, quiet)
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI, printing a ReleaseError as one line (JSON under
    ``--json``). In-process callers (CliRunner) get the exception itself, as before.
    The installed script is :func:`release.entry.main`: a cached ``show --json`` read,
    answered before click is imported, else this."""
    args = list(sys.argv[1:] if argv is None else argv)
    STATE.json = False
    debug = "--debug" in args or _truthy(ENVVARS["--debug"])
    try:
        rv = cli.main(args=args, prog_name="release", standalone_mode=False)
    except ReleaseError as exc:
        if debug:
            raise
        _fail(exc.one_line(), exc.exit_code, error_json(exc), _json_wanted(args))
    except click.exceptions.Abort:
        _fail("Aborted.", 130, _plain_json("Aborted", "aborted", 130), _json_wanted(args))
    except click.ClickException as exc:
        if not _json_wanted(args):
            exc.show()
            sys.exit(exc.exit_code)
        name = type(exc).__name__
        _fail("", exc.exit_code, _plain_json(name, exc.format_message(), exc.exit_code), True)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv:
        sys.exit(rv)  # ctx.exit(N) in a command: the exit code, not a return value
    return rv


if __name__ == "__main__":  # pragma: no cover
    main()

"""The ``release`` command line: a thin Click layer over the package's functions.

Commands are imported lazily (``release --help`` must not pay for pandas, sklearn or
dvc), each from the module of the part that owns it. A :class:`~release.errors.ReleaseError`
becomes one line ``Error: <what> (<how to fix>)`` and its exit code; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from release import __version__
from release.errors import ReleaseError

# command name -> "module:attribute". Each part of the system owns its module.
COMMANDS: dict[str, str] = {
    "data": "release.data.commands:data",
    "train": "release.model.commands:train",
    "evaluate": "release.model.commands:evaluate",
    "card": "release.card.commands:card",
    "show": "release.registry.show_command:show",
    "history": "release.registry.commands:history",
    "check-ref": "release.registry.commands:check_ref",
    "stages": "release.registry.commands:stages",
    "register": "release.registry.commands:register",
    "promote": "release.registry.commands:promote",
    "assign": "release.registry.commands:assign",
    "rollback": "release.registry.commands:rollback",
    "deprecate": "release.registry.commands:deprecate",
    "serve": "release.serve.commands:serve",
    "deploy": "release.deploy.commands:deploy",
    "deployments": "release.deploy.commands:deployments",
    "monitor": "release.monitor.commands:monitor",
    "verify": "release.verify:verify_command",
    "init": "release.scaffold.commands:init",
    "doctor": "release.doctor:doctor_command",
    "site": "release.site.commands:site",
    "ui": "release.site.commands:ui",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("release"):
                return None  # a part not built yet: behave as an unknown command
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help without importing every part: one line per command, from HELP.
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


HELP: dict[str, str] = {
    "data": "Prepare, validate and generate data (provenance, quality rules).",
    "train": "Train the scikit-learn pipeline from params.yaml; save it with skops.",
    "evaluate": "Measure the model: metrics, intervals, slices, HLP, explanations.",
    "card": "Build, check and diff model cards.",
    "show": "Show the registry: versions and stages (as `gto show`).",
    "history": "Show the registry's history of events (as `gto history`).",
    "check-ref": "Parse a GTO tag name (as `gto check-ref`).",
    "stages": "List the stages in promotion order.",
    "register": "Register a model version as a GTO tag.",
    "promote": "Assign a stage to a version, after the policy gates pass.",
    "assign": "Alias of promote.",
    "rollback": "Assign a stage back to its previous version.",
    "deprecate": "Unassign a stage, deregister a version or deprecate an artifact.",
    "serve": "Serve a model over the Open Inference Protocol (V2 REST).",
    "deploy": "Deploy the version in a stage: canary, shadow, blue/green or direct.",
    "deployments": "Show deployment records.",
    "monitor": "Data drift, data quality and golden signals of production.",
    "verify": "Reproduce a registered version and compare it with the registry.",
    "init": "Set up a project from your data (or --example loan): params, pipeline, card, CI.",
    "doctor": "Check tools, tags, DVC remote, settings against the data, templates and ports.",
    "site": "Build the registry's static website from git (release site build).",
    "ui": "Serve the registry's website on 127.0.0.1, rebuilt when refs change.",
}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="release")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """release: a GitOps model registry and release tool.

    Shell completion: eval "$(_RELEASE_COMPLETE=bash_source release)" (zsh_source, fish_source).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: run the CLI, turning ReleaseErrors into one-line messages."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        return cli.main(args=args, prog_name="release", standalone_mode=False)
    except ReleaseError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()

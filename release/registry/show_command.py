"""``release show``: the registry read a person or CI runs most, kept fast.

``show --json`` goes through :mod:`release.registry.readcache`: a hit imports neither the
registry's state code nor YAML, and reads no tag object (measured in ``bench/registry.py``).
From the console script a hit is answered even earlier, before click is imported
(:mod:`release.entry`); this command is what it falls back to, with the same output.
"""

from __future__ import annotations

import os

import click

from release.console import json_option, optional_params_option, repo_option
from release.registry import readcache


def show_json(
    repo: str | os.PathLike[str], name: str | None, deprecated: bool
) -> tuple[str, list[str]]:
    """What ``show [NAME] --json`` prints, and its warnings: cached, or computed and stored."""
    probe = readcache.probe(repo, readcache.show_args(name, deprecated))
    if probe is not None:
        hit = readcache.load(probe)
        if hit is not None:
            return hit
    # Imported here, not above: a cache hit must not pay for the registry's imports.
    from release.registry import reads, views

    state = reads.read_state(repo)
    text = views.dumps(reads.show(repo, name, deprecated=deprecated, state=state))
    if probe is not None:
        readcache.save(probe, state.refs, state.head, text, state.warnings)
    return text, state.warnings


@click.command()
@click.argument("name", required=False)
@repo_option("Path of the git repository.")
@json_option
@click.option("--deprecated", is_flag=True, help="Include deprecated artifacts.")
@optional_params_option
def show(name: str | None, repo: str, as_json: bool, deprecated: bool, params: str | None) -> None:
    """Show the registry (latest version and stages), or the versions of NAME."""
    if as_json:
        text, warnings = show_json(repo, name, deprecated)
        for line in warnings:
            click.echo(line, err=True)
        click.echo(text)
        return
    from release.registry import commands  # the tables need the whole registry anyway

    commands.show_table(name, repo, deprecated, params)

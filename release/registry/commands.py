"""Registry commands: parse, call :mod:`release.registry.api`, print.

``show``, ``history`` and ``check-ref`` with ``--json`` print what gto prints with
``--json``. Write commands print the tag they created. Imports stay light: no gto, dvc or
pandas here.
"""

from __future__ import annotations

from typing import Any

import click

from release import dvcstore, gitcmd
from release.console import (
    emit_json,
    json_option,
    optional_params_option,
    progress,
    repo_option,
)
from release.registry import api, views
from release.registry.write import check_remote

option_repo = repo_option("Path of the git repository.")
option_json = json_option  # reads print what gto prints; writes print one result object
option_params = optional_params_option
option_push = click.option(
    "--push",
    "push",
    is_flag=False,
    flag_value="origin",
    default=None,
    metavar="[REMOTE]",
    help="Push the new tag to REMOTE (default origin); retried on a name clash, never forced."
    " Put it last.",
)

option_sign = click.option(
    "--sign",
    is_flag=True,
    help="Write a signed tag (git tag -s: gpg.format and user.signingkey from git config).",
)


def _warn(message: str) -> None:
    click.echo(message, err=True)


def show_table(name: str | None, repo: str, deprecated: bool, params: str | None) -> None:
    """``release show`` without --json (the command is in :mod:`.show_command`)."""
    state = api.read_state(repo)
    for line in state.warnings:
        _warn(line)
    data = api.show(repo, name, deprecated=deprecated, state=state)
    if name is None:
        order = api.stages(repo, params)
        columns = order + [s for s in state.used_stages() if s not in order]
        rows = [
            [art if state.artifacts[art].registered else f"*{art}", d["version"] or "-"]
            + [state.artifacts[art].active_version(s) or "-" for s in columns]
            for art, d in sorted(data.items())
        ]
        if not rows:
            click.echo("No artifacts registered yet (release register NAME).")
            return
        click.echo(views.table(rows, ["name", "latest"] + [f"#{s}" for s in columns]))
        return
    rows = [
        [
            v["version"],
            ", ".join(s["stage"] for s in v["stages"]) or "-",
            v["created_at"],
            v["ref"],
        ]
        for v in data
    ]
    if not rows:
        click.echo(f"No active versions of {name}.")
        return
    click.echo(views.table(rows, ["version", "stage", "created_at", "ref"]))


@click.command()
@click.argument("name", required=False)
@option_repo
@option_json
@click.option("--ascending", "--asc", is_flag=True, help="Oldest first.")
def history(name: str | None, repo: str, as_json: bool, ascending: bool) -> None:
    """Show the registry's events (as gto history), newest first."""
    events = api.history(repo, name, ascending=ascending, on_warning=_warn)
    if as_json:
        click.echo(views.dumps(events))
        return
    if not events:
        click.echo("Nothing found.")
        return
    rows = [
        [
            e["timestamp"],
            e["artifact"],
            e["event"],
            e["version"] or "-",
            e["stage"] or "-",
            e["commit"][:7],
            e["ref"],
        ]
        for e in events
    ]
    click.echo(
        views.table(rows, ["timestamp", "artifact", "event", "version", "stage", "commit", "ref"])
    )


@click.command(name="check-ref")
@click.argument("ref")
@option_repo
@option_json
def check_ref(ref: str, repo: str, as_json: bool) -> None:
    """Tell what the GTO tag REF registered or assigned (as gto check-ref).

    Exits 2 with one line when REF is not a GTO tag name, does not exist, or is a
    lightweight tag (which gto ignores).
    """
    event = api.check_ref(repo, ref)
    if as_json:
        click.echo(views.dumps(event))
        return
    click.echo(_sentence(event))


def _sentence(e: dict[str, Any]) -> str:
    kind = e["event"]
    if kind == "registration":
        return f'Version "{e["version"]}" of artifact "{e["artifact"]}" was registered'
    if kind == "deregistration":
        return f'Version "{e["version"]}" of artifact "{e["artifact"]}" was deregistered'
    if kind == "assignment":
        return (
            f'Stage "{e["stage"]}" was assigned to version "{e["version"]}"'
            f' of artifact "{e["artifact"]}"'
        )
    if kind == "unassignment":
        return (
            f'Stage "{e["stage"]}" was unassigned from version "{e["version"]}"'
            f' of artifact "{e["artifact"]}"'
        )
    return f'Artifact "{e["artifact"]}" was deprecated'


@click.command()
@option_repo
@option_json
@option_params
def stages(repo: str, as_json: bool, params: str | None) -> None:
    """List the stages in promotion order."""
    order = api.stages(repo, params)
    click.echo(views.dumps(order) if as_json else "\n".join(order))


def _done(
    tag: str, what: str, push: str | None, as_json: bool = False, **result: str | None
) -> None:
    if as_json:  # one result object: the tag, what it records, where it was pushed
        emit_json({"tag": tag, **result, "pushed": push})
        return
    click.echo(f"Created git tag '{tag}' that {what}")
    if push:
        click.echo(f"Pushed {tag} to {push}")
    else:
        click.echo(f"To push it: git push origin '{tag}' (or use --push)")


@click.command()
@click.argument("name")
@click.option("--version", default=None, help="Version to register, e.g. v1.2.0.")
@click.option(
    "--bump",
    type=click.Choice(["major", "minor", "patch"]),
    default="patch",
    show_default=True,
    help="Bump of the latest version when --version is not given.",
)
@click.option("--ref", default="HEAD", show_default=True, help="Commit to register.")
@click.option("-m", "--message", default=None, help="Tag message (default: gto's).")
@click.option("--force", is_flag=True, help="Allow a lower version or a commit already registered.")
@option_repo
@option_json
@option_push
def register(
    name: str,
    version: str | None,
    bump: str,
    ref: str,
    message: str | None,
    force: bool,
    repo: str,
    as_json: bool,
    push: str | None,
) -> None:
    """Register a version of NAME at REF as a GTO tag NAME@vX.Y.Z.

    With --push, the commit's DVC outputs go to the default DVC remote first, then the tag.
    """
    if push:  # data first: a pushed tag must never name outputs a clone cannot pull
        check_remote(repo, push)
        pushed = dvcstore.push_version(gitcmd.toplevel(repo), gitcmd.resolve_commit(repo, ref))
        if pushed is not None:
            (progress if as_json else click.echo)(
                f"Pushed the version's DVC outputs to the DVC remote ({pushed} new files)"
            )
    tag = api.register(
        repo, name, version=version, bump=bump, ref=ref, message=message, push=push, force=force
    )
    _done(tag, "registers version", push, as_json, event="register", name=name)


@click.command()
@click.argument("name")
@click.argument("stage")
@click.option("--version", default=None, help="Version to promote (default: the latest).")
@click.option("--ref", default=None, help="Promote the version registered at this commit.")
@click.option("--force", is_flag=True, help="Override failed policy gates (needs --reason).")
@click.option("--reason", default=None, help="Why; recorded in the tag message.")
@option_sign
@option_repo
@option_params
@option_json
@option_push
def promote(
    name: str,
    stage: str,
    version: str | None,
    ref: str | None,
    force: bool,
    reason: str | None,
    sign: bool,
    repo: str,
    params: str | None,
    as_json: bool,
    push: str | None,
) -> None:
    """Assign STAGE to a version of NAME after the policy gates pass (tag NAME#STAGE#N)."""
    tag = api.promote(
        repo,
        name,
        stage,
        version=version,
        ref=ref,
        force=force,
        reason=reason,
        push=push,
        params=params,
        sign=sign,
    )
    _done(tag, f"assigns stage {stage}", push, as_json, event="assign", name=name, stage=stage)


assign = click.Command(
    "assign", callback=promote.callback, params=promote.params, help="Alias of promote."
)


@click.command()
@click.argument("name")
@click.argument("stage")
@click.option("--to", default=None, help="Version to restore (default: the previous one).")
@click.option("--reason", default=None, help="Recorded in the tag [rollback].")
@click.option(
    "--force",
    is_flag=True,
    help="Restore a version that never held the stage unforced and fails its gates"
    " (needs --reason).",
)
@option_sign
@option_repo
@option_params
@option_json
@option_push
def rollback(
    name: str,
    stage: str,
    to: str | None,
    reason: str | None,
    force: bool,
    sign: bool,
    repo: str,
    params: str | None,
    as_json: bool,
    push: str | None,
) -> None:
    """Assign STAGE back to the version it held before (or --to VERSION).

    The target must have held the stage before without force, or pass the stage's gates.
    """
    tag = api.rollback(
        repo,
        name,
        stage,
        to=to,
        reason=reason,
        push=push,
        params=params,
        force=force,
        sign=sign,
    )
    _done(tag, f"rolls {stage} back", push, as_json, event="rollback", name=name, stage=stage)


@click.command()
@click.argument("name")
@click.argument("version", required=False)
@click.argument("stage", required=False)
@click.option("-m", "--message", default=None, help="Tag message (default: gto's).")
@option_repo
@option_json
@option_push
def deprecate(
    name: str,
    version: str | None,
    stage: str | None,
    message: str | None,
    repo: str,
    as_json: bool,
    push: str | None,
) -> None:
    """Unassign STAGE from VERSION, deregister VERSION, or deprecate NAME (gto tags)."""
    tag = api.deprecate(repo, name, version, stage, message=message, push=push)
    what = (
        f"unassigns stage {stage}"
        if stage
        else "deregisters version"
        if version
        else "deprecates artifact"
    )
    event = "unassign" if stage else "deregister" if version else "deprecate"
    _done(tag, what, push, as_json, event=event, name=name, version=version, stage=stage)

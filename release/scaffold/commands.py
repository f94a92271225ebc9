"""``release init``: parse, call :func:`release.scaffold.project.prepare`, print, write."""

from __future__ import annotations

import click

from release.errors import UsageError
from release.scaffold.plan import EXAMPLES


def _columns(values: tuple[str, ...]) -> list[str]:
    """``--protected a --protected b`` or ``--protected a,b``."""
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


@click.command("init")
@click.option(
    "--data",
    "data_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Your data: a CSV or Parquet file.",
)
@click.option("--target", default=None, help="The column to predict.")
@click.option(
    "--task",
    type=click.Choice(["auto", "binary", "multiclass", "regression"]),
    default="auto",
    show_default=True,
    help="The task; auto infers it from the target.",
)
@click.option("--name", "artifact", default=None, help="Artifact name (default: DATA-model).")
@click.option("--protected", multiple=True, help="Protected attribute column(s); repeatable.")
@click.option("--slices", multiple=True, help="Slice column(s); repeatable.")
@click.option(
    "--example",
    type=click.Choice(EXAMPLES),
    default=None,
    help="Create an example project instead (its own data, card and settings).",
)
@click.option("--git", "git_init", is_flag=True, help="Create the git repository if missing.")
@click.option("--dir", "root", default=".", show_default=True, help="The project folder.")
@click.option("--yes", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Print the inferences and the plan; write nothing.")
@click.option("--force", multiple=True, help="Replace this existing FILE; repeatable.")
def init(
    data_path: str | None,
    target: str | None,
    task: str,
    artifact: str | None,
    protected: tuple[str, ...],
    slices: tuple[str, ...],
    example: str | None,
    git_init: bool,
    root: str,
    yes: bool,
    dry_run: bool,
    force: tuple[str, ...],
) -> None:
    """Set up a project from your data: params.yaml, dvc.yaml, card.yaml, registry, CI.

    Never overwrites a file: an existing file with other content stops the whole run
    unless named with --force. A second run changes nothing.
    """
    from release.scaffold import write
    from release.scaffold.project import next_commands, prepare

    prepared = prepare(
        root,
        data=data_path,
        target=target,
        task=task,  # type: ignore[arg-type]  # click.Choice checked it
        artifact=artifact,
        protected=_columns(protected),
        slices=_columns(slices),
        example=example,
        create_git=git_init,
        force=list(force),
    )
    if prepared.inference is not None:
        click.echo(f"Inferred from {prepared.data} ({prepared.inference.rows:,} rows):")
        for note in prepared.inference.notes:
            click.echo(f"  - {note}")
    click.echo(f"Plan for {prepared.root}:")
    setup = prepared.setup
    for name, needed in (
        ("git init", setup.git_init),
        ("dvc init", setup.dvc_init),
        ("dvc remote add -d " + " ".join(write.DEFAULT_REMOTE), setup.dvc_remote),
    ):
        if needed:
            click.echo(f"  run       {name}")
    for step in prepared.steps:
        click.echo(f"  {step.action:<9} {step.file.path}")
    if prepared.conflicts:
        raise UsageError(
            f"{len(prepared.conflicts)} existing file(s) differ from the plan: "
            + ", ".join(prepared.conflicts),
            "nothing was written; keep yours, or pass --force FILE for each file to replace",
        )
    if prepared.nothing_to_do:
        click.echo("Nothing to change: the project is already set up.")
    elif dry_run:
        click.echo("Dry run: nothing was written.")
        return
    else:
        if not yes:
            click.confirm("Write these files?", abort=True)
        write.apply(prepared.root, prepared.steps, setup)
        click.echo(f"Wrote {len(prepared.changes)} file(s).")
    rows = next_commands(prepared)
    width = max(len(cmd) for cmd, _ in rows)
    click.echo("Next:")
    for cmd, why in rows:
        click.echo(f"  {cmd:<{width}}  # {why}" if why else f"  {cmd}")

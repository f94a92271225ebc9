"""``release init``: parse, infer, plan, print; write only what the plan says."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from release.errors import UsageError
from release.scaffold.plan import EXAMPLES


def _columns(values: tuple[str, ...]) -> list[str]:
    """``--protected a --protected b`` or ``--protected a,b``."""
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _tool_source(root: Path) -> bool:
    """Whether ``root`` holds the ``release`` sources (this tool's own repository)."""
    pyproject = root / "pyproject.toml"
    return (
        (root / "release" / "cli.py").is_file()
        and pyproject.is_file()
        and ('name = "release"' in pyproject.read_text(encoding="utf-8", errors="replace"))
    )


@click.command("init")
@click.option("--data", "data_path", default=None, help="Your data: a CSV or Parquet file.")
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
    from release.scaffold import plan as planning
    from release.scaffold import write

    project = Path(root).resolve()
    if not project.is_dir():
        raise UsageError(f"{root} is not a folder", "create it, or pass --dir to an existing one")
    setup = write.setup_needed(project)
    if setup.git_init and not git_init:
        raise UsageError(
            f"{project} is not the root of a git repository",
            "run release init at the repository root, or pass --git to create one",
        )
    tool_source = _tool_source(project)
    if example:
        if data_path or target:
            raise UsageError("--example takes no --data or --target", "use one or the other")
        files = planning.example_plan(example, tool_source=tool_source)
        artifact_name = _example_artifact(example)
        rel_data = None
    else:
        if not data_path or not target:
            examples = "|".join(EXAMPLES)
            raise UsageError("--data and --target are required", f"or use --example {examples}")
        from release.scaffold.infer import infer
        from release.scaffold.table import read_data

        rel_data = _inside(project, Path(data_path))
        raw, delimiter = read_data(project / rel_data)
        inference = infer(
            raw,
            target,
            task=task,  # type: ignore[arg-type]  # click.Choice checked it
            protected=_columns(protected),
            slices=_columns(slices),
            delimiter=delimiter,
        )
        artifact_name = artifact or planning.default_artifact(rel_data)
        if not artifact:
            note = f"artifact name {artifact_name} (from the data file's name)"
            inference = dataclasses.replace(inference, notes=[*inference.notes, note])
        files = planning.project_plan(inference, rel_data, artifact_name, tool_source=tool_source)
        click.echo(f"Inferred from {rel_data} ({inference.rows:,} rows):")
        for note in inference.notes:
            click.echo(f"  - {note}")
    steps = write.compare(project, files, list(force))
    click.echo(f"Plan for {project}:")
    for name, needed in (
        ("git init", setup.git_init),
        ("dvc init", setup.dvc_init),
        ("dvc remote add -d " + " ".join(write.DEFAULT_REMOTE), setup.dvc_remote),
    ):
        if needed:
            click.echo(f"  run       {name}")
    for step in steps:
        click.echo(f"  {step.action:<9} {step.file.path}")
    conflicting = write.conflicts(steps)
    if conflicting:
        raise UsageError(
            f"{len(conflicting)} existing file(s) differ from the plan: " + ", ".join(conflicting),
            "nothing was written; keep yours, or pass --force FILE for each file to replace",
        )
    changes = [s for s in steps if s.action != "same"]
    if not changes and not any((setup.git_init, setup.dvc_init, setup.dvc_remote)):
        click.echo("Nothing to change: the project is already set up.")
        _next(artifact_name, rel_data)
        return
    if dry_run:
        click.echo("Dry run: nothing was written.")
        return
    if not yes:
        click.confirm("Write these files?", abort=True)
    write.apply(project, steps, setup)
    click.echo(f"Wrote {len(changes)} file(s).")
    _next(artifact_name, rel_data)


def _example_artifact(example: str) -> str:
    import yaml

    from release.scaffold.plan import package_file

    index = yaml.safe_load(package_file("examples", example, "artifacts.yaml")) or {}
    return str(next(iter(index), "model"))


def _inside(project: Path, data: Path) -> str:
    """The data file's path relative to the project (it must live inside it)."""
    full = data if data.is_absolute() else Path.cwd() / data
    full = full.resolve()
    try:
        return full.relative_to(project).as_posix()
    except ValueError:
        raise UsageError(
            f"{data} is outside the project {project}",
            "copy it into the project first, e.g. data/raw/, and pass that path",
        ) from None


def _next(artifact: str, data: str | None) -> None:
    rows = []
    if data:
        rows.append((f"dvc add {data}", "track the raw data with DVC"))
    rows += [
        ("release doctor", "check tools, settings against the data, remote and ports"),
        ("dvc repro", "prepare, validate, train, evaluate, build the card"),
    ]
    if data:
        rows += [
            ("$EDITOR card.yaml", "replace every [TODO: ...]"),
            ("dvc repro && release card check", "the card is complete"),
        ]
    rows += [
        (f'git add -A && git commit -m "Train {artifact}"', ""),
        (f"release register {artifact}", "the first version, as a GTO tag"),
    ]
    width = max(len(cmd) for cmd, _ in rows)
    click.echo("Next:")
    for cmd, why in rows:
        click.echo(f"  {cmd:<{width}}  # {why}" if why else f"  {cmd}")

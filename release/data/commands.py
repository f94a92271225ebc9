"""``release data``: prepare, validate and generate-batch."""

from __future__ import annotations

from pathlib import Path

import click

from release import paths
from release.config import load_settings
from release.console import emit_json, json_option, params_option, progress
from release.errors import CheckFailed, UsageError


@click.group()
def data() -> None:
    """Prepare, validate and generate data."""


@data.command()
@params_option
@json_option
def prepare(params_path: str, as_json: bool) -> None:
    """Read the source, split train/test, write Parquet and data/provenance.json."""
    from release.data.prepare import prepare as run

    settings = load_settings(params_path)
    progress(f"preparing data from source {settings.data.source}...")
    record = run(settings)
    if as_json:
        emit_json(record)
        return
    splits = record["splits"]
    duplicates = record["source"].get("duplicates", {})
    if duplicates.get("dropped"):
        click.echo(f"dropped {duplicates['dropped']} exact duplicate rows (data.deduplicate)")
    elif duplicates.get("rows"):
        click.echo(
            f"kept {duplicates['rows']} exact duplicate rows "
            "(data.deduplicate: true drops them; release data validate counts them)"
        )
    click.echo(
        f"prepared {record['source']['rows']} rows from {record['source']['kind']}: "
        f"train {splits['train']['rows']} -> {paths.TRAIN}, "
        f"test {splits['test']['rows']} -> {paths.TEST}; provenance in {paths.PROVENANCE}"
    )


@data.command()
@params_option
@json_option
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False),
    help="Validate this CSV/Parquet file (a production batch) instead of the prepared splits.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Report path (default {paths.DATA_QUALITY}, or none for --data).",
)
@click.option("--no-target", is_flag=True, help="The file has no labels (a batch).")
def validate(
    params_path: str, as_json: bool, data_file: str | None, out: str | None, no_target: bool
) -> None:
    """Check quality rules; exit 1 when any rule fails."""
    import pandas as pd

    from release.data.checks import check_settings
    from release.data.prepare import read_split
    from release.data.sources import read_table
    from release.data.validate import validate_frame
    from release.fsio import write_json

    settings = load_settings(params_path)
    if data_file:
        frame = read_table(
            data_file, na_values=settings.data.na_values, delimiter=settings.data.delimiter
        )
        report = validate_frame(
            frame, settings, require_target=not no_target, dataset=Path(data_file).name
        )
    else:
        train = read_split(paths.TRAIN)
        test = read_split(paths.TEST)
        check_settings(settings, train, "the prepared data")
        # Indexed by (split, row), so every example says which split its row is in.
        both = pd.concat([train, test], keys=["train", "test"])
        report = validate_frame(both, settings, train=train, test=test, dataset="train+test")
        out = out or paths.DATA_QUALITY
    if out:
        write_json(out, report.to_dict())
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(report.summary())
    if not report.passed:
        names = sorted({f"{r.name}[{r.column}]" if r.column else r.name for r in report.failures})
        raise CheckFailed(
            f"data validation failed: {', '.join(names)}",
            f"see {out or 'the report above'}; fix the data or the rules in params.yaml",
        )


@data.command("generate-batch")
@click.option("--drift", type=float, default=0.0, show_default=True, help="Drift strength >= 0.")
@click.option("--rows", type=int, default=2000, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help=".csv or .parquet")
def generate_batch(drift: float, rows: int, seed: int, out: str) -> None:
    """Write a production batch of the builtin data, optionally drifted."""
    from release.data import builtin
    from release.fsio import atomic_path

    if drift < 0:
        raise UsageError(f"--drift {drift} is invalid", "use a value >= 0 (0 means no drift)")
    if rows < 1:
        raise UsageError(f"--rows {rows} is invalid", "use a positive number of rows")
    suffix = Path(out).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--out {out}: unknown file type", "use a .csv or .parquet path")
    frame = builtin.generate_batch(rows=rows, seed=seed, drift=drift)
    with atomic_path(out) as tmp:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    click.echo(f"wrote {rows} rows (drift {drift}, seed {seed}) to {out}")

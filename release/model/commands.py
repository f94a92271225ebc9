"""``release train`` and ``release evaluate``."""

from __future__ import annotations

import click

from release import paths
from release.config import load_settings
from release.console import emit_json, json_option, params_option, progress


@click.command()
@params_option
@json_option
def train(params_path: str, as_json: bool) -> None:
    """Fit the pipeline from params.yaml; save models/model.skops and models/model.json."""
    from release.model.train import train as run

    settings = load_settings(params_path)
    progress(f"training {settings.train.estimator}...")
    meta = run(settings)
    if as_json:
        emit_json(meta)
        return
    click.echo(
        f"trained {meta['estimator']} on {meta['train_rows']} rows in "
        f"{meta['training_seconds']:.1f}s -> {paths.MODEL} (sha256 {meta['sha256'][:12]})"
    )


@click.command()
@params_option
@json_option
def evaluate(params_path: str, as_json: bool) -> None:
    """Measure the model on the test split and write every report."""
    from release.model.evaluate import evaluate as run

    settings = load_settings(params_path)
    progress("evaluating...")
    metrics = run(settings)
    if as_json:
        emit_json(metrics)
        return
    shown = ", ".join(
        f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float) and "_ci_" not in k
    )
    click.echo(f"{shown} (n={metrics['n_test']}) -> {paths.METRICS}")

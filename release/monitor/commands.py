"""``release monitor``: drift, quality and golden signals of production."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from release import paths
from release.console import (
    ENVVARS,
    emit_json,
    json_option,
    params_option,
    pick_templates,
    templates_option,
)
from release.errors import CheckFailed, DataError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from release.config import Settings
    from release.monitor.inputs import MonitoredModel, Outputs
    from release.monitor.result import DriftReport
    from release.reference.refs import Reference

_OUT = click.option(
    "--out",
    "out_dir",
    default=paths.REPORTS,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Report folder.",
)

_PARAMS = params_option
_JSON = json_option


@click.group()
def monitor() -> None:
    """Data drift, data quality and golden signals of production."""


@monitor.command()
@click.option(
    "--current", required=True, type=click.Path(dir_okay=False), help="Batch (.csv/.parquet)."
)
@click.option(
    "--reference",
    type=click.Path(dir_okay=False),
    help="A reference profile (.json) or reference data (.csv/.parquet).",
)
@click.option("--version", "version", help="Use the profile registered with NAME@vX.Y.Z.")
@click.option(
    "--stage",
    envvar=ENVVARS["--stage"],
    help="Use the profile of the version active in STAGE.",
)
@click.option(
    "--model",
    "model_path",
    default=paths.MODEL,
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Model applied to the batch for prediction and concept drift (skipped if absent).",
)
@_OUT
@click.option(
    "--prom-file",
    type=click.Path(dir_okay=False),
    help="Also write the result as Prometheus series (textfile collector, Pushgateway).",
)
@templates_option
@_JSON
@_PARAMS
def drift(
    current: str,
    reference: str | None,
    version: str | None,
    stage: str | None,
    model_path: str,
    out_dir: str,
    prom_file: str | None,
    templates: str | None,
    template_dir_old: str | None,
    as_json: bool,
    params_path: str,
) -> None:
    """Test a batch for data, prediction and concept drift against a reference.

    \b
    Defaults (monitor.drift in params.yaml, as Evidently's):
      numeric, a sample <= large_rows:  Kolmogorov-Smirnov, p < alpha (0.05)
      numeric, both samples larger:     Wasserstein / reference std >= 0.1
      categorical, small:               chi-squared on the 2 x k table, p < alpha
      categorical, larger:              Jensen-Shannon distance >= 0.1
      numeric with <= 5 distinct values: tested as categorical
      psi on request (methods: {column: psi}), threshold psi_threshold
    Dataset drift when the share of drifted columns >= drift_share. Prediction
    drift: the model's labels and scores on the batch against the reference's.
    Concept drift (batch with labels): the metric fell by more than
    max_metric_drop and its bootstrap CI excludes the reference value.
    Writes drift.json (flat metrics), drift.md and drift.html; exits 1 on any
    of the three when fail_on_drift is true.

    \b
    With --stage or --version, that version's model is applied (from git and the
    DVC cache or remote, sha256-checked, as `release serve` loads it) and the
    report names it; otherwise the workspace model (--model), and the first line
    says so. Schema findings per column: missing model features (exit 1, "the
    feed is broken"), unexpected columns, dtype changes, unseen categories (a
    drift signal above monitor.drift.max_unseen_rate).
    """
    from release.config import load_settings
    from release.monitor.drift import run_drift
    from release.monitor.inputs import load_reference, model_features, read_table
    from release.monitor.report import summary_lines, write_reports

    settings = load_settings(params_path)
    ref = load_reference(settings, reference=reference, version=version, stage=stage)
    batch = read_table(current)
    if len(batch) == 0:
        raise DataError(f"the current batch {current} has no rows", "pass a batch with data")
    meta = Path(model_path).with_name(Path(paths.MODEL_META).name)
    model, notes = _drift_model(settings, version, stage, model_path, meta)
    if reference and ref.predictions is None and ref.metric is None:
        notes += _outputs_on_reference_data(ref, reference, model_path, meta, settings)
    features = model_features(model.meta) if model is not None else None
    outputs = _batch_outputs(settings, ref, batch, model, features)
    labels, proba, classes = outputs if outputs is not None else (None, None, None)
    report = run_drift(
        ref,
        batch,
        settings.monitor.drift,
        settings.evaluate,
        labels=labels,
        proba=proba,
        classes=classes,
        current_source=current,
        model=model.describe() if model is not None else None,
        model_features=features,
    )
    report.notes = notes + [n for n in report.notes if not n.startswith("no model")]
    files = write_reports(report, out_dir, pick_templates(templates, template_dir_old))
    if prom_file:
        from release.monitor.exposition import write_exposition

        files["prom"] = write_exposition(prom_file, report, settings.release.artifact, stage)
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in summary_lines(report):
            click.echo(line)
        click.echo("reports: " + ", ".join(str(p) for p in files.values()))
    _fail_on_drift(report, files["md"], settings.monitor.drift.fail_on_drift)


def _drift_model(
    settings: Settings, version: str | None, stage: str | None, model_path: str, meta: Path
) -> tuple[MonitoredModel | None, list[str]]:
    """The model drift applies, and a note when there is none.

    The version named is the version applied: its own model, loaded as `release serve`
    loads it (git + DVC cache or remote, sha256-checked), never the workspace's.
    """
    from release.monitor.inputs import registered_model, workspace_model

    model = (
        registered_model(settings, version=version, stage=stage)
        if version or stage
        else workspace_model(model_path, meta)
    )
    if model is not None:
        return model, []
    where = f"{version or stage} has no model" if version or stage else f"no model at {model_path}"
    return None, [f"{where}: prediction and concept drift not measured"]


def _batch_outputs(
    settings: Settings,
    ref: Reference,
    batch: pd.DataFrame,
    model: MonitoredModel | None,
    features: list[str] | None,
) -> Outputs | None:
    """The model's labels, scores and classes on the batch, when there is a use for them."""
    from release.monitor.inputs import apply_loaded

    lacking = [c for c in features or [] if c not in batch.columns]
    if model is None or lacking:
        return None  # nothing applied: the schema findings name the missing features
    if ref.predictions is None and ref.proba is None and not ref.metric:
        return None  # nothing to compare the model's outputs with
    if settings.monitor.drift.prediction_drift or ref.metric:
        return apply_loaded(batch, model)
    return None


def _fail_on_drift(report: DriftReport, md: Path, fail_on_drift: bool) -> None:
    """Raise CheckFailed for a broken feed, or for drift when the settings say so."""
    if report.missing_features:
        raise CheckFailed(
            "the feed is broken: the batch lacks model feature(s) "
            + ", ".join(report.missing_features),
            f"see {md}; send every column the model was trained on",
        )
    if report.drift_detected and fail_on_drift:
        kinds = [
            k
            for k, on in (
                ("dataset", report.dataset_drift),
                ("prediction", report.prediction_drift),
                ("concept", bool(report.concept and report.concept.drifted)),
            )
            if on
        ]
        raise CheckFailed(
            f"drift detected ({', '.join(kinds)}): " + ", ".join(report.drifted_columns[:8]),
            f"see {md}; retrain on recent data (dvc repro) or set "
            "monitor.drift.fail_on_drift: false",
        )


def _outputs_on_reference_data(
    ref: Reference, reference: str, model_path: str, meta: Path, settings: Settings
) -> list[str]:
    """Apply the model to reference data so prediction/concept drift have a baseline."""
    from release.monitor.concept import reference_metric
    from release.monitor.inputs import apply_model, read_table
    from release.reference.refs import attach_outputs

    if not Path(model_path).is_file():
        return [
            f"no model at {model_path} and the reference is data: "
            "prediction and concept drift not measured"
        ]
    frame = read_table(reference)
    try:
        outputs = apply_model(frame, model_path, meta)
    except DataError as exc:
        return [f"model not applied to the reference data ({exc.one_line()})"]
    if outputs is None:
        return [f"no model at {model_path}: prediction and concept drift not measured"]
    labels, proba, classes = outputs
    target = settings.data.target
    metric = (
        reference_metric(
            settings.data.task,
            settings.evaluate.primary_metric,
            frame[target].to_numpy(),
            labels,
            proba,
            classes,
        )
        if target in frame.columns
        else None
    )
    attach_outputs(
        ref, task=settings.data.task, labels=labels, proba=proba, classes=classes, metric=metric
    )
    return []


@monitor.command()
@click.option(
    "--current", required=True, type=click.Path(dir_okay=False), help="Batch (.csv/.parquet)."
)
@_OUT
@_JSON
@_PARAMS
def quality(current: str, out_dir: str, as_json: bool, params_path: str) -> None:
    """Apply the data-quality rules to a batch; exit 1 when a rule fails.

    The rules are the training rules (validate in params.yaml) with production's own
    limits from monitor.quality: min_rows (default 1), and optionally max_null_rate and
    max_duplicate_rate.
    """
    from release.config import load_settings
    from release.fsio import write_json
    from release.monitor.inputs import read_table
    from release.monitor.quality import check_batch

    settings = load_settings(params_path)
    batch = read_table(current)
    result = check_batch(batch, settings, current)
    out = Path(out_dir) / "quality.json"
    write_json(out, result.to_dict())
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary())
        click.echo(f"report: {out}")
    if not result.passed:
        raise CheckFailed(
            f"{len(result.failures)} data quality rule(s) failed on {current}",
            f"see {out}; fix the batch or the rules in params.yaml (validate, monitor.quality)",
        )


@monitor.command()
@click.option("--url", help="The server's metrics URL, e.g. http://127.0.0.1:8080/metrics.")
@click.option(
    "--deployment",
    nargs=2,
    type=str,
    metavar="NAME STAGE",
    help="Read the URL from the deployment record of NAME in STAGE.",
)
@click.option(
    "--window",
    type=float,
    default=0.0,
    show_default=True,
    help="Scrape twice this many seconds apart and judge that window (0: totals).",
)
@_JSON
@_PARAMS
def signals(
    url: str | None,
    deployment: tuple[str, str] | None,
    window: float,
    as_json: bool,
    params_path: str,
) -> None:
    """Golden signals (latency, traffic, errors, saturation) against thresholds."""
    from release.config import load_settings
    from release.monitor.report import fmt_number
    from release.monitor.signals import deployment_url, measure

    if bool(url) == bool(deployment):
        raise UsageError(
            "pass exactly one of --url and --deployment", "e.g. --url http://.../metrics"
        )
    if window < 0:
        raise UsageError(f"--window {window} is invalid", "use seconds >= 0")
    settings = load_settings(params_path)
    if deployment:
        url = deployment_url(settings.release.deploy.state_dir, *deployment)
    assert url is not None
    report = measure(url, settings.monitor.signals, window)
    if as_json:
        emit_json(report.to_dict())
    else:
        s = report.signals
        span = f"last {s.window_seconds:.1f} s" if s.window_seconds else "since start"
        click.echo(f"{report.verdict.upper()}: {report.source} ({span})")
        for c in report.checks:
            mark = "ok  " if c.passed else "FAIL"
            bound = ">=" if c.name == "requests" else "<="
            extra = f" ({c.note})" if c.note else ""
            click.echo(
                f"  {mark} {c.name} = {fmt_number(c.value)} ({bound} {fmt_number(c.limit)}){extra}"
            )
        if s.rps is not None:
            click.echo(f"  traffic {s.rps:.1f} rps, cpu {fmt_number(s.cpu_percent)}%")
        for v in s.versions:
            click.echo(
                f"  {v['model']}@{v['version']}: {fmt_number(v['requests'])} requests, "
                f"error rate {fmt_number(v['error_rate'])}, p50 {fmt_number(v['p50_ms'])} ms, "
                f"p99 {fmt_number(v['p99_ms'])} ms"
            )
    if report.verdict != "pass":
        failed = [c.name for c in report.checks if not c.passed]
        raise CheckFailed(
            f"golden signals {report.verdict}: {', '.join(failed)}",
            "see the report above; thresholds are monitor.signals in params.yaml",
        )

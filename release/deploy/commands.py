"""``release deploy`` and ``release deployments``: parse, call the controller, print.

``release deploy NAME STAGE`` deploys the version the registry assigns to STAGE. On the
local target the stage keeps serving in the background after the command ends (model
server and router on 127.0.0.1, pids in the deployment record); ``release deployments
--stop NAME STAGE`` stops them.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from release import console, gitcmd, paths
from release.console import emit_json, is_interactive, json_option, params_option, repo_option
from release.deploy.progress import ProgressDisplay
from release.deploy.records import check_name, check_stage
from release.errors import DeployError, UsageError
from release.registry import enforce

__all__ = ["ProgressDisplay", "deploy", "deployments"]

STRATEGY_CHOICES = ("canary", "shadow", "bluegreen", "direct")


def _load(params_path: str) -> Any:
    from release.config import load_settings

    return load_settings(params_path)


@click.command("deploy")
@click.argument("name")
@click.argument("stage")
@click.option(
    "--target",
    type=click.Choice(["local", "kubernetes", "kserve"]),
    default="local",
    show_default=True,
    help="kubernetes: Argo Rollouts + Istio manifests; kserve: a KServe InferenceService.",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGY_CHOICES),
    default=None,
    help="Override params.yaml's strategy for the stage.",
)
@click.option(
    "--replay",
    "replay_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also send rows of this evaluation file (with labels) through the router.",
)
@click.option(
    "--rps",
    type=click.FloatRange(0.1, 1000),
    default=20.0,
    show_default=True,
    help="Replay rate (requests per second).",
)
@click.option(
    "--port",
    type=click.IntRange(1024, 65535),
    default=None,
    help="Router port on 127.0.0.1 [release.deploy.router_port + stage index].",
)
@click.option(
    "--chaos",
    "chaos_rules",
    multiple=True,
    metavar="RULE",
    help="Rehearsal: serve the candidate with these `release serve --chaos` rules "
    "(e.g. errors=0.5@50); a sound rollout rolls it back.",
)
@click.option("--allow-schema-change", is_flag=True, help="Declare a changed input schema.")
@click.option("--no-golden", is_flag=True, help="Skip the golden-set replay.")
@click.option("--render-only", is_flag=True, help="Kubernetes: render manifests, do not apply.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Kubernetes: folder for the manifests [deploy/<name>-<stage>].",
)
@click.option("--apply", "apply_", is_flag=True, help="Kubernetes: kubectl apply the manifests.")
@repo_option()
@click.option(
    "--push",
    "push_remote",
    default=None,
    metavar="REMOTE",
    help="Push a rollback tag to this git remote (CI: origin).",
)
@params_option
@json_option
def deploy(
    name: str,
    stage: str,
    target: str,
    strategy: str | None,
    replay_file: str | None,
    rps: float,
    port: int | None,
    chaos_rules: tuple[str, ...],
    allow_schema_change: bool,
    no_golden: bool,
    render_only: bool,
    out_dir: str | None,
    apply_: bool,
    repo: str,
    push_remote: str | None,
    params_path: str,
    as_json: bool,
) -> None:
    """Deploy the version the registry assigns to STAGE: canary, shadow, blue/green or direct.

    Local target: the candidate's server and a router run on 127.0.0.1 and keep serving
    after this command (stop them with `release deployments --stop NAME STAGE`). A failed
    step sends all traffic back to the baseline, stops the candidate and writes a registry
    rollback; so do SIGTERM and Ctrl-C (exit 143 and 130). Exit code 1 when the deployment
    rolled back, failed or was inconclusive; 3 when an inconclusive step was held
    (release.deploy.on_inconclusive: hold).
    """
    check_name(name)  # before a path, a tag or a process sees them
    check_stage(stage)
    settings = _load(params_path)
    from release.serve.chaos import parse_chaos

    parse_chaos(chaos_rules)  # a bad rule fails here, before anything else
    enforce.check_deploy(repo, name, stage, settings, on_note=lambda m: click.echo(m, err=True))
    if target in ("kubernetes", "kserve"):
        rendered = _kubernetes(
            settings, repo, name, stage, strategy, out_dir, render_only, apply_, target
        )
        if as_json:
            emit_json(rendered)
        else:
            for path in rendered["files"]:
                click.echo(path)
        return
    if render_only or apply_ or out_dir:
        raise UsageError(
            "--render-only, --apply and --out are for --target kubernetes",
            "add --target kubernetes",
        )
    from release.deploy.controller import DeployOptions, ServeLauncher, deploy_local

    options = DeployOptions(
        launcher=ServeLauncher(
            repo=str(Path(repo).resolve()),
            params=str(Path(params_path).resolve()),
            candidate_args=[a for rule in chaos_rules for a in ("--chaos", rule)],
        ),
        push=push_remote,
        strategy=strategy,
        port=port,
        replay=replay_file,
        rps=rps,
        allow_schema_change=allow_schema_change,
        golden=not no_golden,
        progress=None if console.quiet() else ProgressDisplay(is_interactive()),
    )
    result = deploy_local(repo, settings, name, stage, options)
    if as_json:
        emit_json(result.to_dict())
    else:
        _print_result(result, name, stage)
    if result.exit_code:
        sys.exit(result.exit_code)


def _print_result(result: Any, name: str, stage: str) -> None:
    """The outcome of ``release deploy`` for people (commands suggested are shell-quoted)."""
    click.echo(
        f"{result.outcome}: {name} {result.version} in {stage} ({result.strategy}); "
        f"router {result.router_url or '-'}"
    )
    if result.rollback_tag:
        click.echo(f"rollback tag: {result.rollback_tag}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.ok:
        click.echo(f"reason: {result.reason}")
    if result.action == "held":
        args = f"{shlex.quote(name)} {shlex.quote(stage)}"
        click.echo(
            f"held: {result.version} keeps its traffic; rerun `release deploy {args}`, "
            f"or roll back with `release rollback {args}`"
        )


def _kubernetes(
    settings: Any,
    repo: str,
    name: str,
    stage: str,
    strategy: str | None,
    out_dir: str | None,
    render_only: bool,
    apply_: bool,
    target: str = "kubernetes",
) -> dict[str, Any]:
    """Render (and optionally apply) the stage's manifests (Argo Rollouts or KServe)."""
    try:
        from release.deploy import kubernetes
    except ModuleNotFoundError as exc:
        if exc.name != "release.deploy.kubernetes":
            raise
        raise DeployError(
            "the Kubernetes target is not installed (release.deploy.kubernetes is missing)",
            "use --target local",
        ) from None
    from release.deploy.plan import strategy_for
    from release.registry.api import read_state

    check_name(name)
    check_stage(stage)
    state = read_state(repo)
    version = state.active_version(name, stage)
    if version is None:
        raise DeployError(
            f"no version of {name} is assigned to {stage}",
            f"promote one first: release promote {shlex.quote(name)} {shlex.quote(stage)}",
        )
    commit = state.version_commit(name, version)
    shown = gitcmd.show(repo, commit, paths.MODEL_META)
    try:
        sha = str(json.loads(shown)["sha256"]) if shown is not None else ""
    except (ValueError, KeyError, TypeError):
        sha = ""
    if not sha:
        raise DeployError(
            f"{paths.MODEL_META} at {name}@{version} has no sha256", "register a trained commit"
        )
    out = Path(out_dir or f"deploy/{name.replace('/', '-')}-{stage}")
    files = kubernetes.render_manifests(
        settings,
        name=name,
        stage=stage,
        version=version,
        tag=f"{name}@{version}",
        model_sha256=sha,
        strategy=strategy_for(stage, settings.release.deploy, strategy),
        out_dir=out,
        target="kserve" if target == "kserve" else "argo",
    )
    applied = False
    if apply_ and not render_only:
        kubernetes.apply_manifests(out)
        applied = True
    return {"version": version, "files": [str(p) for p in files], "applied": applied}


@click.command("deployments")
@click.argument("name", required=False)
@click.argument("stage", required=False)
@click.option("--stop", is_flag=True, help="Stop NAME STAGE's router and servers.")
@click.option(
    "--recover",
    is_flag=True,
    help="Reconcile NAME STAGE when its rollout's controller died (baseline 100%, "
    "candidate stopped, record aborted, registry consistent).",
)
@repo_option("Project root.")
@params_option
@json_option
def deployments(
    name: str | None,
    stage: str | None,
    stop: bool,
    recover: bool,
    repo: str,
    params_path: str,
    as_json: bool,
) -> None:
    """Show deployment records (what serves each stage, every rollout's analysis).

    A rollout recorded as running whose controller is gone (killed) is reconciled first.
    """
    from release.deploy import listing

    # NAME and STAGE become paths and git notes refs: check them before anything else.
    if name is not None:
        check_name(name)
    if stage is not None:
        check_stage(stage)
    settings = _load(params_path) if Path(params_path).is_file() else None
    if settings is None:
        from release.config import Settings

        settings = Settings()
    if stop:
        if not name or not stage:
            raise UsageError("--stop needs NAME and STAGE", "release deployments --stop NAME STAGE")
        from release.deploy.controller import stop_deployment

        pids = stop_deployment(repo, settings, name, stage)
        if as_json:
            emit_json({"stopped": pids})
        else:
            click.echo(f"stopped {len(pids)} process(es)" + (f": {pids}" if pids else ""))
        return
    if recover and (not name or not stage):
        raise UsageError(
            "--recover needs NAME and STAGE", "release deployments --recover NAME STAGE"
        )
    records = listing.read_records(repo, settings, name, stage, recover=recover)
    if as_json:
        emit_json(records)
    else:
        listing.print_records(records)

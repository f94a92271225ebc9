"""Run a rollout on the local target: servers and a router as processes on 127.0.0.1.

The candidate is the version the registry now assigns to the stage; the baseline is the
version the deployment record says is serving it. :func:`deploy_local` takes the stage's
lock, reconciles a rollout whose controller died (:mod:`release.deploy.recovery`),
checks that the router's port is free before anything starts, handles the cases that need
no rollout (the same version again; blue/green's warm standby), and otherwise runs the
strategy's plan through the state machine (:mod:`release.deploy.machine`) and its driver
(:mod:`release.deploy.driver`). SIGTERM and SIGINT abort the rollout cleanly: traffic back
to the baseline, candidate stopped, a rollback tag, record ``aborted``.

A successful deployment keeps serving in the background: the stage's server (and, for
blue/green, the previous version kept warm as standby) and the router keep running, with
their pids in the record; :func:`stop_deployment` (``release deployments --stop``)
stops them.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from release.config import Settings
from release.deploy import machine, processes
from release.deploy.driver import Driver, Edges
from release.deploy.effects import (
    FileRecordStore,
    LocalProcesses,
    RouterClient,
    ServeLauncher,
    all_traffic_to,
)
from release.deploy.plan import make_plan, strategy_for
from release.deploy.pretraffic import Candidate, idle_checks, preflight
from release.deploy.records import check_name, check_stage, locked, record_path
from release.deploy.recovery import reconcile, stop_deployment
from release.deploy.results import DeployOptions, DeployResult, Launcher
from release.deploy.stagerun import StageRun
from release.errors import DeployError, UsageError

__all__ = [
    "DeployOptions",
    "DeployResult",
    "Launcher",
    "ServeLauncher",
    "deploy_local",
    "stop_deployment",
]


_SERVING = ("current", "standby", "candidate", "router")  # what a record keeps running


def router_port(
    settings: Settings, stage: str, record: dict[str, Any], override: int | None
) -> int:
    """The port the stage's router should listen on (raises when it is taken)."""
    deploy = settings.release.deploy
    if override is not None:
        port = override
    elif record.get("router_port"):
        port = int(record["router_port"])
    elif deploy.router_port == "auto":
        return processes.free_port()
    else:
        # One router per stage: by default each stage gets its own port after router_port.
        port = int(deploy.router_port) + settings.release.stages.index(stage)
    if processes.port_in_use(port):
        if override is None and deploy.router_port == "auto":
            return processes.free_port()  # the remembered auto port went to someone else
        raise DeployError(
            f"router port {port} on 127.0.0.1 is already in use",
            "pass a free --port, or set release.deploy.router_port: auto",
        )
    return port


@contextlib.contextmanager
def _signals(driver: Driver, enabled: bool) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into a clean abort while the rollout runs (main thread only)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, lambda n, _f: driver.interrupt(n))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def deploy_local(
    repo: str | Path,
    settings: Settings,
    name: str,
    stage: str,
    options: DeployOptions | None = None,
) -> DeployResult:
    """Deploy the version the registry assigns to ``stage`` on the local target."""
    from release.registry.api import read_state

    options = options or DeployOptions()
    check_name(name)
    check_stage(stage)
    if stage not in settings.release.stages:
        raise UsageError(
            f"unknown stage {stage!r}", "use one of " + ", ".join(settings.release.stages)
        )
    if options.port is not None and not 1024 <= options.port <= 65535:
        raise UsageError(f"--port {options.port} is out of range", "use 1024-65535")
    repo = Path(repo).resolve()
    state = read_state(str(repo))
    version = state.active_version(name, stage)
    if version is None:
        raise DeployError(
            f"no version of {name} is assigned to {stage}",
            f"promote one first: release promote {shlex.quote(name)} {shlex.quote(stage)}",
        )
    state_dir = repo / settings.release.deploy.state_dir
    with locked(state_dir, name, stage):
        path = record_path(state_dir, name, stage)
        existed = path.is_file()
        run = StageRun(repo, settings, name, stage, version, state)
        if recover_stage(run, options) is not None:
            # The reconciliation may have written a rollback: deploy what the registry says now.
            run.registry_state = read_state(str(repo))
            run.version = run.registry_state.active_version(name, stage) or version
        result = _deploy(run, options)
        if not existed and not any(run.record.get(k) for k in _SERVING):
            # A first deployment that failed serves nothing: no record of a stage with
            # "current": null. The outcome is the command's answer; the rollout's git note
            # (release.notes) keeps its analysis, the logs folder why a server did not start.
            path.unlink(missing_ok=True)
        return result


def recover_stage(run: StageRun, options: DeployOptions) -> dict[str, Any] | None:
    """Reconcile the stage's record when its last rollout's controller died."""
    from release.registry.api import read_state

    closed = reconcile(
        run.repo,
        run.state_dir,
        run.record,
        registry_version=lambda: read_state(str(run.repo)).active_version(run.name, run.stage),
        rollback=run.registry(options).rollback,
    )
    if closed is not None:
        run.emit(options, event="note", message=f"recovered a stale rollout: {closed['reason']}")
    return closed


def _deploy(run: StageRun, options: DeployOptions) -> DeployResult:
    record, launcher = run.record, run.processes(options)
    port = _port(run, options)
    store = FileRecordStore(run.state_dir)
    _restore_baseline(run, options, launcher, store)
    current = record.get("current")
    if current and current["version"] == run.version:
        if not processes.alive(record.get("router")):
            record["router"] = launcher.router(port, current["server"]["url"], run.version)
            record["router_port"] = port
        entry = run.entry(
            "none", "unchanged", keep=False, reason="the stage already serves this version"
        )
        store.save(record)
        return run.result(entry)
    standby = record.get("standby")
    if standby and standby["version"] == run.version and processes.alive(standby["server"]):
        return _switch_to_standby(run, options, port)
    return _rollout(run, options, launcher, store, port)


def _port(run: StageRun, options: DeployOptions) -> int:
    """The running router's port, else the one a new router takes."""
    info = run.record.get("router")
    if not (info and processes.alive(info)):
        return router_port(run.settings, run.stage, run.record, options.port)
    port = int(info["port"])
    if options.port not in (None, port):
        run.emit(
            options,
            event="note",
            message=f"the router already runs on port {port}; --port {options.port} ignored "
            "(stop the deployment first to move it)",
        )
    return port


def _restore_baseline(
    run: StageRun, options: DeployOptions, launcher: LocalProcesses, store: FileRecordStore
) -> None:
    """The recorded baseline serving all traffic again, and no candidate held from before."""
    record = run.record
    router_info, held, current = (
        record.get("router"),
        record.get("candidate"),
        record.get("current"),
    )
    if current and not processes.alive(current.get("server")):
        # The recorded baseline is down (reboot, crash): bring it back first, so the
        # comparison and the fallback exist.
        run.emit(options, event="note", message=f"restarting baseline {current['version']}")
        current["server"] = launcher.server(current["version"])
        store.save(record)
    if current and router_info and processes.alive(router_info):
        client = RouterClient(router_info["url"], router_info.get("token"))
        try:
            all_traffic_to(
                client,
                current["server"],
                current["version"],
                sticky_header=run.deploy.sticky_header,
            )
        finally:
            client.close()
    if held:
        # A candidate held by an earlier inconclusive or baseline-unhealthy rollout: the
        # rerun decides afresh.
        launcher.stop(held.get("server"))
        record["candidate"] = None
        store.save(record)


def _rollout(
    run: StageRun,
    options: DeployOptions,
    launcher: LocalProcesses,
    store: FileRecordStore,
    port: int,
) -> DeployResult:
    """Run the strategy's plan through the state machine and its driver."""
    has_baseline = run.record.get("current") is not None
    strategy = strategy_for(run.stage, run.deploy, options.strategy)
    plan = make_plan(strategy, run.deploy, has_baseline=has_baseline)
    policy = run.deploy.on_inconclusive.get(run.stage, "rollback")
    ctx = machine.Context(plan, has_baseline=has_baseline, on_inconclusive=policy)
    entry = run.entry(plan.strategy, plan=plan.to_dict())
    if options.replay and not plan.analysed:
        note = f"--replay ignored: a {plan.strategy} deployment has no analysed step"
        entry["notes"] = [note]
        run.emit(options, event="note", message=note)
    edges = _edges(run, options, launcher, store, plan)
    driver = Driver(
        ctx,
        run.record,
        entry,
        run.version,
        edges,
        settings=run.deploy,
        router_port=port,
        identity=processes.identity(),
    )
    try:
        with _signals(driver, options.handle_signals):
            driver.run()
    finally:
        if driver.router is not None:
            driver.router.close()
    return run.result(entry)


def _edges(
    run: StageRun,
    options: DeployOptions,
    launcher: LocalProcesses,
    store: FileRecordStore,
    plan: Any,
) -> Edges:
    """What the driver acts on: processes, the record, the registry, the checks."""
    candidate = Candidate(
        run.repo,
        run.name,
        run.stage,
        run.version,
        run.registry_state.version_commit(run.name, run.version),
    )
    return Edges(
        launcher=launcher,
        store=store,
        registry=run.registry(options),
        connect=lambda info: RouterClient(info["url"], info.get("token")),
        preflight=lambda: preflight(run.settings, candidate),
        checks=lambda cand_url, base_url: idle_checks(
            run.settings,
            candidate,
            cand_url,
            base_url,
            allow_schema_change=options.allow_schema_change,
            smoke=options.smoke,
            golden=options.golden,
        ),
        emit=lambda **e: run.emit(options, **e),
        start_replay=(
            _replay_starter(run, options, plan.max_seconds)
            if options.replay and plan.analysed
            else None
        ),
    )


def _switch_to_standby(run: StageRun, options: DeployOptions, port: int) -> DeployResult:
    """Blue/green's instant switch back to the version kept warm."""
    record, launcher = run.record, run.processes(options)
    standby, current = record["standby"], record.get("current")
    info = record.get("router")
    if not (info and processes.alive(info)):
        info = record["router"] = launcher.router(port, standby["server"]["url"], run.version)
        record["router_port"] = port
    client = RouterClient(info["url"], info.get("token"))
    try:
        all_traffic_to(client, standby["server"], standby["version"])
    finally:
        client.close()
    record["current"], record["standby"] = standby, current
    entry = run.entry(
        "bluegreen", "switched", reason="switched to the version kept warm as standby"
    )
    FileRecordStore(run.state_dir).save(record)
    return run.result(entry)


def _replay_starter(run: StageRun, options: DeployOptions, max_seconds: float) -> Any:
    def start(router_url: str) -> Any:
        from release.deploy.checks import fetch_metadata
        from release.deploy.replay import Replay, load_rows

        meta = fetch_metadata(router_url, run.name)
        datatypes = {str(i["name"]): str(i.get("datatype", "FP64")) for i in meta["inputs"]}
        rows = load_rows(str(options.replay), list(datatypes), target=run.settings.data.target)
        return Replay(
            router_url,
            run.name,
            rows,
            rps=options.rps,
            datatypes=datatypes,
            max_seconds=max_seconds + 30,
            max_requests=int(options.rps * (max_seconds + 30)) + 1,
        ).start()

    return start


def recover_deployment(
    repo: str | Path, settings: Settings, name: str, stage: str
) -> dict[str, Any] | None:
    """``release deployments --recover``: reconcile a stale rollout of ``name`` in ``stage``
    (the closed entry, or None when nothing was stale)."""
    from release.registry.api import read_state

    check_name(name)
    check_stage(stage)
    repo = Path(repo).resolve()
    state_dir = repo / settings.release.deploy.state_dir
    with locked(state_dir, name, stage):
        version = read_state(str(repo)).active_version(name, stage) or ""
        run = StageRun(repo, settings, name, stage, version, None)
        return recover_stage(run, DeployOptions())

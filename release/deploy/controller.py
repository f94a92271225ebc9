"""Run a rollout on the local target: servers and a router as processes on 127.0.0.1.

The candidate is the version the registry now assigns to the stage; the baseline is the
version the deployment record says is serving it. The controller starts the candidate's
server, puts the router in front (starting it if needed), checks the contract and the
golden set before any traffic, then walks the strategy's plan: it sets router weights,
asks the judge at every step, and either switches all traffic to the candidate
(promote) or, at the first failed step, sends all traffic back to the baseline, stops
the candidate and writes a registry rollback so git says what really serves.

A successful deployment keeps serving in the background: the stage's server (and, for
blue/green, the previous version kept warm as standby) and the router keep running, with
their pids in the record; :func:`stop_deployment` (``release deployments --stop``)
stops them.
"""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from release.config import Settings
from release.deploy import processes
from release.deploy.judge import Check, Sample, ShadowStats, Verdict, judge, judge_shadow
from release.deploy.plan import Plan, Step, make_plan, strategy_for
from release.deploy.records import (
    check_name,
    check_stage,
    load_record,
    locked,
    record_path,
    save_record,
)
from release.errors import DeployError, ReleaseError, UsageError

Progress = Callable[[dict[str, Any]], None]
MAX_REFERENCE = 20_000


class Launcher(Protocol):
    """Builds the command that serves one version on one port."""

    def command(self, name: str, version: str, port: int) -> list[str]:
        """The argv of a server for ``name@version`` on 127.0.0.1:``port``."""
        ...


@dataclass
class ServeLauncher:
    """``release serve --model NAME@vX.Y.Z`` (``extra_args`` per version, e.g. faults)."""

    repo: str = "."
    params: str | None = None
    extra_args: dict[str, list[str]] = field(default_factory=dict)

    def command(self, name: str, version: str, port: int) -> list[str]:
        """The argv of a model server for ``name@version``."""
        cmd = [
            sys.executable,
            "-m",
            "release.cli",
            "serve",
            "--model",
            f"{name}@{version}",
            "--port",
            str(port),
            "--name",
            name,
            "--version-label",
            version,
            "--repo",
            self.repo,
        ]
        if self.params:
            cmd += ["--params", self.params]
        return cmd + list(self.extra_args.get(version, []))


@dataclass
class DeployOptions:
    """How to run one deployment."""

    strategy: str | None = None
    port: int | None = None
    replay: str | None = None
    rps: float = 20.0
    allow_schema_change: bool = False
    golden: bool = True
    smoke: bool = True
    launcher: Launcher | None = None
    progress: Progress | None = None
    push: str | None = None


@dataclass
class DeployResult:
    """What a deployment did."""

    name: str
    stage: str
    strategy: str
    outcome: str  # promoted | rolled_back | failed | unchanged | switched
    version: str
    baseline: str | None
    reason: str
    router_url: str | None
    record: str
    rollback_tag: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    replay: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True when the stage now serves the registry's version."""
        return self.outcome in ("promoted", "unchanged", "switched")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "stage": self.stage,
            "strategy": self.strategy,
            "outcome": self.outcome,
            "version": self.version,
            "baseline": self.baseline,
            "reason": self.reason,
            "router_url": self.router_url,
            "record": self.record,
            "rollback_tag": self.rollback_tag,
            "steps": self.steps,
            "checks": self.checks,
            "replay": self.replay,
        }


class RouterClient:
    """The controller's side of the router's admin API."""

    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        headers = {"x-release-token": token} if token else {}
        self.url = url
        self.client = httpx.Client(base_url=url, headers=headers, timeout=10.0, trust_env=False)

    def _call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        import httpx

        try:
            resp = self.client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise DeployError(f"router {self.url} unreachable: {exc}", "is it running?") from None
        if resp.status_code != 200:
            raise DeployError(f"router {path} answered {resp.status_code}: {resp.text}")
        data = resp.json()
        assert isinstance(data, dict)
        return data

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change routing atomically."""
        return self._call("POST", "/_router/config", changes)

    def stats(self) -> dict[str, Any]:
        """The current window's measurements."""
        return self._call("GET", "/_router/stats")

    def new_window(self) -> dict[str, Any]:
        """Start a new window."""
        return self._call("POST", "/_router/window")

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _summary(measure: dict[str, Any]) -> dict[str, Any]:
    """Counts from a router window, without the raw lists."""
    lat = sorted(measure.get("latencies_ms", []))
    correct = measure.get("correct", [])
    return {
        "requests": measure.get("requests", 0),
        "errors": measure.get("errors", 0),
        "client_errors": measure.get("client_errors", 0),
        "p50_ms": lat[len(lat) // 2] if lat else None,
        "labelled": len(correct),
        "accuracy": sum(correct) / len(correct) if correct else None,
    }


# ---------------------------------------------------------------------------- rollout
class Rollout:
    """One deployment of ``name`` in ``stage`` (holds the stage's lock while it runs)."""

    def __init__(
        self,
        repo: Path,
        settings: Settings,
        name: str,
        stage: str,
        version: str,
        state: Any,
        record: dict[str, Any],
        options: DeployOptions,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.deploy = settings.release.deploy
        self.state_dir = repo / self.deploy.state_dir
        self.name = name
        self.stage = stage
        self.version = version
        self.registry_state = state
        self.record = record
        self.options = options
        self.launcher: Launcher = options.launcher or ServeLauncher(repo=str(repo))
        self.router: RouterClient | None = None
        self.reference: Sample | None = None
        self.candidate: processes.Managed | None = None
        self.entry: dict[str, Any] = {}

    # -- helpers
    def emit(self, **event: Any) -> None:
        """Send a progress event to the display."""
        if self.options.progress is not None:
            self.options.progress(event)

    def launch(self, version: str) -> processes.Managed:
        """Start a model server for ``version`` on a free port."""
        port = processes.free_port()
        cmd = self.launcher.command(self.name, version, port)
        log = self.state_dir / self.name.replace("/", "__") / "logs" / f"{self.stage}-{version}.log"
        self.emit(event="start", what=f"server {self.name}@{version}", port=port)
        managed = processes.start(
            cmd,
            port=port,
            log_path=log,
            ready_path="/v2/health/ready",
            timeout=self.deploy.start_timeout,
            cwd=self.repo,
        )
        self.emit(event="ready", what=f"server {self.name}@{version}", pid=managed.pid, port=port)
        return managed

    def ensure_router(self, baseline_url: str, baseline_version: str) -> RouterClient:
        """Connect to the stage's router, starting it when it is not running."""
        info = self.record.get("router")
        if info and processes.alive(info):
            if self.options.port and self.options.port != info["port"]:
                self.emit(
                    event="note",
                    message=f"the router already runs on port {info['port']}; --port "
                    f"{self.options.port} ignored (stop the deployment first to move it)",
                )
            client = RouterClient(info["url"], info.get("token"))
            client.configure(sticky_header=self.deploy.sticky_header)
            self.router = client
            return client
        # One router per stage: by default each stage gets its own port after router_port.
        default = self.deploy.router_port + self.settings.release.stages.index(self.stage)
        port = self.options.port or (info or {}).get("port") or default
        token = secrets.token_hex(16)
        cmd = [
            sys.executable,
            "-m",
            "release.deploy.router",
            "--port",
            str(port),
            "--baseline",
            baseline_url,
            "--baseline-version",
            baseline_version,
        ]
        if self.deploy.sticky_header:
            cmd += ["--sticky-header", self.deploy.sticky_header]
        log = self.state_dir / self.name.replace("/", "__") / "logs" / f"{self.stage}-router.log"
        self.emit(event="start", what="router", port=port)
        from release.deploy.router import TOKEN_ENV

        managed = processes.start(
            cmd,
            port=int(port),
            log_path=log,
            ready_path="/v2/health/live",
            timeout=self.deploy.start_timeout,
            cwd=self.repo,
            env={TOKEN_ENV: token},
        )
        self.record["router"] = {**managed.to_dict(), "token": token}
        self.save()
        self.router = RouterClient(managed.url, token)
        return self.router

    def save(self) -> Path:
        """Write the record."""
        return save_record(self.state_dir, self.record)

    # -- entry point
    def run(self) -> DeployResult:
        """Run the rollout to its end: promoted, rolled back, or failed."""
        current = self.record.get("current")
        if current and not processes.alive(current.get("server")):
            # The recorded baseline is down (reboot, crash): bring it back first, so the
            # comparison and the fallback exist.
            self.emit(event="note", message=f"restarting baseline {current['version']}")
            current["server"] = self.launch(current["version"]).to_dict()
            self.save()
        if current and current["version"] == self.version:
            router = self.ensure_router(current["server"]["url"], current["version"])
            router.configure(baseline=current["server"]["url"], baseline_version=self.version)
            return self._result("unchanged", "the stage already serves this version", "none")
        standby = self.record.get("standby")
        if standby and standby["version"] == self.version and processes.alive(standby["server"]):
            return self._switch_to_standby(current, standby)
        strategy = strategy_for(self.stage, self.deploy, self.options.strategy)
        plan = make_plan(strategy, self.deploy, has_baseline=current is not None)
        return self._execute(plan, current)

    def _switch_to_standby(
        self, current: dict[str, Any] | None, standby: dict[str, Any]
    ) -> DeployResult:
        """Blue/green's instant switch back to the version kept warm."""
        router = self.ensure_router(standby["server"]["url"], standby["version"])
        router.configure(
            baseline=standby["server"]["url"],
            baseline_version=standby["version"],
            candidate=None,
            weight=0,
            mode="split",
        )
        self.record["current"], self.record["standby"] = standby, current
        self.entry = {
            "id": uuid.uuid4().hex[:12],
            "strategy": "bluegreen",
            "candidate": self.version,
            "baseline": current["version"] if current else None,
            "started": _now(),
            "finished": _now(),
            "outcome": "switched",
            "reason": "switched to the version kept warm as standby",
            "checks": [],
            "steps": [],
        }
        self.record["history"].append(self.entry)
        self.save()
        return self._result("switched", self.entry["reason"], "bluegreen")

    def _execute(self, plan: Plan, current: dict[str, Any] | None) -> DeployResult:
        baseline_version = current["version"] if current else None
        self.entry = {
            "id": uuid.uuid4().hex[:12],
            "strategy": plan.strategy,
            "plan": plan.to_dict(),
            "candidate": self.version,
            "baseline": baseline_version,
            "started": _now(),
            "finished": None,
            "outcome": "running",
            "reason": "",
            "checks": [],
            "steps": [],
        }
        self.record["history"].append(self.entry)
        self.save()
        replay = None
        try:
            try:
                self.candidate = self.launch(self.version)
            except DeployError as exc:
                return self._rollback(current, f"candidate server failed to start: {exc.what}")
            if current is not None:
                self.ensure_router(current["server"]["url"], current["version"])
            for step in plan.steps:
                if step.kind == "checks":
                    failure = self._checks(current)
                elif step.kind == "switch":
                    self._promote(plan, current)
                    return self._result("promoted", "all steps passed", plan.strategy, replay)
                else:
                    if replay is None and self.options.replay:
                        replay = self._start_replay(plan)
                    failure = self._analyse(step)
                if failure:
                    return self._rollback(current, failure, replay)
            raise DeployError(f"plan {plan.strategy} has no switch step")
        except BaseException as exc:
            if self.entry.get("outcome") == "running":
                what = exc.one_line() if isinstance(exc, ReleaseError) else repr(exc)
                self._rollback(current, f"deployment aborted: {what}", replay)
            raise
        finally:
            if self.router is not None:
                self.router.close()

    # -- steps
    def _checks(self, current: dict[str, Any] | None) -> str | None:
        """Contract, smoke and golden set, before any traffic; the failure reason or None."""
        from release.deploy.checks import (
            contract_check,
            fetch_metadata,
            find_golden,
            golden_replay,
            smoke_check,
            temp_dir,
        )

        assert self.candidate is not None
        cand_meta = fetch_metadata(self.candidate.url, self.name)
        checks: list[Check] = []
        if current is not None:
            base_meta = fetch_metadata(current["server"]["url"], self.name)
            checks.append(
                contract_check(base_meta, cand_meta, allow_change=self.options.allow_schema_change)
            )
        if self.options.smoke:
            checks.append(smoke_check(self.candidate.url, self.name, cand_meta))
        if self.options.golden:
            commit = self.registry_state.version_commit(self.name, self.version)
            with temp_dir() as tmp:
                golden = find_golden(self.repo, commit, Path(tmp))
                if golden is None:
                    checks.append(
                        Check(
                            "golden",
                            "skip",
                            f"no golden set recorded at {commit[:10]} "
                            f"(test set and predictions not in git or the DVC cache)",
                        )
                    )
                else:
                    verdict = golden_replay(
                        self.candidate.url,
                        self.name,
                        cand_meta,
                        golden,
                        rows=self.deploy.golden_rows,
                        settings=self.deploy.judge,
                    )
                    checks.extend(verdict.checks)
        for check in checks:
            self.entry["checks"].append(
                {
                    "name": check.name,
                    "status": check.status,
                    "reason": check.reason,
                    "numbers": check.numbers,
                }
            )
            self.emit(event="check", check=check.name, status=check.status, reason=check.reason)
        self.save()
        failed = [c.reason for c in checks if c.status == "fail"]
        return "; ".join(failed) if failed else None

    def _start_replay(self, plan: Plan) -> Any:
        from release.deploy.checks import fetch_metadata
        from release.deploy.replay import Replay, load_rows

        assert self.candidate is not None and self.router is not None
        meta = fetch_metadata(self.candidate.url, self.name)
        datatypes = {str(i["name"]): str(i.get("datatype", "FP64")) for i in meta["inputs"]}
        rows = load_rows(
            str(self.options.replay), list(datatypes), target=self.settings.data.target
        )
        return Replay(
            self.router.url,
            self.name,
            rows,
            rps=self.options.rps,
            datatypes=datatypes,
            max_seconds=plan.max_seconds + 30,
            max_requests=int(self.options.rps * (plan.max_seconds + 30)) + 1,
        ).start()

    def _analyse(self, step: Step) -> str | None:
        """Run one analysed step; the failure reason or None."""
        assert self.router is not None and self.candidate is not None
        judge_settings = self.deploy.judge
        shadow = step.kind == "shadow"
        self.router.configure(
            candidate=self.candidate.url,
            candidate_version=self.version,
            weight=0 if shadow else step.weight,
            mode="shadow" if shadow else "split",
        )
        self.router.new_window()
        started = time.monotonic()
        verdict: Verdict
        stats: dict[str, Any]
        failure: str | None = None
        while True:
            time.sleep(self.deploy.poll_interval)
            elapsed = time.monotonic() - started
            stats = self.router.stats()
            cand = Sample.from_dict(stats["candidate"])
            base = Sample.from_dict(stats["baseline"])
            if not processes.alive(self.candidate):
                reason = "candidate server process exited"
                verdict = Verdict("fail", [reason], [Check("process", "fail", reason)])
            elif shadow:
                verdict = judge_shadow(
                    ShadowStats.from_dict(stats["shadow"]),
                    cand,
                    base,
                    min_requests=step.min_requests,
                    settings=judge_settings,
                )
            else:
                ref = base
                if base.requests < step.min_requests and self.reference is not None:
                    ref = base.merged(self.reference)
                verdict = judge(cand, ref, min_requests=step.min_requests, settings=judge_settings)
            self.emit(
                event="step",
                step=step.label,
                weight=step.weight,
                elapsed=elapsed,
                candidate_requests=cand.requests,
                baseline_requests=base.requests,
                retries=stats.get("retries", 0),
                verdict=verdict.status,
                reasons=verdict.reasons,
            )
            if verdict.status == "fail":
                failure = f"{step.label}: " + "; ".join(verdict.reasons)
                break
            if verdict.status == "pass" and elapsed >= step.min_duration:
                break
            if elapsed >= step.max_duration:
                failure = (
                    f"{step.label}: inconclusive at the time limit ({step.max_duration:g} s): "
                    + "; ".join(verdict.reasons)
                )
                break
        self.reference = base if self.reference is None else base.merged(self.reference)
        if self.reference.requests > MAX_REFERENCE:
            self.reference = base
        self.entry["steps"].append(
            {
                "step": step.label,
                "kind": step.kind,
                "weight": step.weight,
                "seconds": round(elapsed, 3),
                "candidate": _summary(stats["candidate"]),
                "baseline": _summary(stats["baseline"]),
                "retries": stats.get("retries", 0),
                "failed": stats.get("failed", 0),
                "shadow": stats.get("shadow") if shadow else None,
                "verdict": verdict.to_dict(),
                "outcome": "fail" if failure else "pass",
            }
        )
        self.save()
        return failure

    # -- endings
    def _promote(self, plan: Plan, current: dict[str, Any] | None) -> None:
        """Atomic switch: the candidate becomes the router's baseline."""
        assert self.candidate is not None
        if self.router is None:
            self.ensure_router(self.candidate.url, self.version)
        assert self.router is not None
        self.router.configure(
            baseline=self.candidate.url,
            baseline_version=self.version,
            candidate=None,
            weight=0,
            mode="split",
        )
        old_standby = self.record.get("standby")
        if plan.keep_standby and current is not None:
            if old_standby:
                processes.stop(old_standby.get("server"))
            self.record["standby"] = current
        else:
            # Only blue/green keeps a standby; any other promotion retires old ones.
            if current is not None:
                processes.stop(current.get("server"))
            if old_standby:
                processes.stop(old_standby.get("server"))
            self.record["standby"] = None
        self.record["current"] = {"version": self.version, "server": self.candidate.to_dict()}
        self.entry.update(outcome="promoted", reason="all steps passed", finished=_now())
        self.emit(event="done", outcome="promoted", version=self.version)
        self.save()

    def _rollback(
        self, current: dict[str, Any] | None, reason: str, replay: Any = None
    ) -> DeployResult:
        """All traffic to the baseline, stop the candidate, record a registry rollback."""
        if self.router is not None and current is not None:
            try:
                self.router.configure(
                    baseline=current["server"]["url"],
                    baseline_version=current["version"],
                    candidate=None,
                    weight=0,
                    mode="split",
                )
            except DeployError as exc:
                reason += f" (router: {exc.what})"
        if replay is not None:
            self.entry["replay"] = replay.stop().to_dict()
        if self.candidate is not None:
            processes.stop(self.candidate)
        tag = None
        outcome = "failed"
        if current is not None:
            from release.registry.api import rollback

            tag = rollback(
                str(self.repo),
                self.name,
                self.stage,
                to=current["version"],
                reason=f"release deploy rolled back {self.version}: {reason}"[:500],
                push=self.options.push,
            )
            outcome = "rolled_back"
        self.entry.update(outcome=outcome, reason=reason, finished=_now(), rollback_tag=tag)
        self.emit(event="done", outcome=outcome, version=self.version, reason=reason)
        self.save()
        return self._result(outcome, reason, self.entry.get("strategy", ""), None, tag)

    def _result(
        self,
        outcome: str,
        reason: str,
        strategy: str,
        replay: Any = None,
        tag: str | None = None,
    ) -> DeployResult:
        if replay is not None:
            self.entry["replay"] = replay.stop().to_dict()
            self.save()
        router = self.record.get("router")
        return DeployResult(
            name=self.name,
            stage=self.stage,
            strategy=strategy,
            outcome=outcome,
            version=self.version,
            baseline=self.entry.get("baseline"),
            reason=reason,
            router_url=router["url"] if router else None,
            record=str(record_path(self.state_dir, self.name, self.stage)),
            rollback_tag=tag,
            steps=list(self.entry.get("steps", [])),
            checks=list(self.entry.get("checks", [])),
            replay=self.entry.get("replay"),
        )


# -------------------------------------------------------------------------- functions
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
            f"promote one first: release promote {name} VERSION {stage}",
        )
    state_dir = repo / settings.release.deploy.state_dir
    with locked(state_dir, name, stage):
        record = load_record(state_dir, name, stage)
        return Rollout(repo, settings, name, stage, version, state, record, options).run()


def stop_deployment(repo: str | Path, settings: Settings, name: str, stage: str) -> list[int]:
    """Stop the stage's router, server and standby; return the pids stopped."""
    state_dir = Path(repo) / settings.release.deploy.state_dir
    with locked(state_dir, name, stage):
        record = load_record(state_dir, name, stage)
        stopped = []
        for info in (
            record.get("router"),
            (record.get("current") or {}).get("server"),
            (record.get("standby") or {}).get("server"),
        ):
            if info and processes.stop(info):
                stopped.append(int(info["pid"]))
        record["router"] = None
        if record.get("current"):
            record["current"]["server"] = None
            record["current"]["stopped"] = _now()
        record["standby"] = None
        if record.get("history") or record.get("current"):
            save_record(state_dir, record)
        return stopped

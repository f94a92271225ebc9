"""The rollout state machine and its driver, without processes: the pure transition, then
the driver over in-memory launcher, router, record store and registry."""

from __future__ import annotations

import signal
from dataclasses import replace
from typing import Any

import pytest

from release.config import BakeSettings, BlueGreenSettings, CanaryStep, DeploySettings
from release.deploy import machine as m
from release.deploy.driver import Driver, Edges
from release.deploy.judge import Check
from release.deploy.plan import make_plan

DEP = replace(
    DeploySettings(),
    canary=replace(
        DeploySettings().canary,
        steps=[CanaryStep(50, 10, 1.0, 4.0), CanaryStep(100, 10, 1.0, 4.0)],
    ),
    bluegreen=BlueGreenSettings(BakeSettings(duration=2.0, min_requests=10)),
    poll_interval=0.5,
)


def ctx(strategy: str = "canary", baseline: bool = True, hold: bool = False) -> m.Context:
    plan = make_plan(strategy, DEP, has_baseline=baseline)
    return m.Context(plan, baseline, "hold" if hold else "rollback")


def walk(c: m.Context, observations: list[m.Observation]) -> tuple[m.State, list[m.Effect]]:
    """Feed observations from Begin; return the final state and every effect in order."""
    state, effects = m.transition(c, m.State(), m.Begin())
    seen = list(effects)
    for obs in observations:
        state, effects = m.transition(c, state, obs)
        seen += effects
    return state, seen


def names(effects: list[m.Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


OK3 = [m.Checked(), m.Checked(), m.Checked()]
PASS = m.Measured(1.5, "pass")


def test_healthy_canary_walks_every_step_then_promotes():
    state, effects = walk(ctx(), [*OK3, PASS, PASS, m.Finished()])
    assert state.phase == "done" and state.outcome == "promoted"
    assert names(effects) == [
        "Preflight",
        "Launch",
        "Verify",
        "Route",
        "OpenWindow",
        "Measure",
        "Route",
        "OpenWindow",
        "Measure",
        "SwitchToCandidate",
        "Finish",
    ]
    routes = [e for e in effects if isinstance(e, m.Route)]
    assert [r.weight for r in routes] == [50, 100]


def test_pass_before_min_duration_keeps_measuring():
    state, effects = walk(ctx(), [*OK3, m.Measured(0.4, "pass")])
    assert state.phase == "step" and names(effects)[-1] == "Measure"


def test_failed_check_rolls_back_with_a_tag_before_traffic():
    state, effects = walk(ctx(), [m.Checked(), m.Checked(), m.Checked("smoke failed")])
    assert state.phase == "rolling_back" and state.outcome == "rolled_back"
    assert names(effects)[-4:] == ["RouteToBaseline", "StopCandidate", "WriteRollback", "Finish"]
    assert "Route" not in names(effects)
    state, _ = m.transition(ctx(), state, m.Finished())
    assert state.phase == "done"


def test_first_deployment_failure_stops_without_a_tag():
    state, effects = walk(ctx(baseline=False), [m.Checked("policy refused")])
    assert state.outcome == "failed"
    assert names(effects) == ["Preflight", "StopCandidate", "Finish"]
    finish = effects[-1]
    assert isinstance(finish, m.Finish) and finish.action == "stopped"


def test_signal_aborts_with_rollback_and_exit_code():
    state, effects = walk(ctx(), [*OK3, m.Interrupted(signal.SIGTERM)])
    assert state.outcome == "aborted" and "SIGTERM" in state.reason
    assert names(effects)[-4:] == ["RouteToBaseline", "StopCandidate", "WriteRollback", "Finish"]
    state, _ = m.transition(ctx(), state, m.Finished())
    assert state.phase == "aborted"
    assert m.exit_code("aborted", "rolled_back", signal.SIGTERM) == 143
    assert m.exit_code("aborted", "rolled_back", signal.SIGINT) == 130
    # On a first deployment there is nothing to roll back to: no tag.
    _, first = walk(ctx(baseline=False), [m.Checked(), m.Interrupted(signal.SIGINT)])
    assert "WriteRollback" not in names(first)


def test_signals_never_interrupt_an_ending():
    state, _ = walk(ctx(), [m.Checked("x")])
    same, effects = m.transition(ctx(), state, m.Interrupted(signal.SIGTERM))
    assert same == state and effects == []


def test_dead_baseline_never_promotes_and_keeps_the_candidate_serving():
    sick = m.Measured(2.0, "pass", baseline_healthy=False, baseline_problem="process exited")
    state, effects = walk(ctx(), [*OK3, sick])
    assert state.phase == "holding" and state.outcome == "failed"
    assert state.reason == "baseline unhealthy: process exited"
    finish = effects[-1]
    assert isinstance(finish, m.Finish) and finish.action == "held"
    assert "StopCandidate" not in names(effects) and "SwitchToCandidate" not in names(effects)
    assert m.exit_code("failed", "held") == 1


def test_dead_candidate_and_failed_verdict_roll_back():
    state, _ = walk(ctx(), [*OK3, m.Measured(0.5, "inconclusive", candidate_alive=False)])
    assert state.outcome == "rolled_back" and "exited" in state.reason
    state, _ = walk(ctx(), [*OK3, m.Measured(0.5, "fail", ("error rate 50%",))])
    assert state.reason == "canary 50%: error rate 50%"


def test_a_model_behaviour_failure_decides_at_min_duration_an_urgent_one_at_once():
    shifted = ("prediction distribution shifted",)
    early = m.Measured(0.5, "fail", shifted, urgent=False)
    state, effects = walk(ctx(), [*OK3, early])
    assert state.phase == "step" and names(effects)[-1] == "Measure"  # one look is no verdict
    state, _ = walk(ctx(), [*OK3, early, m.Measured(0.7, "pass"), PASS, PASS, m.Finished()])
    assert state.outcome == "promoted"
    state, _ = walk(ctx(), [*OK3, early, m.Measured(1.0, "fail", shifted, urgent=False)])
    assert state.outcome == "rolled_back" and state.reason.endswith("shifted")
    state, _ = walk(ctx(), [*OK3, m.Measured(0.2, "fail", ("error rate 50%",), urgent=True)])
    assert state.outcome == "rolled_back" and "error rate" in state.reason


def test_verdict_urgency_by_the_checks_that_failed():
    from release.deploy.verdict import Check, Verdict

    def verdict(*failing: str) -> Verdict:
        checks = [Check(name, "fail", name) for name in failing]
        return Verdict("fail" if failing else "pass", list(failing), checks)

    assert not verdict("predictions", "accuracy").urgent
    assert not verdict("model_error").urgent and not verdict().urgent
    assert verdict("errors").urgent and verdict("predictions", "latency").urgent


def test_inconclusive_is_its_own_outcome_rollback_or_hold():
    late = m.Measured(4.0, "inconclusive", ("too few requests",))
    state, effects = walk(ctx(), [*OK3, late])
    assert state.outcome == "inconclusive" and "inconclusive at the time limit" in state.reason
    assert "WriteRollback" in names(effects)
    assert m.exit_code("inconclusive", "rolled_back") == 1
    state, effects = walk(ctx(hold=True), [*OK3, late])
    assert state.phase == "holding" and state.outcome == "inconclusive"
    assert names(effects)[-1] == "Finish" and "WriteRollback" not in names(effects)
    assert "RouteToBaseline" not in names(effects)
    assert m.exit_code("inconclusive", "held") == 3


def test_bluegreen_bakes_after_the_switch_and_switches_back_on_failure():
    c = ctx("bluegreen")
    state, effects = walk(c, OK3)
    # First the old version's pre-switch window: enough requests, or the time is up.
    assert state.phase == "step" and names(effects)[-2:] == ["OpenWindow", "Measure"]
    state, effects = m.transition(c, state, m.Measured(0.5, "inconclusive"))
    assert state.phase == "step" and names(effects) == ["Measure"]
    state, effects = m.transition(c, state, m.Measured(0.9, "pass"))
    assert state.phase == "baking" and state.switched
    assert names(effects)[-3:] == ["SwitchToCandidate", "OpenWindow", "Measure"]
    switch = effects[-3]
    assert isinstance(switch, m.SwitchToCandidate) and switch.keep_standby
    # A pass before the bake's duration keeps baking; a fail switches back at once.
    state, effects = m.transition(c, state, m.Measured(1.0, "pass"))
    assert state.phase == "baking"
    state, effects = m.transition(c, state, m.Measured(1.2, "fail", ("error rate 51%",)))
    assert state.outcome == "rolled_back" and state.reason == "bake: error rate 51%"
    assert effects[0] == m.RouteToBaseline(switched=True)
    assert "WriteRollback" in names(effects)
    # Baked the whole window: promoted (a quiet pre-switch window only waits its time).
    state, effects = walk(c, [*OK3, m.Measured(2.0, "inconclusive"), m.Measured(2.0, "pass")])
    assert state.outcome == "promoted" and "baked 2 s" in state.reason


def test_direct_and_shadow_plans():
    state, effects = walk(ctx("direct"), [*OK3, m.Finished()])
    assert state.outcome == "promoted" and "Route" not in names(effects)
    _, effects = walk(ctx("shadow"), OK3)
    route = next(e for e in effects if isinstance(e, m.Route))
    assert route.mode == "shadow" and route.weight == 0


def test_crash_unwinds_and_bad_observations_are_refused():
    state, _ = walk(ctx(), [*OK3, m.Crashed("router unreachable")])
    assert state.outcome == "rolled_back" and "router unreachable" in state.reason
    with pytest.raises(ValueError):
        m.transition(ctx(), m.State("checks", 0), m.Measured(1.0, "pass"))


# ------------------------------------------------------------------------ driver
class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[int] = []
        self.dead: set[int] = set()

    def server(self, version: str, cancelled: Any = None) -> dict[str, Any]:
        pid = 1000 + len(self.started)
        self.started.append(version)
        return {"pid": pid, "url": f"http://127.0.0.1:{pid}", "port": pid}

    def router(self, port: int, baseline_url: str, baseline_version: str) -> dict[str, Any]:
        return {"pid": 1, "url": f"http://127.0.0.1:{port}", "port": port}

    def alive(self, info: dict[str, Any] | None) -> bool:
        return bool(info) and info["pid"] not in self.dead and info["pid"] not in self.stopped

    def stop(self, info: dict[str, Any] | None) -> bool:
        if info:
            self.stopped.append(info["pid"])
        return bool(info)


class FakeRouter:
    url = "http://127.0.0.1:9"

    def __init__(self, windows: list[dict[str, Any]]) -> None:
        self.windows = windows
        self.config: dict[str, Any] = {}

    def configure(self, **changes: Any) -> dict[str, Any]:
        self.config.update(changes)
        return self.config

    def stats(self) -> dict[str, Any]:
        return self.windows[0] if len(self.windows) == 1 else self.windows.pop(0)

    def new_window(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def window(requests: int, errors: int = 0, healthy: bool = True) -> dict[str, Any]:
    """A router window where only the candidate has ``errors``."""
    ok = requests - errors
    side = {
        "requests": requests,
        "errors": errors,
        "latencies_ms": [5.0] * ok,
        "predictions": [i % 2 for i in range(ok)],
        "scores": [0.2 + 0.6 * (i % 2) for i in range(ok)],
    }
    base = {**side, "errors": 0, "latencies_ms": [5.0] * requests}
    base["predictions"] = [i % 2 for i in range(requests)]
    base["scores"] = [0.2 + 0.6 * (i % 2) for i in range(requests)]
    return {
        "candidate": side,
        "baseline": base,
        "shadow": {},
        "retries": 0,
        "health": {"baseline": {"healthy": healthy, "last_error": "refused"}},
    }


def drive(c: m.Context, windows: list[dict[str, Any]], *, checks=(), signal_at: int | None = None):
    launcher, router = FakeLauncher(), FakeRouter(windows)
    saved: list[dict[str, Any]] = []
    tags: list[tuple[str, str]] = []
    record: dict[str, Any] = {
        "current": {"version": "v1", "server": {"pid": 7, "url": "http://127.0.0.1:7"}},
        "standby": None,
        "router": {"pid": 1, "url": router.url, "port": 9},
        "history": [],
    }
    entry: dict[str, Any] = {"outcome": "running", "checks": [], "steps": []}
    record["history"].append(entry)
    clock = [0.0]
    driver: Driver

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        if signal_at is not None and clock[0] >= signal_at:
            driver.interrupt(signal.SIGTERM)

    edges = Edges(
        launcher=launcher,
        store=type("S", (), {"save": lambda self, r: saved.append(r) or "x"})(),
        registry=type("R", (), {"rollback": lambda self, to, why: tags.append((to, why)) or "t"})(),
        connect=lambda info: router,
        preflight=lambda: [],
        checks=lambda cand, base: list(checks),
        emit=lambda **e: None,
        sleep=sleep,
        clock=lambda: clock[0],
    )
    driver = Driver(c, record, entry, "v2", edges, settings=DEP, router_port=9, identity={"pid": 3})
    final = driver.run()
    return final, record, entry, launcher, router, tags


def test_driver_promotes_a_healthy_canary_and_retires_the_baseline():
    final, record, entry, launcher, router, tags = drive(ctx(), [window(20)])
    assert final.outcome == "promoted" and entry["outcome"] == "promoted"
    assert [s["step"] for s in entry["steps"]] == ["canary 50%", "canary 100%"]
    assert record["current"]["version"] == "v2" and record["controller"] is None
    assert router.config["baseline"] == "http://127.0.0.1:1000" and router.config["weight"] == 0
    assert 7 in launcher.stopped and tags == []


def test_driver_rolls_back_on_errors_and_a_failed_check():
    _final, record, entry, launcher, router, tags = drive(ctx(), [window(40, errors=20)])
    assert entry["outcome"] == "rolled_back" and "error rate" in entry["reason"]
    assert router.config["baseline"] == "http://127.0.0.1:7" and router.config["candidate"] is None
    assert 1000 in launcher.stopped and tags[0][0] == "v1"
    assert record["current"]["version"] == "v1" and record["candidate"] is None
    _, _, entry, _, _, tags = drive(ctx(), [window(20)], checks=[Check("smoke", "fail", "500s")])
    assert entry["outcome"] == "rolled_back" and entry["steps"] == [] and tags


def test_driver_turns_sigterm_into_an_aborted_rollback():
    final, _record, entry, launcher, router, tags = drive(ctx(), [window(2)], signal_at=1)
    assert final.phase == "aborted" and entry["outcome"] == "aborted"
    assert entry["signal"] == signal.SIGTERM and "SIGTERM" in entry["reason"]
    assert router.config["candidate"] is None and 1000 in launcher.stopped and tags


def test_driver_holds_a_candidate_when_the_baseline_is_unhealthy():
    _final, record, entry, launcher, _router, tags = drive(ctx(), [window(20, healthy=False)])
    assert entry["outcome"] == "failed" and entry["action"] == "held"
    assert entry["reason"].startswith("baseline unhealthy: router health checks fail")
    assert record["candidate"]["version"] == "v2" and 1000 not in launcher.stopped
    assert tags == [] and record["current"]["version"] == "v1"


def test_driver_bake_switches_back_to_the_warm_old_version():
    good, bad = window(30), window(30, errors=15)
    # After the switch the router's baseline slot holds the candidate.
    bad["baseline"], bad["candidate"] = bad["candidate"], {"requests": 0}
    _final, record, entry, launcher, router, tags = drive(ctx("bluegreen"), [good, good, bad])
    assert entry["outcome"] == "rolled_back" and entry["reason"].startswith("bake:")
    assert record["current"]["version"] == "v1" and record["standby"] is None
    assert router.config["baseline"] == "http://127.0.0.1:7"
    assert 1000 in launcher.stopped and 7 not in launcher.stopped and tags


# ---------------------------------------------------------------- recovery, settings
def test_reconcile_switches_a_killed_bake_back_and_closes_the_entry(tmp_path):
    from release.deploy.recovery import is_stale, reconcile

    old = {"version": "v1", "server": {"pid": 2**22 + 1, "cmd": ["x"], "port": 1}}
    new = {"version": "v2", "server": {"pid": 2**22 + 2, "cmd": ["y"], "port": 2}}
    record = {
        "name": "model",
        "stage": "prod",
        "current": new,
        "standby": old,
        "candidate": new,
        "router": None,
        "controller": {"pid": 2**22 + 3, "started": 1.0},  # gone
        "history": [{"outcome": "running", "candidate": "v2", "switched": True}],
    }
    assert is_stale(record)
    tags = []
    entry = reconcile(
        tmp_path,
        tmp_path,
        record,
        registry_version=lambda: "v2",
        rollback=lambda to, why: tags.append((to, why)) or "model#prod#9",
    )
    assert entry is not None and entry["outcome"] == "aborted"
    assert record["current"] == old and record["standby"] is None
    assert record["candidate"] is None and record["controller"] is None
    assert tags[0][0] == "v1" and "aborted" in tags[0][1]
    assert entry["rollback_tag"] == "model#prod#9" and not is_stale(record)
    # A running controller (this process) is never "stale".
    from release.deploy import processes

    live = {**record, "controller": processes.identity(), "history": [{"outcome": "running"}]}
    assert not is_stale(live)


def test_deploy_settings_validate_ports_stages_and_the_shadow_default():
    from release.config import settings_from_dict
    from release.deploy.judge import Sample, ShadowStats, judge_shadow
    from release.errors import ConfigError

    auto = settings_from_dict({"release": {"deploy": {"router_port": "auto"}}})
    assert auto.release.deploy.router_port == "auto"
    for bad in (80, "any"):
        with pytest.raises(ConfigError, match="router_port"):
            settings_from_dict({"release": {"deploy": {"router_port": bad}}})
    held = settings_from_dict({"release": {"deploy": {"on_inconclusive": {"prod": "hold"}}}})
    assert held.release.deploy.on_inconclusive == {"prod": "hold"}
    with pytest.raises(ConfigError, match="on_inconclusive"):
        settings_from_dict({"release": {"deploy": {"on_inconclusive": {"qa": "hold"}}}})
    with pytest.raises(ConfigError):
        settings_from_dict({"release": {"deploy": {"on_inconclusive": {"prod": "pray"}}}})
    # Shadow's defaults can fail on probabilities alone (1.0 never could).
    judge_settings = DeploySettings().judge
    same = Sample(requests=100, latencies_ms=[5.0] * 100)
    shadow = ShadowStats(compared=100, agree=100, max_proba_diff=0.6)
    verdict = judge_shadow(shadow, same, same, min_requests=50, settings=judge_settings)
    assert verdict.status == "fail" and "probability difference" in verdict.reasons[0]


def test_router_port_is_checked_before_anything_and_auto_picks_a_free_one():
    import socket

    from release.config import Settings
    from release.deploy.controller import router_port
    from release.errors import DeployError

    base = Settings()
    auto = replace(
        base,
        release=replace(base.release, deploy=replace(base.release.deploy, router_port="auto")),
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(DeployError, match=f"router port {port} .*already in use"):
            router_port(base, "prod", {}, port)
        with pytest.raises(DeployError) as info:
            router_port(base, "prod", {"router_port": port}, None)
        assert "router_port: auto" in str(info.value.fix)
        # auto: the remembered port when free, another free one when it was taken.
        assert router_port(auto, "prod", {"router_port": port}, None) != port
    free = router_port(auto, "prod", {}, None)
    assert 1024 <= free <= 65535
    assert router_port(auto, "prod", {"router_port": free}, None) == free

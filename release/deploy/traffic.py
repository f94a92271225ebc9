"""A rollout's traffic effects: the router started or reconnected, the candidate's weight
or mirror, the atomic switch to the candidate and the switch back, replayed traffic.

:class:`Traffic` keeps the deployment record's serving fields (``router``, ``current``,
``standby``) in step with what the router does; :class:`release.deploy.driver.Driver`
decides when, from the state machine's effects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from release.deploy.effects import ProcessLauncher, RouterAdmin, all_traffic_to
from release.deploy.judge import Sample


class Traffic:
    """The router of one rollout and the record's view of who serves.

    ``baseline`` is the version serving before the rollout (``{"version", "server"}``,
    None on a first deployment); it stays the one to switch back to after the switch.
    """

    def __init__(
        self,
        record: dict[str, Any],
        entry: dict[str, Any],
        launcher: ProcessLauncher,
        connect: Callable[[dict[str, Any]], RouterAdmin],
        save: Callable[[], None],
        *,
        router_port: int,
        start_replay: Callable[[str], Any] | None = None,
    ) -> None:
        self.record = record
        self.entry = entry
        self.launcher = launcher
        self.connect = connect
        self.save = save
        self.router_port = router_port
        self.start_replay_at = start_replay
        self.baseline: dict[str, Any] | None = record.get("current")
        self.router: RouterAdmin | None = None
        self.replay: Any = None
        # The old version's traffic before the switch: what a bake is judged against.
        self.bake_reference: Sample | None = None

    def ensure_router(self, url: str, version: str) -> RouterAdmin:
        """The record's router when it is alive, else a new one serving ``url``."""
        info = self.record.get("router")
        if info and self.launcher.alive(info):
            self.router = self.router or self.connect(info)
            return self.router
        info = self.launcher.router(self.router_port, url, version)
        self.record["router"] = info
        self.record["router_port"] = info["port"]
        self.save()
        self.router = self.connect(info)
        return self.router

    def start_replay(self) -> None:
        """Start the replayed traffic once, when configured and a router exists."""
        if self.replay is None and self.start_replay_at is not None and self.router:
            self.replay = self.start_replay_at(self.router.url)

    def stop_replay(self) -> dict[str, Any] | None:
        """Stop the replay; what it sent (None without one)."""
        if self.replay is None:
            return None
        done = self.replay.stop().to_dict()
        self.replay = None
        return dict(done)

    def route(self, candidate: dict[str, Any], version: str, weight: float, mode: str) -> None:
        """``weight`` % of inferences (split) or a mirror of all (shadow) to the candidate."""
        assert self.router is not None
        self.router.configure(
            candidate=candidate["url"], candidate_version=version, weight=weight, mode=mode
        )
        self.start_replay()

    def switch(self, candidate: dict[str, Any], version: str, keep_standby: bool) -> None:
        """Atomic switch: the candidate serves everything; the old version kept warm at
        weight 0 (``keep_standby``) or stopped."""
        router = self.router or self.ensure_router(candidate["url"], version)
        old = self.baseline
        if old is not None:
            self.bake_reference = Sample.from_dict(router.stats()["baseline"])
        warm = old if keep_standby else None
        # A warm old version stays in the router at weight 0: inferences that fail on the
        # new one are retried there, so a bad bake costs clients nothing.
        router.configure(
            baseline=candidate["url"],
            baseline_version=version,
            candidate=warm["server"]["url"] if warm else None,
            candidate_version=warm["version"] if warm else None,
            weight=0,
            mode="split",
        )
        old_standby = self.record.get("standby")
        if old_standby:
            self.launcher.stop(old_standby.get("server"))
        if warm is not None:
            self.record["standby"] = warm
        else:
            if old is not None:
                self.launcher.stop(old.get("server"))
            self.record["standby"] = None
        self.record["current"] = {"version": version, "server": candidate}
        self.entry["switched"] = True
        self.save()

    def to_baseline(self, switched: bool) -> None:
        """All traffic back to the old version (after the switch: atomically, to the warm
        standby)."""
        if self.baseline is None:
            return
        if switched:
            self.record["current"], self.record["standby"] = self.baseline, None
            self.entry["switched"] = False
        if self.router is None:
            return
        all_traffic_to(self.router, self.baseline["server"], self.baseline["version"])
        self.save()

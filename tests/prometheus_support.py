"""A real Prometheus for the tests: Debian's ``prometheus`` on a free 127.0.0.1 port, with a
temporary config and storage, queried through its HTTP API.

Outside CI the tests that need it skip when ``prometheus`` is missing; under CI=true they
fail (``.ci/run`` installs it with apt-get).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from serve_support import free_port


def prometheus_binary() -> str:
    """The prometheus executable; skip (fail under CI=true) when it is not installed."""
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None
    )
    if found is None:
        message = "the Prometheus tests need prometheus (apt-get install -y prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


class Prometheus:
    """One Prometheus process scraping ``targets`` every ``interval`` seconds."""

    def __init__(
        self, workdir: Path, targets: list[str], interval: float = 1.0, wait: bool = True
    ) -> None:
        self.binary = prometheus_binary()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        # JSON is YAML: no YAML writer needed for a config this small.
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": f"{interval:g}s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "release-serve",
                            "scrape_interval": f"{interval:g}s",
                            "scrape_timeout": f"{min(interval, 1.0):g}s",
                            "static_configs": [{"targets": targets}],
                        }
                    ],
                }
            )
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until ``/-/ready`` answers 200 (AssertionError with the log otherwise)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited {self.proc.returncode}: {self._log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"prometheus not ready after {timeout} s: {self._log()}")

    def _log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-2000:]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one result) of ``promql``; AssertionError when
        Prometheus refuses the query."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{promql}: {exc.read().decode()[:500]}") from None
        assert body["status"] == "success", body
        data = body["data"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def value(self, promql: str, at: float | None = None) -> float | None:
        """The first result's value as a float, or None for an empty result."""
        result = self.query(promql, at)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, predicate: Any, timeout: float = 20.0) -> float:
        """Poll until ``predicate(value)`` holds for ``promql``; the value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(promql)
            if value is not None and predicate(value):
                return value
            time.sleep(0.2)
        raise AssertionError(f"{promql} = {value} after {timeout} s: {self._log()}")

    def stop(self) -> None:
        """Terminate Prometheus and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

"""Background processes of the local target: start, wait until ready, find, stop.

A deployment outlives the ``release deploy`` command, so its servers and router run in
their own sessions and the deployment record keeps each one's pid, start time (psutil's
``create_time``) and exact command line. A pid is only signalled when the process still
has the recorded start time and its command line (psutil) still equals the recorded one,
so a recycled pid never gets killed by mistake.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from release.errors import DeployError

# Children started by this Python process, so they can be reaped (no zombies in tests).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}


@dataclass(frozen=True)
class Managed:
    """A started process: pid, exact command, port and URL on 127.0.0.1."""

    pid: int
    cmd: list[str]
    port: int
    log: str
    started: float | None = None

    @property
    def url(self) -> str:
        """The process's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for deployment records."""
        return {
            "pid": self.pid,
            "cmd": self.cmd,
            "port": self.port,
            "url": self.url,
            "log": self.log,
            "started": self.started,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Managed:
        """Read back from a deployment record."""
        return cls(
            int(data["pid"]),
            [str(c) for c in data["cmd"]],
            int(data["port"]),
            str(data.get("log", "")),
            float(data["started"]) if data.get("started") is not None else None,
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """True when something listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start(
    cmd: list[str],
    *,
    port: int,
    log_path: Path,
    ready_path: str,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Managed:
    """Start ``cmd`` in its own session, logging to ``log_path``; wait until
    ``GET ready_path`` answers 200, or stop it and raise DeployError with the log's tail
    (also when ``cancelled()`` turns true while it waits)."""
    import httpx

    if port_in_use(port):
        raise DeployError(f"port {port} on 127.0.0.1 is already in use", "choose another --port")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **THREAD_ENV, **(env or {})}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    managed = Managed(proc.pid, list(cmd), port, str(log_path), start_time(proc.pid))
    url = managed.url + ready_path
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if cancelled is not None and cancelled():
                stop(managed)
                raise DeployError(f"interrupted while {cmd[-1] if cmd else 'it'} started")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return managed
            time.sleep(0.05)
    code = proc.poll()
    stop(managed)
    tail = _tail(log_path)
    what = f"{cmd[-1] if cmd else 'process'} did not become ready on port {port}"
    if code is not None:
        what = f"process exited with code {code} before it was ready on port {port}"
    raise DeployError(f"{what}: {tail}", f"see {log_path}")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def start_time(pid: int) -> float | None:
    """The process's creation time (psutil), or None when it is gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def identity() -> dict[str, Any]:
    """This process's pid and start time, for records (see :func:`identity_alive`)."""
    return {"pid": os.getpid(), "started": start_time(os.getpid())}


def identity_alive(info: dict[str, Any] | None) -> bool:
    """True when the process recorded by :func:`identity` still runs (same start time)."""
    if not info or not isinstance(info.get("pid"), int):
        return False
    started = start_time(int(info["pid"]))
    if started is None:
        return False
    recorded = info.get("started")
    return recorded is None or abs(started - float(recorded)) < 0.05


def alive(managed: Managed | dict[str, Any] | None) -> bool:
    """True when the recorded process still runs the recorded command."""
    if managed is None:
        return False
    if isinstance(managed, dict):
        managed = Managed.from_dict(managed)
    child = _CHILDREN.get(managed.pid)
    if child is not None and child.poll() is not None:
        return False
    if managed.started is not None:
        started = start_time(managed.pid)
        if started is None or abs(started - managed.started) >= 0.05:
            return False
    try:  # psutil: the same answer on Linux, macOS and Windows (no /proc there)
        proc = psutil.Process(managed.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc.cmdline() == managed.cmd
    except (psutil.Error, OSError):
        return False


def stop(managed: Managed | dict[str, Any] | None, timeout: float = 10.0) -> bool:
    """Stop a recorded process (SIGTERM, then SIGKILL); True when one was stopped."""
    if managed is None:
        return False
    if isinstance(managed, dict):
        managed = Managed.from_dict(managed)
    if not alive(managed):
        _reap(managed.pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(managed.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(managed.pid)
        if not alive(managed):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(managed.pid, signal.SIGKILL)
    _reap(managed.pid, wait=True)
    return True


def _reap(pid: int, wait: bool = False) -> None:
    child = _CHILDREN.get(pid)
    if child is None:
        return
    if wait:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)
    if child.poll() is not None:
        _CHILDREN.pop(pid, None)

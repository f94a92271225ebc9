"""Replay load: rows of an evaluation set sent as V2 inferences at a steady rate.

Each request carries one row and its label (``parameters.labels``), so the router can
measure accuracy on live traffic. The load is bounded in count and time and only ever
targets 127.0.0.1.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release.errors import DataError, UsageError

_LOCAL = re.compile(r"^http://127\.0\.0\.1:\d{1,5}$")


@dataclass
class Rows:
    """Feature columns (and optional labels) ready to be sent row by row."""

    columns: dict[str, list[Any]]
    labels: list[Any] | None = None

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def request(self, start: int, stop: int, datatypes: dict[str, str]) -> dict[str, Any]:
        """A V2 inference request for rows ``start:stop`` (one input per column)."""
        inputs = []
        for name, values in self.columns.items():
            datatype = datatypes.get(name, "FP64")
            data = [_json_value(v, datatype) for v in values[start:stop]]
            inputs.append({"name": name, "shape": [len(data)], "datatype": datatype, "data": data})
        body: dict[str, Any] = {"inputs": inputs}
        if self.labels is not None:
            body["parameters"] = {"labels": [_plain(v) for v in self.labels[start:stop]]}
        return body


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _json_value(value: Any, datatype: str) -> Any:
    value = _plain(value)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if datatype == "BYTES":
        return str(value)
    return value


def load_rows(
    path: str | Path,
    features: list[str],
    *,
    target: str | None = None,
    limit: int | None = None,
) -> Rows:
    """Read ``features`` (and ``target`` when present) from a Parquet or CSV file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"replay file {path} not found", "pass an existing Parquet or CSV file")
    try:
        frame = pd.read_parquet(path) if path.suffix != ".csv" else pd.read_csv(path)
    except Exception as exc:
        raise DataError(f"cannot read {path}: {exc}", "pass a Parquet or CSV file") from None
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} lacks the model's input column(s) {', '.join(missing)}",
            "replay rows of the evaluation set",
        )
    if limit is not None:
        frame = frame.head(limit)
    columns = {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in features}
    labels = frame[target].tolist() if target and target in frame.columns else None
    return Rows(columns, labels)


@dataclass
class ReplayStats:
    """What a replay sent and how it went (counted by the client)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "statuses": self.statuses}


class Replay:
    """Send rows one per request at ``rps`` in a background thread, bounded in count
    and time; stop with :meth:`stop`."""

    def __init__(
        self,
        url: str,
        model: str,
        rows: Rows,
        *,
        rps: float,
        datatypes: dict[str, str],
        max_requests: int = 100_000,
        max_seconds: float = 600.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not _LOCAL.match(url):
            raise UsageError(f"replay target {url!r} is not on 127.0.0.1", "replay locally only")
        if not 0 < rps <= 1000:
            raise UsageError(f"--rps {rps} is out of range", "use a rate between 0 and 1000")
        if len(rows) == 0:
            raise UsageError("the replay file has no rows", "pass a file with rows")
        self.url = f"{url}/v2/models/{model}/infer"
        self.rows = rows
        self.rps = rps
        self.datatypes = datatypes
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.headers = headers or {}
        self.stats = ReplayStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="release-replay", daemon=True)

    def start(self) -> Replay:
        """Start sending."""
        self._thread.start()
        return self

    def stop(self) -> ReplayStats:
        """Stop sending and return the counts."""
        self._stop.set()
        self._thread.join(30)
        return self.stats

    def _run(self) -> None:
        import httpx

        interval = 1.0 / self.rps
        started = time.monotonic()
        n = len(self.rows)
        with httpx.Client(timeout=30.0, trust_env=False) as client:
            i = 0
            while not self._stop.is_set():
                if self.stats.sent >= self.max_requests:
                    break
                if time.monotonic() - started >= self.max_seconds:
                    break
                row = i % n
                body = self.rows.request(row, row + 1, self.datatypes)
                self.stats.sent += 1
                try:
                    resp = client.post(self.url, json=body, headers=self.headers)
                    key = str(resp.status_code)
                    if resp.status_code == 200:
                        self.stats.ok += 1
                    else:
                        self.stats.failed += 1
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                    self.stats.failed += 1
                self.stats.statuses[key] = self.stats.statuses.get(key, 0) + 1
                i += 1
                next_at = started + i * interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))

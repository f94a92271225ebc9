"""Golden signals of a model server from its Prometheus ``/metrics`` text.

Latency (p50/p99 from the ``model_request_duration_seconds`` histogram buckets, linearly
interpolated inside a bucket as PromQL's ``histogram_quantile`` does), traffic (requests,
and requests per second over a window), errors (the share of 5xx answers; 4xx answers are
the client's fault and reported apart) and saturation (in-flight requests, process CPU and
resident memory). One scrape gives totals since the server started; two scrapes ``window``
seconds apart give the signals of that window. Thresholds: ``monitor.signals``.
"""

from __future__ import annotations

import math
import shlex
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.deploy.records import record_path
from release.errors import CheckFailed, DataError, UsageError

if TYPE_CHECKING:
    from release.config import SignalSettings

REQUESTS = "model_requests_total"
DURATION = "model_request_duration_seconds"
IN_FLIGHT = "model_in_flight_requests"
CPU = "process_cpu_seconds_total"
MEMORY = "process_resident_memory_bytes"

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    """One sample of the exposition: metric name, labels, value."""

    name: str
    labels: Labels
    value: float

    def label(self, key: str) -> str | None:
        """The value of one label, or None."""
        return dict(self.labels).get(key)


@dataclass
class Check:
    """One threshold check."""

    name: str
    value: float | None
    limit: float
    passed: bool
    note: str = ""


@dataclass
class Signals:
    """The golden signals of one server (or one model version on it)."""

    requests: float
    server_errors: float
    client_errors: float
    error_rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    in_flight: float | None
    cpu_seconds: float | None
    memory_mb: float | None
    window_seconds: float | None = None
    rps: float | None = None
    cpu_percent: float | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SignalReport:
    """Signals, checks and the verdict: pass, breach or inconclusive."""

    source: str
    signals: Signals
    checks: list[Check]
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record."""
        return asdict(self)


# --------------------------------------------------------------------------- parsing
def parse_metrics(text: str) -> list[Sample]:
    """Parse Prometheus text exposition into samples; DataError if it is not that format."""
    from prometheus_client.parser import text_string_to_metric_families

    out: list[Sample] = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out.append(Sample(s.name, tuple(sorted(s.labels.items())), float(s.value)))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise DataError(
            f"metrics are not in Prometheus text format ({str(exc)[:80]})",
            "point --url at the server's /metrics endpoint",
        ) from None
    return out


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The q-quantile from cumulative ``(le, count)`` buckets, as PromQL computes it."""
    pts = sorted(buckets)
    if not pts or pts[-1][1] <= 0:
        return None
    total = pts[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in pts:
        if count >= rank:
            if math.isinf(le):
                return prev_le  # in the +Inf bucket: the highest finite bound
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def _sum(samples: Iterable[Sample], name: str, **match: str) -> float | None:
    vals = [
        s.value
        for s in samples
        if s.name == name and all(s.label(k) == v for k, v in match.items())
    ]
    return sum(vals) if vals else None


def _delta(after: list[Sample], before: list[Sample] | None) -> list[Sample]:
    """Counters and histograms as increases since ``before`` (gauges stay as they are)."""
    if before is None:
        return after
    old = {(s.name, s.labels): s.value for s in before}
    out = []
    for s in after:
        cumulative = s.name.endswith(("_total", "_bucket", "_count", "_sum"))
        value = s.value - old.get((s.name, s.labels), 0.0) if cumulative else s.value
        out.append(Sample(s.name, s.labels, max(value, 0.0) if cumulative else value))
    return out


def _version_signals(
    samples: list[Sample], model: str | None, version: str | None
) -> dict[str, Any]:
    match = {k: v for k, v in (("model", model), ("version", version)) if v is not None}
    total = _sum(samples, REQUESTS, **match) or 0.0
    statuses: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == REQUESTS and all(s.label(k) == v for k, v in match.items()):
            statuses[s.label("status") or ""] += s.value
    server = sum(v for k, v in statuses.items() if k.startswith("5"))
    client = sum(v for k, v in statuses.items() if k.startswith("4"))
    buckets: dict[float, float] = defaultdict(float)
    for s in samples:
        if s.name == DURATION + "_bucket" and all(s.label(k) == v for k, v in match.items()):
            le = s.label("le")
            if le is not None:
                buckets[float(le)] += s.value
    count = _sum(samples, DURATION + "_count", **match)
    dsum = _sum(samples, DURATION + "_sum", **match)
    p50 = histogram_quantile(0.5, buckets.items())
    p99 = histogram_quantile(0.99, buckets.items())
    return {
        "model": model,
        "version": version,
        "requests": total,
        "server_errors": server,
        "client_errors": client,
        "error_rate": server / total if total else None,
        "p50_ms": p50 * 1000 if p50 is not None else None,
        "p99_ms": p99 * 1000 if p99 is not None else None,
        "mean_ms": dsum / count * 1000 if count and dsum is not None else None,
        "in_flight": _sum(samples, IN_FLIGHT, **match),
    }


def golden_signals(
    after: list[Sample], before: list[Sample] | None = None, window: float | None = None
) -> Signals:
    """Golden signals from one scrape (totals) or two (the window between them)."""
    samples = _delta(after, before)
    overall = _version_signals(samples, None, None)
    pairs = sorted(
        {(s.label("model") or "", s.label("version") or "") for s in samples if s.name == REQUESTS}
    )
    versions = [_version_signals(samples, m, v) for m, v in pairs]
    cpu = _sum(samples, CPU)
    mem = _sum(after, MEMORY)
    win = window if before is not None and window else None
    return Signals(
        requests=overall["requests"],
        server_errors=overall["server_errors"],
        client_errors=overall["client_errors"],
        error_rate=overall["error_rate"],
        p50_ms=overall["p50_ms"],
        p99_ms=overall["p99_ms"],
        mean_ms=overall["mean_ms"],
        in_flight=overall["in_flight"],
        cpu_seconds=cpu,
        memory_mb=mem / 2**20 if mem is not None else None,
        window_seconds=win,
        rps=overall["requests"] / win if win else None,
        cpu_percent=100 * cpu / win if win and cpu is not None else None,
        versions=versions,
    )


def check_signals(signals: Signals, settings: SignalSettings, source: str = "") -> SignalReport:
    """Compare signals with thresholds. Too little traffic is inconclusive, never a pass."""
    checks: list[Check] = []

    def limit(name: str, value: float | None, lim: float, *, minimum: bool = False) -> None:
        if value is None:
            checks.append(Check(name, None, lim, True, "not exposed"))
            return
        ok = value >= lim if minimum else value <= lim
        checks.append(Check(name, value, lim, ok))

    enough = signals.requests >= settings.min_requests
    checks.append(
        Check(
            "requests",
            signals.requests,
            settings.min_requests,
            enough,
            "" if enough else "too few requests to judge",
        )
    )
    if enough:
        limit("error_rate", signals.error_rate, settings.max_error_rate)
        limit("p50_ms", signals.p50_ms, settings.max_p50_ms)
        limit("p99_ms", signals.p99_ms, settings.max_p99_ms)
    limit("in_flight", signals.in_flight, settings.max_in_flight)
    limit("memory_mb", signals.memory_mb, settings.max_memory_mb)
    breached = any(not c.passed for c in checks if c.name != "requests")
    verdict = "breach" if breached else ("pass" if enough else "inconclusive")
    return SignalReport(source=source, signals=signals, checks=checks, verdict=verdict)


# ------------------------------------------------------------------------------- I/O
def metrics_url(url: str) -> str:
    """Validate an http(s) URL; add ``/metrics`` when it names no path."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--url {url!r} is not an http(s) URL", "e.g. http://127.0.0.1:8080/metrics"
        )
    path = parts.path if parts.path not in ("", "/") else "/metrics"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def fetch_metrics(url: str, timeout: float = 5.0) -> str:
    """GET the metrics text; CheckFailed when the server cannot be reached or errs."""
    import httpx

    try:
        resp = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise CheckFailed(
            f"cannot read metrics from {url}: {type(exc).__name__}", "is the server running?"
        ) from None
    if resp.status_code != 200:
        raise CheckFailed(
            f"{url} answered HTTP {resp.status_code}", "point --url at the /metrics endpoint"
        )
    return resp.text


def deployment_url(state_dir: str | Path, name: str, stage: str) -> str:
    """The metrics URL of a deployment, from its record ``<state_dir>/<name>/<stage>.json``.

    The record is the deploy part's (``release.deploy.records``); a ``/`` in a GTO name
    becomes ``__`` in the folder name.
    """
    import json

    path = record_path(state_dir, name, stage)  # validates both; "a/b" lives in "a__b"
    if not path.is_file():
        raise UsageError(
            f"no deployment record {path}",
            f"deploy first: release deploy {shlex.quote(name)} {shlex.quote(stage)}",
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"deployment record {path} is not JSON", "redeploy to rewrite it") from None
    url = None
    if isinstance(record, dict):
        # The model server that serves the stage now carries its golden signals.
        current = record.get("current")
        current = current if isinstance(current, dict) else {}
        server = current.get("server")
        server = server if isinstance(server, dict) else {}
        url = server.get("url") or record.get("router_url") or record.get("url")
    if not isinstance(url, str) or not url:
        raise DataError(f"deployment record {path} names no serving url", "redeploy to rewrite it")
    return metrics_url(url)


def measure(url: str, settings: SignalSettings, window: float = 0.0) -> SignalReport:
    """Scrape once (or twice, ``window`` seconds apart) and check the signals."""
    url = metrics_url(url)
    first = parse_metrics(fetch_metrics(url))
    if window > 0:
        start = time.monotonic()
        time.sleep(window)
        second = parse_metrics(fetch_metrics(url))
        signals = golden_signals(second, first, time.monotonic() - start)
    else:
        signals = golden_signals(first)
    return check_signals(signals, settings, source=url)

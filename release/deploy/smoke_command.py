"""``release check smoke``: requests built from a server's own metadata, against a URL.

The blue/green pre-promotion analysis runs it in a Kubernetes Job against the preview
Service, so the preview pods get traffic to be measured on (nothing else routes to them);
it is also a quick check of any running server. The requests and the verdict are those of
the deploy's own smoke check (:func:`release.deploy.checks.smoke_check`).
"""

from __future__ import annotations

import math
import re
import time

import click

from release.deploy.kubernetes_context import HTTP_URL
from release.errors import DeployError, UsageError

ROUND_SECONDS = 5.0
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$")


@click.group("check")
def check() -> None:
    """Checks of a running model server."""


@check.command("smoke")
@click.option("--url", required=True, help="Base URL of the server (http://host:port).")
@click.option("--name", required=True, help="Model name in the server's V2 URLs.")
@click.option(
    "--requests",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="Single-row requests to send (all must succeed).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0, 86_400),
    default=0.0,
    show_default=True,
    help="Spread the requests evenly over this many seconds (0: send them at once).",
)
@click.option("--timeout", type=click.FloatRange(0.1, 300), default=10.0, show_default=True)
def smoke(url: str, name: str, requests: int, duration: float, timeout: float) -> None:
    """Send REQUESTS single-row requests built from the model's metadata; exit 1 if any fails.

    With --duration they go in rounds every few seconds, so an analysis measuring windows
    over that time sees traffic in each of them.
    """
    from release.deploy.checks import fetch_metadata, smoke_check

    if not HTTP_URL.fullmatch(url):
        raise UsageError(f"--url {url!r} is not an http(s) URL", "use http://host:port")
    if not _NAME.fullmatch(name) or len(name) > 253:
        raise UsageError(f"--name {name!r} is not a served model name")
    base = url.rstrip("/")
    metadata = fetch_metadata(base, name, timeout=timeout)
    rounds = max(1, min(requests, math.ceil(duration / ROUND_SECONDS)))
    start = time.monotonic()
    sent = 0
    for i in range(rounds):
        share = requests * (i + 1) // rounds - sent
        result = smoke_check(base, name, metadata, requests=share, timeout=timeout)
        sent += share
        if result.status != "pass":
            raise DeployError(
                result.reason, "check the server's log; the rollout stays on the old version"
            )
        wait = start + duration * (i + 1) / rounds - time.monotonic()
        if wait > 0 and i + 1 < rounds:
            time.sleep(wait)
    click.echo(f"smoke: {sent} requests answered")

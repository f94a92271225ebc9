"""What ``release deploy`` shows while a rollout runs: step, weight, requests and verdict."""

from __future__ import annotations

from typing import Any

import click


class ProgressDisplay:
    """Step, weight, requests and verdict: one rewritten line on a terminal, quiet
    lines (one per step result and check) in CI or when piped."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        self.last_step: str | None = None
        self.label: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "step":
            if self.last_step is not None and self.label != event["step"]:
                self._flush()
            self.label = event["step"]
            line = (
                f"{event['step']:<14} weight {event['weight']:>5g}%  "
                f"{event['elapsed']:6.1f}s  candidate {event['candidate_requests']:>5}  "
                f"baseline {event['baseline_requests']:>5}  retries {event['retries']:>3}  "
                f"{event['verdict']}"
            )
            if self.interactive:
                click.echo("\r" + line[:150].ljust(150), nl=False, err=True)
            self.last_step = line
            return
        self._flush()
        if kind == "check":
            click.echo(f"check {event['check']}: {event['status']} ({event['reason']})", err=True)
        elif kind == "start":
            if self.interactive:
                click.echo(f"starting {event['what']} on port {event['port']}", err=True)
        elif kind == "note":
            click.echo(event["message"], err=True)
        elif kind == "done":
            text = f"{event['outcome']}: {event['version']}"
            if event.get("reason"):
                text += f" ({event['reason']})"
            click.echo(text, err=True)

    def _flush(self) -> None:
        if self.last_step is not None:
            if self.interactive:
                click.echo("", err=True)
            else:
                click.echo(self.last_step, err=True)
            self.last_step = None

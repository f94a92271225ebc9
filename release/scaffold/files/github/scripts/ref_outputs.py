"""Turn `release check-ref --json` output into validated step outputs.

Usage: python .github/scripts/ref_outputs.py CHECK_REF_JSON REF_NAME

Every value written to $GITHUB_OUTPUT is checked again before it is written (defence in
depth: outputs flow into later jobs' `env:` blocks): the tag against the GTO tag grammar,
the record's fields against theirs, the strategy against the known strategies, and none may
hold a newline or `=` beyond its grammar (which could forge another output). The stage's
deployment strategy is read from params.yaml. Exits 1 with one line on stderr when
anything is off, having written nothing.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

NAME = r"[a-zA-Z0-9]([a-zA-Z0-9/_-]*[a-zA-Z0-9])?"
PATTERNS = {
    "artifact": re.compile(rf"([a-zA-Z0-9_./-]+:)?{NAME}"),
    "version": re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)([-+][0-9A-Za-z.+-]+)?"),
    "stage": re.compile(NAME),
    "event": re.compile(r"[a-z_]{1,32}"),
}
SEMVER = r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
# gto's tag_re: [dir=]name then @vSEMVER[!] | #stage[!] | @deprecated, then an optional #N.
TAG = re.compile(rf"([A-Za-z0-9_./-]+=)?{NAME}(@{SEMVER}!?|#{NAME}!?|@deprecated)(#[0-9]+)?")
STRATEGIES = frozenset({"", "direct", "canary", "shadow", "bluegreen"})
MAX_LEN = 200


def check_output(key: str, value: str) -> str:
    """A value fit for `key=value` in $GITHUB_OUTPUT, or exit 1 naming the key."""
    if not isinstance(value, str) or len(value) > MAX_LEN:
        fail(f"output {key} is not a string of at most {MAX_LEN} characters")
    if any(ch in value for ch in "\r\n\0") or not value.isprintable():
        fail(f"output {key} holds a control character")
    checks = {
        "tag": lambda v: bool(TAG.fullmatch(v)),
        "strategy": lambda v: v in STRATEGIES,
    }
    check = checks.get(key)
    if check is None and key in PATTERNS:
        check = lambda v: v == "" or bool(PATTERNS[key].fullmatch(v))  # noqa: E731
    if check is None:
        fail(f"output {key} has no validation rule")
    elif not check(value):
        fail(f"output {key} does not match its grammar")
    return value


def fail(message: str) -> None:
    """Print one line and exit 1."""
    print(f"::error::{message}", file=sys.stderr)
    sys.exit(1)


def main(argv: list[str]) -> None:
    """Validate the check-ref record and write the outputs."""
    if len(argv) != 2:
        fail("usage: ref_outputs.py CHECK_REF_JSON REF_NAME")
    raw = Path(argv[0]).read_text(encoding="utf-8").strip()
    ref_name = argv[1]
    if not raw:
        fail("release check-ref found no GTO event for this tag")
    try:
        record = json.loads(raw)
    except json.JSONDecodeError:
        fail("release check-ref did not print JSON")
    if isinstance(record, list):
        if len(record) != 1:
            fail("the tag must carry exactly one GTO event")
        record = record[0]
    if not isinstance(record, dict):
        fail("release check-ref printed an unexpected record")
    if record.get("tag") not in (None, ref_name):
        fail("release check-ref describes a different tag")

    outputs: dict[str, str] = {"tag": ref_name}
    for key, pattern in PATTERNS.items():
        value = record.get(key) or ""
        if not isinstance(value, str) or len(value) > MAX_LEN:
            fail(f"{key} in the check-ref record is not a string of at most {MAX_LEN} chars")
        if value and not pattern.fullmatch(value):
            fail(f"{key} in the check-ref record does not match the GTO grammar")
        outputs[key] = value
    if not outputs["artifact"] or not outputs["event"]:
        fail("the check-ref record has no artifact or no event")
    if outputs["event"] == "assignment" and not outputs["stage"]:
        fail("an assignment without a stage")
    outputs["strategy"] = strategy_for(outputs["stage"]) if outputs["stage"] else ""
    outputs = {key: check_output(key, value) for key, value in outputs.items()}

    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        fail("GITHUB_OUTPUT is not set")
    with open(target, "a", encoding="utf-8") as fh:
        for key, value in outputs.items():
            fh.write(f"{key}={value}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write("| tag | event | artifact | version | stage | strategy |\n")
            fh.write("| --- | --- | --- | --- | --- | --- |\n")
            fh.write(
                f"| `{ref_name}` | {outputs['event']} | {outputs['artifact']} | "
                f"{outputs['version']} | {outputs['stage']} | {outputs['strategy']} |\n"
            )
    for key, value in outputs.items():
        print(f"{key}={value}")


def strategy_for(stage: str) -> str:
    """The stage's deployment strategy from params.yaml (direct when none is set)."""
    from release.config import load_settings
    from release.errors import ReleaseError

    try:
        settings = load_settings("params.yaml")
    except ReleaseError as exc:
        fail(exc.one_line())
    if stage not in settings.release.stages:
        fail(f"stage {stage} is not in release.stages of params.yaml")
    return settings.release.deploy.strategies.get(stage, "direct")


if __name__ == "__main__":
    main(sys.argv[1:])

"""A small GitHub Actions runner for tests: run a workflow's `run:` steps for real.

No runner or Docker is available here, so this reads a workflow file and executes its
jobs (in `needs` order) and their steps (in order) the way a hosted runner would, in
temporary clones of a real git repository:

- `run:` steps run with `bash --noprofile --norc -eo pipefail` (the `shell: bash`
  default), with the environment a runner gives (GITHUB_REF, GITHUB_REF_NAME,
  GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY, GITHUB_WORKSPACE, RUNNER_TEMP, ...)
  merged with the workflow's, job's and step's `env:` blocks;
- `${{ }}` expressions are evaluated (contexts github, env, steps, needs, secrets, vars,
  inputs, runner, matrix; operators and the status/string/JSON functions). Inside a
  `run:` script only trusted contexts may be expanded; anything else raises, exactly
  as the workflow lint forbids;
- `if:` (job and step), job `outputs:`, `environment:` and `concurrency:` are evaluated;
  a job whose `if:` is false, or whose needs did not succeed, is skipped;
- `uses:` steps are skipped, except `actions/checkout` (replaced by a clone of the origin
  repository at the event's commit; for a tag push the tag is left lightweight, as
  checkout can, so the workflow must re-fetch it) and `actions/upload-artifact` /
  `actions/download-artifact` (copied through a local folder, so jobs can hand files on).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# ------------------------------------------------------------------------ trust
# Contexts whose values a pusher, a pull-request author or an earlier step cannot choose.
TRUSTED_IN_RUN = re.compile(
    r"^(runner\.(temp|os|arch|name|tool_cache)|github\.(run_id|run_number|run_attempt|sha"
    r"|workspace|repository|repository_id|repository_owner|event_name|workflow|job|action"
    r"|server_url|api_url|graphql_url|ref_type|retention_days))$"
)
UNTRUSTED_HINTS = (
    "github.ref_name",
    "github.head_ref",
    "github.ref",
    "github.event.",
    "steps.",
    "needs.",
    "inputs.",
    "env.",
)
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def expressions(text: str) -> list[str]:
    """Every `${{ ... }}` expression in ``text`` (stripped)."""
    return [m.strip() for m in _EXPR.findall(text or "")]


def untrusted_in_run(text: str) -> list[str]:
    """The expressions in a `run:` script that are not a single trusted context."""
    return [e for e in expressions(text) if not TRUSTED_IN_RUN.match(e)]


class HarnessError(Exception):
    """The workflow does something the harness (or a hosted runner) would refuse."""


# ------------------------------------------------------------------- expressions
_TOKEN = re.compile(
    r"\s*(?:(?P<num>0x[0-9a-fA-F]+|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"|(?P<str>'(?:[^']|'')*')"
    r"|(?P<op>==|!=|<=|>=|&&|\|\||[<>!.\[\](),*])"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_-]*))"
)


def _tokenize(expr: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise HarnessError(f"cannot parse expression at {expr[pos:]!r}")
        pos = m.end()
        if m.group("num") is not None:
            text = m.group("num")
            tokens.append(("lit", int(text, 16) if text.startswith("0x") else float(text)))
        elif m.group("str") is not None:
            tokens.append(("lit", m.group("str")[1:-1].replace("''", "'")))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            word = m.group("id")
            literal = {"true": True, "false": False, "null": None}
            tokens.append(("lit", literal[word]) if word in literal else ("id", word))
    tokens.append(("end", None))
    return tokens


@dataclass
class Status:
    """What the status functions see."""

    failed: bool = False
    cancelled: bool = False


class _Parser:
    def __init__(self, expr: str, contexts: Mapping[str, Any], status: Status) -> None:
        self.tokens = _tokenize(expr)
        self.i = 0
        self.contexts = contexts
        self.status = status
        self.used_status = False

    def peek(self) -> tuple[str, Any]:
        return self.tokens[self.i]

    def take(self, kind: str | None = None, value: Any = None) -> tuple[str, Any]:
        tok = self.tokens[self.i]
        if (kind and tok[0] != kind) or (value is not None and tok[1] != value):
            raise HarnessError(f"expected {value or kind}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.or_()
        self.take("end")
        return value

    def or_(self) -> Any:
        left = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            left = left if truthy(left) else right
        return left

    def and_(self) -> Any:
        left = self.cmp()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.cmp()
            left = right if truthy(left) else left
        return left

    def cmp(self) -> Any:
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.unary()
            left = compare(op, left, right)
        return left

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        kind, value = self.take()
        if kind == "lit":
            result = value
        elif kind == "op" and value == "(":
            result = self.or_()
            self.take("op", ")")
        elif kind == "id" and self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take("op", ")")
            result = self.call(value, args)
        elif kind == "id":
            if value not in self.contexts:
                raise HarnessError(f"unknown context {value!r}")
            result = self.contexts[value]
        else:
            raise HarnessError(f"unexpected {value!r}")
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                name = self.take("id")[1]
                result = index(result, name)
            else:
                key = self.or_()
                self.take("op", "]")
                result = index(result, key)
        return result

    def call(self, name: str, args: list[Any]) -> Any:
        fn = name.lower()
        if fn in ("success", "failure", "always", "cancelled"):
            self.used_status = True
            return {
                "success": not self.status.failed and not self.status.cancelled,
                "failure": self.status.failed,
                "always": True,
                "cancelled": self.status.cancelled,
            }[fn]
        if fn == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(compare("==", x, needle) for x in hay)
            return to_str(needle).lower() in to_str(hay).lower()
        if fn == "startswith":
            return to_str(args[0]).lower().startswith(to_str(args[1]).lower())
        if fn == "endswith":
            return to_str(args[0]).lower().endswith(to_str(args[1]).lower())
        if fn == "format":
            text = to_str(args[0])
            for i, arg in enumerate(args[1:]):
                text = text.replace("{" + str(i) + "}", to_str(arg))
            return text
        if fn == "join":
            sep = to_str(args[1]) if len(args) > 1 else ","
            return sep.join(to_str(x) for x in args[0]) if isinstance(args[0], list) else args[0]
        if fn == "tojson":
            return json.dumps(args[0], indent=2)
        if fn == "fromjson":
            return json.loads(to_str(args[0]))
        raise HarnessError(f"function {name}() is not supported by the harness")


def truthy(value: Any) -> bool:
    """GitHub's truthiness: false, 0, -0, '', null and NaN are false."""
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (False, 0, "", None)


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def compare(op: str, a: Any, b: Any) -> bool:
    """GitHub's loose comparison: strings case-insensitively, else as numbers."""
    if isinstance(a, str) and isinstance(b, str):
        x: Any = a.casefold()
        y: Any = b.casefold()
    elif isinstance(a, dict | list) or isinstance(b, dict | list):
        if op == "==":
            return a is b
        if op == "!=":
            return a is not b
        return False
    else:
        x, y = _number(a), _number(b)
    return {
        "==": x == y,
        "!=": x != y,
        "<": x < y,
        "<=": x <= y,
        ">": x > y,
        ">=": x >= y,
    }[op]


def index(obj: Any, key: Any) -> Any:
    """Property access: case-insensitive on mappings; null when missing."""
    if isinstance(obj, Mapping):
        if key in obj:
            return obj[key]
        lowered = {str(k).lower(): v for k, v in obj.items()}
        return lowered.get(str(key).lower())
    if isinstance(obj, list) and isinstance(key, int | float) and not isinstance(key, bool):
        i = int(key)
        return obj[i] if 0 <= i < len(obj) else None
    return None


def to_str(value: Any) -> str:
    """How a value is written into a string."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def evaluate(expr: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """Evaluate one expression (without the `${{ }}`)."""
    return _Parser(expr, contexts, status or Status()).parse()


def evaluate_if(cond: Any, contexts: Mapping[str, Any], status: Status) -> bool:
    """An `if:` value: implicit `success() &&` unless a status function is used."""
    if cond is None:
        return not status.failed and not status.cancelled
    if isinstance(cond, bool):
        return cond and not status.failed
    text = str(cond).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    parser = _Parser(text, contexts, status)
    value = truthy(parser.parse())
    if not parser.used_status:
        value = value and not status.failed and not status.cancelled
    return value


def substitute(text: Any, contexts: Mapping[str, Any], *, in_run: bool = False) -> str:
    """Replace every `${{ }}` in ``text``; in a `run:` script only trusted contexts."""
    if not isinstance(text, str):
        return to_str(text)

    def repl(m: re.Match[str]) -> str:
        expr = m.group(1).strip()
        if in_run and not TRUSTED_IN_RUN.match(expr):
            raise HarnessError(f"run: expands ${{{{ {expr} }}}}: pass it through env: instead")
        return to_str(evaluate(expr, contexts))

    return _EXPR.sub(repl, text)


# ----------------------------------------------------------------------- results
@dataclass
class StepRun:
    """One step as it ran."""

    name: str
    kind: str  # run | checkout | artifact | skipped-uses | skipped
    outcome: str  # success | failure | skipped
    returncode: int | None = None
    output: str = ""
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class JobRun:
    """One job as it ran."""

    job_id: str
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    workspace: Path | None = None
    summary: str = ""
    environment: str | None = None
    concurrency: dict[str, Any] | None = None
    permissions: Any = None

    def step(self, name_part: str) -> StepRun:
        """The first step whose name contains ``name_part``."""
        for step in self.steps:
            if name_part in step.name:
                return step
        raise KeyError(name_part)

    @property
    def ran(self) -> list[str]:
        """Names of the steps that ran (not skipped)."""
        return [s.name for s in self.steps if s.outcome != "skipped"]

    def log(self) -> str:
        """Every step's outcome and output, for assertion messages."""
        return "\n".join(
            f"--- {s.name} [{s.kind}] {s.outcome} rc={s.returncode} {s.seconds:.1f}s\n{s.output}"
            for s in self.steps
        )


# ------------------------------------------------------------------------ runner
def load_workflow(path: Path) -> dict[str, Any]:
    """Read a workflow; PyYAML reads the key `on` as True, so put it back."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def _read_kv_file(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV syntax: name=value lines and name<<DELIM blocks."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise HarnessError(f"malformed line in {path.name}: {line!r}")
    return out


@dataclass
class Event:
    """The event that starts the run."""

    name: str  # push | pull_request | schedule | workflow_dispatch
    ref: str  # e.g. refs/tags/model@v1.0.0
    sha: str
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)


class WorkflowRunner:
    """Run one workflow file against a real git repository (the "origin")."""

    def __init__(
        self,
        workflow: Path,
        *,
        origin: Path,
        event: Event,
        tmp: Path,
        path_prepend: list[str] | None = None,
        secrets: dict[str, str] | None = None,
        vars: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        step_timeout: float = 900.0,
    ) -> None:
        self.path = workflow
        self.doc = load_workflow(workflow)
        self.origin = origin
        self.event = event
        self.tmp = tmp
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.artifacts = tmp / "artifacts"
        self.artifacts.mkdir(exist_ok=True)
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        self.path_prepend = path_prepend or []
        self.secrets = {"GITHUB_TOKEN": "", **(secrets or {})}
        self.vars = vars or {}
        self.extra_env = extra_env or {}
        self.step_timeout = step_timeout
        self.jobs: dict[str, JobRun] = {}

    # -- contexts
    def github_context(self, workspace: Path | None) -> dict[str, Any]:
        """The `github` context of a run."""
        ref = self.event.ref
        ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
        ref_name = ref.split("/", 2)[2] if ref.count("/") >= 2 else ref
        return {
            "event_name": self.event.name,
            "event": self.event.payload,
            "ref": ref,
            "ref_name": ref_name,
            "ref_type": ref_type,
            "sha": self.event.sha,
            "repository": "example/release",
            "repository_owner": "example",
            "run_id": "4242",
            "run_number": "7",
            "run_attempt": "1",
            "workflow": self.doc.get("name", self.path.name),
            "workspace": str(workspace or ""),
            "server_url": "https://github.com",
            "token": "",
            "head_ref": self.event.payload.get("pull_request", {}).get("head", {}).get("ref", ""),
            "base_ref": self.event.payload.get("pull_request", {}).get("base", {}).get("ref", ""),
        }

    def base_env(self, workspace: Path, job_dir: Path) -> dict[str, str]:
        """The variables every runner sets."""
        gh = self.github_context(workspace)
        keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ", "TMPDIR")}
        path = os.pathsep.join([*self.path_prepend, os.environ.get("PATH", "/usr/bin:/bin")])
        return {
            **keep,
            "PATH": path,
            "HOME": str(self.home),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_EVENT_NAME": gh["event_name"],
            "GITHUB_REF": gh["ref"],
            "GITHUB_REF_NAME": gh["ref_name"],
            "GITHUB_REF_TYPE": gh["ref_type"],
            "GITHUB_SHA": gh["sha"],
            "GITHUB_REPOSITORY": gh["repository"],
            "GITHUB_RUN_ID": gh["run_id"],
            "GITHUB_RUN_NUMBER": gh["run_number"],
            "GITHUB_RUN_ATTEMPT": gh["run_attempt"],
            "GITHUB_WORKFLOW": gh["workflow"],
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_SERVER_URL": gh["server_url"],
            "GITHUB_HEAD_REF": gh["head_ref"],
            "GITHUB_BASE_REF": gh["base_ref"],
            "GITHUB_EVENT_PATH": str(job_dir / "event.json"),
            "RUNNER_TEMP": str(job_dir / "runner-temp"),
            "RUNNER_OS": "Linux",
            "DVC_NO_ANALYTICS": "1",
            **self.extra_env,
        }

    # -- jobs
    def run(self, only: set[str] | None = None) -> dict[str, JobRun]:
        """Run every job (or those in ``only``) in `needs` order."""
        jobs = self.doc["jobs"]
        order: list[str] = []

        def visit(job_id: str, seen: tuple[str, ...] = ()) -> None:
            if job_id in order:
                return
            if job_id in seen:
                raise HarnessError(f"needs cycle at {job_id}")
            for need in self._needs(jobs[job_id]):
                visit(need, (*seen, job_id))
            order.append(job_id)

        for job_id in jobs:
            visit(job_id)
        for job_id in order:
            if only is not None and job_id not in only:
                continue
            self.jobs[job_id] = self.run_job(job_id, jobs[job_id])
        return self.jobs

    @staticmethod
    def _needs(job: Mapping[str, Any]) -> list[str]:
        needs = job.get("needs", [])
        return [needs] if isinstance(needs, str) else list(needs)

    def run_job(self, job_id: str, job: Mapping[str, Any]) -> JobRun:
        """Run one job in a fresh workspace."""
        needs_ctx = {
            n: {
                "result": self.jobs[n].result if n in self.jobs else "skipped",
                "outputs": self.jobs[n].outputs if n in self.jobs else {},
            }
            for n in self._needs(job)
        }
        job_status = Status(failed=any(v["result"] == "failure" for v in needs_ctx.values()))
        not_ok = any(v["result"] != "success" for v in needs_ctx.values())
        job_dir = self.tmp / "jobs" / job_id
        if job_dir.exists():
            shutil.rmtree(job_dir)
        workspace = job_dir / "workspace"
        workspace.mkdir(parents=True)
        (job_dir / "runner-temp").mkdir()
        (job_dir / "event.json").write_text(json.dumps(self.event.payload))
        contexts: dict[str, Any] = {
            "github": self.github_context(workspace),
            "needs": needs_ctx,
            "secrets": self.secrets,
            "vars": self.vars,
            "inputs": self.event.inputs,
            "matrix": {},
            "strategy": {},
            "runner": {"temp": str(job_dir / "runner-temp"), "os": "Linux", "arch": "X64"},
            "env": {},
            "steps": {},
            "job": {"status": "success"},
        }
        cond = job.get("if")
        parser_status = Status(failed=job_status.failed)
        uses_status = cond is not None and re.search(
            r"\b(always|failure|cancelled|success)\s*\(", str(cond)
        )
        if not_ok and not uses_status:
            return JobRun(job_id, "skipped")
        if not evaluate_if(cond, contexts, parser_status):
            return JobRun(job_id, "skipped")

        env: dict[str, str] = {}
        for key, value in (self.doc.get("env") or {}).items():
            env[key] = substitute(value, {**contexts, "env": env})
        contexts["env"] = env
        for key, value in (job.get("env") or {}).items():
            env[key] = substitute(value, contexts)
        run = JobRun(job_id, "success", workspace=workspace, permissions=job.get("permissions"))
        envspec = job.get("environment")
        if envspec is not None:
            name = envspec.get("name") if isinstance(envspec, Mapping) else envspec
            run.environment = substitute(name, contexts)
        if job.get("concurrency") is not None:
            conc = job["concurrency"]
            conc = {"group": conc} if isinstance(conc, str) else dict(conc)
            conc["group"] = substitute(conc.get("group"), contexts)
            run.concurrency = conc

        status = Status()
        extra_path: list[str] = []
        for i, step in enumerate(job.get("steps", [])):
            name = step.get("name") or step.get("uses") or f"step {i}"
            contexts["job"] = {"status": "failure" if status.failed else "success"}
            if not evaluate_if(step.get("if"), contexts, status):
                run.steps.append(StepRun(name, "skipped", "skipped"))
                if step.get("id"):
                    contexts["steps"][step["id"]] = {
                        "outputs": {},
                        "outcome": "skipped",
                        "conclusion": "skipped",
                    }
                continue
            started = time.monotonic()
            result, outputs = self.run_step(
                step, name, contexts, env, workspace, job_dir, extra_path
            )
            result.seconds = time.monotonic() - started
            result.outputs = outputs
            run.steps.append(result)
            if step.get("id"):
                contexts["steps"][step["id"]] = {
                    "outputs": outputs,
                    "outcome": result.outcome,
                    "conclusion": "success" if step.get("continue-on-error") else result.outcome,
                }
            if result.outcome == "failure" and not step.get("continue-on-error"):
                status.failed = True
            summary = job_dir / "summary.md"
            if summary.exists():
                run.summary += summary.read_text(encoding="utf-8")
                summary.unlink()
        run.result = "failure" if status.failed else "success"
        for key, value in (job.get("outputs") or {}).items():
            run.outputs[key] = substitute(value, contexts)
        return run

    def run_step(
        self,
        step: Mapping[str, Any],
        name: str,
        contexts: dict[str, Any],
        env: dict[str, str],
        workspace: Path,
        job_dir: Path,
        extra_path: list[str],
    ) -> tuple[StepRun, dict[str, str]]:
        """Run one step; return its record and outputs."""
        step_env = dict(env)
        for key, value in (step.get("env") or {}).items():
            step_env[key] = substitute(value, {**contexts, "env": step_env})
        if "uses" in step:
            return self.run_uses(step, name, contexts, workspace), {}
        script = substitute(step["run"], {**contexts, "env": step_env}, in_run=True)
        shell = step.get("shell") or (self.doc.get("defaults") or {}).get("run", {}).get("shell")
        if shell not in (None, "bash"):
            raise HarnessError(f"{name}: only the bash shell is supported, not {shell!r}")
        files = {k: job_dir / f"{k.lower()}.txt" for k in ("GITHUB_OUTPUT", "GITHUB_ENV")}
        files["GITHUB_PATH"] = job_dir / "path.txt"
        for path in files.values():
            path.write_text("")
        script_path = job_dir / "step.sh"
        script_path.write_text(script, encoding="utf-8")
        full_env = {
            **self.base_env(workspace, job_dir),
            **step_env,
            **{k: str(v) for k, v in files.items()},
            "GITHUB_STEP_SUMMARY": str(job_dir / "summary.md"),
        }
        if extra_path:
            full_env["PATH"] = os.pathsep.join([*extra_path, full_env["PATH"]])
        cwd = workspace / step.get("working-directory", ".")
        timeout = float(step.get("timeout-minutes", self.step_timeout / 60)) * 60
        try:
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
                cwd=cwd,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            rc, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, output = 124, f"timed out after {timeout}s: {exc}"
        outputs = _read_kv_file(files["GITHUB_OUTPUT"])
        env.update(_read_kv_file(files["GITHUB_ENV"]))
        extra_path[:0] = [p for p in files["GITHUB_PATH"].read_text().splitlines() if p]
        outcome = "success" if rc == 0 else "failure"
        return StepRun(name, "run", outcome, rc, output), outputs

    def run_uses(
        self, step: Mapping[str, Any], name: str, contexts: Mapping[str, Any], workspace: Path
    ) -> StepRun:
        """Checkout and artifacts are emulated; every other action is skipped."""
        uses = str(step["uses"])
        action = uses.split("@", 1)[0]
        with_ = {k: substitute(v, contexts) for k, v in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            return self.checkout(name, workspace, with_)
        if action == "actions/upload-artifact":
            return self.upload(name, workspace, with_)
        if action == "actions/download-artifact":
            return self.download(name, workspace, with_)
        return StepRun(name, "skipped-uses", "success", output=f"skipped {uses}")

    def checkout(self, name: str, workspace: Path, with_: Mapping[str, str]) -> StepRun:
        """A clone at the event's commit; a pushed tag is left lightweight, as checkout can."""
        if any(workspace.iterdir()):
            raise HarnessError("checkout into a non-empty workspace")
        git = ["git", "-c", "advice.detachedHead=false"]
        subprocess.run(
            [*git, "clone", "--quiet", str(self.origin), str(workspace)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*git, "checkout", "--quiet", "--detach", self.event.sha],
            cwd=workspace,
            check=True,
            capture_output=True,
        )
        note = ""
        if self.event.ref.startswith("refs/tags/"):
            tag = self.event.ref[len("refs/tags/") :]
            subprocess.run(
                ["git", "tag", "--force", tag, self.event.sha],
                cwd=workspace,
                check=True,
                capture_output=True,
            )
            note = f"; tag {tag} left lightweight"
        return StepRun(name, "checkout", "success", 0, f"cloned {self.origin}{note}")

    def upload(self, name: str, workspace: Path, with_: Mapping[str, str]) -> StepRun:
        """Copy `path` into the run's artifact folder under `name`."""
        art = self.artifacts / with_["name"]
        if art.exists():
            return StepRun(name, "artifact", "failure", 1, f"artifact {with_['name']} exists")
        art.mkdir(parents=True)
        copied = 0
        for line in with_.get("path", "").splitlines():
            line = line.strip()
            if not line:
                continue
            src = Path(line) if Path(line).is_absolute() else workspace / line
            if src.is_dir():
                shutil.copytree(src, art, dirs_exist_ok=True)
                copied += sum(1 for p in src.rglob("*") if p.is_file())
            elif src.is_file():
                shutil.copy2(src, art / src.name)
                copied += 1
        if copied == 0:
            art.rmdir()
            if with_.get("if-no-files-found", "warn") == "error":
                return StepRun(name, "artifact", "failure", 1, "no files to upload")
            return StepRun(name, "artifact", "success", 0, "no files to upload")
        return StepRun(name, "artifact", "success", 0, f"uploaded {copied} file(s)")

    def download(self, name: str, workspace: Path, with_: Mapping[str, str]) -> StepRun:
        """Copy an artifact back into `path`."""
        art = self.artifacts / with_["name"]
        if not art.is_dir():
            return StepRun(name, "artifact", "failure", 1, f"artifact {with_['name']} not found")
        dest_text = with_.get("path") or "."
        dest = Path(dest_text) if Path(dest_text).is_absolute() else workspace / dest_text
        shutil.copytree(art, dest, dirs_exist_ok=True)
        return StepRun(name, "artifact", "success", 0, f"downloaded into {dest}")

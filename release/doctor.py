"""``release doctor``: is this project ready to run the loop? One line per problem and its fix.

Each check is a function returning :class:`Finding` objects; the command prints them and
exits 1 when any is a problem. Checks read only: nothing is written, started or fetched.
"""

from __future__ import annotations

import importlib.metadata
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from release import paths
from release.errors import CheckFailed, ReleaseError

WORKFLOWS = (
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/workflows/monitor.yml",
    ".github/actions/setup-release/action.yml",
)
TEMPLATES = {
    "card": ("README.md.j2", "card.html.j2"),
    "monitor": ("drift.html", "drift.md"),
    "k8s": ("rollout-canary.yaml.j2", "rollout-bluegreen.yaml.j2", "service.yaml.j2"),
}
# A tag gto would read if it were annotated: name@vX.Y.Z or name#stage[#N]
_GTO_SHAPED = re.compile(r"^[a-z0-9][a-z0-9\-/=]*(@v\d+\.\d+\.\d+|#[a-z0-9][a-z0-9\-/]*(#\d+)?)$")


@dataclass(frozen=True)
class Finding:
    """One check's result: ``fix`` is set exactly when it is a problem."""

    check: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        """True when this finding is not a problem."""
        return self.fix is None


def _run(root: Path, *args: str) -> tuple[int, str]:
    try:
        done = subprocess.run(list(args), cwd=root, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout or done.stderr).strip()


def check_tools(root: Path) -> list[Finding]:
    """git on PATH; dvc and gto installed (their versions)."""
    out = []
    code, text = _run(root, "git", "--version")
    if code != 0:
        out.append(Finding("git", "git is not installed", "install git"))
    else:
        out.append(Finding("git", text.replace("git version ", "git ")))
    for name in ("dvc", "gto"):
        try:
            out.append(Finding(name, f"{name} {importlib.metadata.version(name)}"))
        except importlib.metadata.PackageNotFoundError:
            out.append(Finding(name, f"{name} is not installed", f"pip install {name}"))
    return out


def check_repository(root: Path) -> list[Finding]:
    """A git repository with DVC initialised; GTO-shaped tags are annotated."""
    code, top = _run(root, "git", "rev-parse", "--show-toplevel")
    if code != 0:
        return [Finding("repository", f"{root} is not a git repository", "run release init --git")]
    out = []
    if Path(top).resolve() != root.resolve():
        out.append(Finding("repository", f"{root} is not the repository root", f"cd {top}"))
    if not (root / ".dvc").is_dir():
        out.append(Finding("dvc", "DVC is not initialised", "run release init (or dvc init)"))
    code, text = _run(
        root, "git", "for-each-ref", "refs/tags", "--format=%(refname:strip=2) %(objecttype)"
    )
    light = [
        line.split()[0]
        for line in text.splitlines()
        if code == 0 and line.endswith(" commit") and _GTO_SHAPED.match(line.split()[0])
    ]
    annotated = sum(1 for line in text.splitlines() if code == 0 and line.endswith(" tag"))
    for tag in light[:20]:
        out.append(
            Finding(
                "tags",
                f"tag {tag} is lightweight: gto and release ignore it",
                f"recreate it annotated: git tag -f -a {tag} {tag}^{{}} -m {tag}, "
                "or fetch tags with .github/scripts/fetch-annotated-tags.sh",
            )
        )
    if not light:
        out.append(Finding("tags", f"{annotated} annotated tag(s), no lightweight GTO tag"))
    return out


def check_remote(root: Path) -> list[Finding]:
    """The default DVC remote exists; a local one is a folder that exists or can be made."""
    if not (root / ".dvc").is_dir():
        return []
    from dvc.config import Config

    try:
        config = Config(dvc_dir=str(root / ".dvc"))  # DVC's own reader (quoted sections)
        core = config.get("core", {})
        name = core.get("remote")
        remotes = config.get("remote", {})
    except Exception as exc:  # DVC raises its own config errors
        return [Finding("remote", f"DVC config unreadable: {exc}", "fix .dvc/config")]
    if not name:
        return [
            Finding(
                "remote",
                "no default DVC remote",
                "dvc remote add -d local .dvc-storage (or your team's storage)",
            )
        ]
    url = str((remotes.get(name) or {}).get("url") or "")
    if not url:
        return [Finding("remote", f"default remote {name} has no url", "fix .dvc/config")]
    if "://" in url and not url.startswith("file://"):
        return [Finding("remote", f"remote {name} = {url} (not probed: network storage)")]
    path = Path(url.removeprefix("file://"))
    if not path.is_absolute():
        path = (root / ".dvc" / path).resolve()  # DVC resolves relative URLs from .dvc/
    existing = path if path.exists() else next((p for p in path.parents if p.exists()), None)
    if path.exists() and not path.is_dir():
        return [Finding("remote", f"remote {name} = {path} is not a folder", "fix its url")]
    import os

    if existing is None or not os.access(existing, os.W_OK):
        return [Finding("remote", f"remote {name} = {path} is not writable", "fix its url")]
    state = "exists" if path.exists() else "will be created on the first dvc push"
    return [Finding("remote", f"remote {name} = {path} ({state})")]


def load(root: Path) -> tuple[Any, list[Finding]]:
    """The project's settings, or a finding saying why they do not load."""
    from release.config import load_settings

    params = root / paths.PARAMS
    if not params.is_file():
        return None, [Finding("params", "params.yaml not found", "run release init")]
    try:
        settings = load_settings(params)
    except ReleaseError as exc:
        return None, [Finding("params", exc.what, exc.fix or "fix params.yaml")]
    return settings, [Finding("params", "params.yaml is valid")]


def data_columns(root: Path, settings: Any) -> tuple[list[str] | None, Finding | None]:
    """The source's column names (a header read, or a small builtin sample)."""
    data = settings.data
    if data.source == "builtin":
        from release.data import builtin

        return list(builtin.generate(rows=100, seed=0).columns), None
    path = root / str(data.path)
    if path.is_dir():
        return None, Finding("data", f"{data.path} is a directory", "point data.path at one file")
    if not path.is_file():
        return None, Finding(
            "data", f"data file {data.path} not found", "dvc pull it, or fix data.path"
        )
    try:
        if data.source == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names), None
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, nrows=0).columns], None
    except Exception as exc:  # unreadable file: say so, the loader gives the details
        return None, Finding("data", f"{data.path} is unreadable ({type(exc).__name__})", "fix it")


def named_columns(settings: Any) -> dict[str, list[str]]:
    """Every setting that names a column, with the columns it names."""
    data, val, sl = settings.data, settings.validate, settings.evaluate.slices
    named: dict[str, list[str]] = {
        "data.target": [data.target],
        "data.exclude": list(data.exclude),
        "data.annotators": list(data.annotators),
        "data.slice_columns": list(data.slice_columns),
        "data.protected": list(data.protected),
        "validate.dtypes": list(val.dtypes),
        "validate.ranges": list(val.ranges),
        "validate.categories": list(val.categories),
        "validate.null_rate": list(val.null_rate),
        "evaluate.slices.columns": list(sl.columns),
        "evaluate.slices.bins": list(sl.bins),
        "evaluate.slices.intersections": [c for pair in sl.intersections for c in pair],
    }
    if isinstance(data.features, list):
        named["data.features"] = list(data.features)
    return named


def check_params(root: Path, settings: Any) -> list[Finding]:
    """Columns named in the settings exist in the data."""
    columns, problem = data_columns(root, settings)
    if problem is not None:
        return [problem]
    assert columns is not None
    known = set(columns)
    out = []
    bins = set(settings.evaluate.slices.bins)
    for key, names in named_columns(settings).items():
        for name in dict.fromkeys(names):
            # intersections may pair a column with a binned one: both are slices' names
            if name not in known and not (key.endswith("intersections") and name in bins):
                out.append(
                    Finding(
                        "params",
                        f"{key} names column {name!r}, which the data does not have",
                        "fix the name in params.yaml (columns: "
                        + ", ".join(columns[:12])
                        + (", ..." if len(columns) > 12 else "")
                        + ")",
                    )
                )
    if not out:
        out.append(
            Finding(
                "params",
                f"every column named in params.yaml is in the data ({len(columns)} columns)",
            )
        )
    return out


def check_templates(root: Path) -> list[Finding]:
    """Built-in templates present; a project's own card templates parse."""
    import jinja2

    from release.resources import builtin_templates

    out = []
    for kind, names in TEMPLATES.items():
        folder = builtin_templates(kind)
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            out.append(
                Finding(
                    "templates",
                    f"built-in {kind} template {missing[0]} missing",
                    "reinstall release",
                )
            )
    own = root / "templates" / "card"
    if own.is_dir():
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(own)))  # noqa: S701
        for name in sorted(p.name for p in own.glob("*.j2")):
            try:
                env.get_template(name)
            except jinja2.TemplateSyntaxError as exc:
                out.append(
                    Finding(
                        "templates",
                        f"templates/card/{name} line {exc.lineno}: {exc.message}",
                        "fix it",
                    )
                )
    if not out:
        where = " (with the project's templates/card)" if own.is_dir() else ""
        out.append(Finding("templates", f"templates resolved{where}"))
    return out


def check_workflows(root: Path) -> list[Finding]:
    """The GitHub workflows and composite action release ships are present."""
    missing = [w for w in WORKFLOWS if not (root / w).is_file()]
    if missing:
        return [
            Finding("workflows", f"{m} is missing", "run release init (it adds only missing files)")
            for m in missing
        ]
    return [Finding("workflows", "ci, release and monitor workflows present")]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _our_routers(root: Path, settings: Any) -> dict[int, str]:
    """Router ports recorded by this project's own deployments (port -> stage)."""
    from release.deploy.records import list_records

    state_dir = root / settings.release.deploy.state_dir
    ours = {}
    for record in list_records(state_dir):
        router = record.get("router")
        if isinstance(router, dict) and isinstance(router.get("port"), int):
            ours[router["port"]] = str(record.get("stage"))
    return ours


def check_ports(root: Path, settings: Any) -> list[Finding]:
    """Each stage's router port (router_port + the stage's index) is free, or ours."""
    deploy = settings.release.deploy
    base = deploy.router_port
    if not isinstance(base, int) or isinstance(base, bool):
        return [Finding("ports", f"router_port {base}: picked when a deployment starts")]
    ours = _our_routers(root, settings)
    out = []
    for i, stage in enumerate(settings.release.stages):
        port = base + i
        if port_free(port):
            continue
        if port in ours:
            out.append(Finding("ports", f"router port {port} serves this project's {ours[port]}"))
            continue
        out.append(
            Finding(
                "ports",
                f"router port {port} ({stage}) is taken by another program",
                "stop it, or set release.deploy.router_port in params.yaml to a free range",
            )
        )
    if not any(f.fix for f in out):
        last = base + len(settings.release.stages) - 1
        out.append(Finding("ports", f"router ports {base}-{last} are free or ours"))
    return out


def diagnose(root: str | Path = ".") -> list[Finding]:
    """Every check, in order; a check that needs valid settings is skipped without them."""
    root = Path(root).resolve()
    findings = check_tools(root) + check_repository(root) + check_remote(root)
    settings, loaded = load(root)
    findings += loaded
    if settings is not None:
        findings += check_params(root, settings)
    findings += check_templates(root) + check_workflows(root)
    if settings is not None:
        findings += check_ports(root, settings)
    return findings


@click.command("doctor")
@click.option("--dir", "root", default=".", show_default=True, help="The project folder.")
def doctor_command(root: str) -> None:
    """Check tools, tags, the DVC remote, settings against the data, templates, workflows, ports."""
    findings = diagnose(root)
    problems = [f for f in findings if not f.ok]
    for f in findings:
        if f.ok:
            click.echo(f"ok       {f.check}: {f.detail}")
    for f in problems:
        click.echo(f"problem  {f.check}: {f.detail} (fix: {f.fix})")
    if problems:
        raise CheckFailed(
            f"{len(problems)} problem(s) found",
            "fix each line above, then run release doctor again",
        )
    click.echo(f"healthy: {len(findings)} check(s) passed")

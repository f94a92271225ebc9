"""``release verify NAME@vX.Y.Z``: reproduce a registered version and prove it.

The version's commit is cloned into a temporary folder (the user's work tree, outputs
and tags are never touched), its pipeline is reproduced with ``dvc repro --force``
using the code *at that commit* (the clone's ``release`` package shadows the installed
one), and the results are compared with what the registry holds: the data hashes in
``data/provenance.json``, the model file's sha256 in ``models/model.json``, the metrics,
and the predictions of the registered model against the reproduced one on the
reproduced evaluation set. Any mismatch exits 1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click

from release import dvcstore, gitcmd, paths
from release.console import emit_json, json_option, progress, repo_option, status
from release.errors import CheckFailed, UsageError
from release.facts import FactError, load_metrics, read_metrics
from release.fsio import sha256_file

TOLERANCE = 1e-9


@dataclass
class Check:
    """One comparison between the registry and the reproduction."""

    name: str
    passed: bool
    registered: Any
    reproduced: Any
    note: str = ""


@dataclass
class VerifyReport:
    """Everything verify found: checks and the lineage chain."""

    artifact: str
    version: str
    commit: str
    checks: list[Check] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "passed": self.passed}


def parse_spec(spec: str) -> tuple[str, str]:
    """Split and validate ``NAME@vX.Y.Z``."""
    from release.grammar import validate_name, validate_version

    name, sep, version = spec.rpartition("@")
    if not sep or not name:
        raise UsageError(f"{spec!r} is not NAME@vX.Y.Z", "for example model@v0.1.0")
    return validate_name(name), validate_version(version)


def _show_json(repo: Path, commit: str, path: str) -> Any:
    """A JSON file at ``commit`` read from git objects, or None when absent or not JSON."""
    raw = gitcmd.show(repo, commit, path)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _dvc_reason(output: str, code: int) -> str:
    """DVC's own explanation from its output: its ERROR lines, else its last lines."""
    lines = [" ".join(_ANSI.sub("", ln).split()) for ln in output.splitlines()]
    lines = [ln for ln in lines if ln]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    chosen = errors or lines[-3:]
    return " | ".join(chosen)[:600] if chosen else f"exit code {code} and no message"


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    # Not -q: DVC's quiet mode drops its ERROR lines too, leaving an empty cause.
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        reason = _dvc_reason(f"{proc.stdout}\n{proc.stderr}", proc.returncode)
        raise CheckFailed(
            f"`{' '.join(cmd)}` failed while reproducing: {reason}",
            "the version cannot be reproduced as committed; run it by hand in a clone",
        )


def _pull(origin: Path, clone: Path) -> None:
    """Check out the data ``dvc add`` tracks at the version: the user's cache first, then
    the DVC remote."""
    targets = dvcstore.dvc_files(clone)
    if not targets:
        return
    progress("pulling tracked data (the local DVC cache, then the remote)...")
    try:
        dvcstore.pull(clone, targets, also_from=dvcstore.cache_dir(origin))
    except dvcstore.DvcError as exc:
        raise CheckFailed(
            f"cannot check out the version's data ({', '.join(targets)}): {exc.what}",
            exc.fix or "push it with `dvc push` where it was added",
        ) from None


def _sha256(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def verify(
    spec: str, repo: str | Path = ".", *, keep: bool = False, params_path: str = paths.PARAMS
) -> VerifyReport:
    """Reproduce ``spec`` in a temporary clone and compare it with the registry."""
    from release.registry.api import read_state
    from release.serve.loader import load_version

    name, version = parse_spec(spec)
    origin = Path(repo).resolve()
    state = read_state(origin)
    commit = state.version_commit(name, version)
    report = VerifyReport(name, version, commit)
    progress(f"loading the registered model {name}@{version} ({commit[:8]})...")
    registered = load_version(origin, name, version)

    workdir = Path(tempfile.mkdtemp(prefix="release-verify-"))
    clone = workdir / "repo"
    try:
        progress(f"cloning {commit[:8]} into {clone}...")
        gitcmd.run(origin, "clone", "-q", "--no-checkout", str(origin), str(clone), timeout=600)
        gitcmd.run(clone, "checkout", "-q", "--detach", commit, timeout=600)
        dvcstore.prepare_clone(clone, origin)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(clone), env.get("PYTHONPATH")]))
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["DVC_NO_ANALYTICS"] = "1"
        _pull(origin, clone)
        with status("reproducing the pipeline (dvc repro --force)..."):
            _run(["dvc", "repro", "--force"], clone, env)
        _compare(report, origin, clone, commit, registered)
        _lineage(report, origin, clone, commit, registered, state, params_path)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return report


def _compare(report: VerifyReport, origin: Path, clone: Path, commit: str, registered: Any) -> None:
    import numpy as np
    import pandas as pd

    from release.model.persist import load_model, read_metadata
    from release.model.predict import predict

    checks = report.checks
    old_prov = _show_json(origin, commit, paths.PROVENANCE) or {}
    new_prov = json.loads((clone / paths.PROVENANCE).read_text())
    for split in ("train", "test"):
        before = (old_prov.get("splits") or {}).get(split, {}).get("sha256")
        after = new_prov["splits"][split]["sha256"]
        checks.append(Check(f"data {split} sha256", before == after, before, after))
    source_before = (old_prov.get("source") or {}).get("sha256")
    if source_before:
        source_after = new_prov["source"].get("sha256")
        checks.append(
            Check("source file sha256", source_before == source_after, source_before, source_after)
        )

    model_after = _sha256(clone / paths.MODEL)
    same_bytes = model_after == registered.sha256
    checks.append(
        Check(
            "model file sha256",
            same_bytes,
            registered.sha256,
            model_after,
            "identical bytes" if same_bytes else "the reproduced model file differs",
        )
    )

    meta = read_metadata(clone / paths.MODEL_META)
    reproduced = load_model(clone / paths.MODEL)
    test = pd.read_parquet(clone / paths.TEST)
    labels_a, proba_a = predict(registered.pipeline, registered.meta, test)
    labels_b, proba_b = predict(reproduced, meta, test)
    same_labels = bool(np.array_equal(np.asarray(labels_a), np.asarray(labels_b)))
    if proba_a is not None and proba_b is not None:
        max_diff = float(np.max(np.abs(proba_a - proba_b))) if len(test) else 0.0
    else:
        max_diff = float(np.max(np.abs(np.asarray(labels_a, float) - np.asarray(labels_b, float))))
        same_labels = max_diff <= TOLERANCE
    ok = same_labels and max_diff <= TOLERANCE
    note = (
        "identical predictions"
        if max_diff == 0 and same_labels
        else f"max difference {max_diff:.3g} (tolerance {TOLERANCE:g}: floating-point "
        "summation order may differ across BLAS/OpenMP builds)"
    )
    checks.append(
        Check(
            f"predictions on {len(test)} evaluation rows",
            ok,
            "registered model",
            "reproduced model",
            note,
        )
    )

    old_metrics = _registered_metrics(origin, commit)
    new_metrics = dict(load_metrics(clone / paths.METRICS).values)
    diffs = {
        k: (old_metrics.get(k), new_metrics.get(k))
        for k in sorted(set(old_metrics) | set(new_metrics))
        if not _close(old_metrics.get(k), new_metrics.get(k))
    }
    checks.append(
        Check(
            "metrics",
            not diffs,
            old_metrics,
            new_metrics,
            "identical" if not diffs else f"differ: {', '.join(diffs)}",
        )
    )


def _registered_metrics(origin: Path, commit: str) -> dict[str, float]:
    """The registered commit's ``metrics.json`` through its typed reader ({} when absent)."""
    raw = gitcmd.show(origin, commit, paths.METRICS)
    try:
        return {} if raw is None else dict(read_metrics(raw, commit[:12]).values)
    except FactError:
        return {}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= TOLERANCE
    return a == b


def _lineage(
    report: VerifyReport,
    origin: Path,
    clone: Path,
    commit: str,
    registered: Any,
    state: Any,
    params_path: str,
) -> None:
    prov = json.loads((clone / paths.PROVENANCE).read_text())
    params_sha = _sha256(clone / paths.PARAMS)
    art = state.artifacts.get(report.artifact)
    vstate = art.versions.get(report.version) if art else None
    tags = [f"{report.artifact}@{report.version}"]
    stages: list[str] = []
    if vstate is not None:
        # Stages this version holds now (a later assignment of another version replaces it).
        stages = sorted(
            s
            for s in vstate.active_stages()
            if state.active_version(report.artifact, s) == report.version
        )
        tags += [f"{report.artifact}#{s}" for s in stages]
    deployments = []
    try:
        from release.config import load_settings
        from release.deploy.records import list_records

        settings_file = origin / params_path
        state_dir = origin / load_settings(settings_file).release.deploy.state_dir
        for record in list_records(state_dir, report.artifact):
            current = record.get("current") or {}
            if current.get("version") == report.version:
                deployments.append(f"{record['stage']} ({record.get('target', 'local')})")
    except Exception as exc:  # records are optional; say why they are not shown
        deployments.append(f"unavailable: {exc}")
    report.lineage = {
        "data": {s: prov["splits"][s]["sha256"] for s in ("train", "test")},
        "params_sha256": params_sha,
        "commit": commit,
        "model_sha256": registered.sha256,
        "tags": tags,
        "stages": stages,
        "deployments": deployments,
    }


def render(report: VerifyReport) -> str:
    """The human-readable report: checks, then the lineage chain."""
    lines = [f"verify {report.artifact}@{report.version} (commit {report.commit[:12]})"]
    for c in report.checks:
        mark = "ok  " if c.passed else "FAIL"
        detail = c.note or (
            f"{str(c.registered)[:16]}"
            if c.passed
            else f"registered {str(c.registered)[:16]} != {str(c.reproduced)[:16]}"
        )
        lines.append(f"  {mark} {c.name}: {detail}")
    lin = report.lineage
    if lin:
        lines.append("lineage:")
        lines.append(
            f"  data train {lin['data']['train'][:12]} test {lin['data']['test'][:12]}"
            f" -> params {str(lin['params_sha256'])[:12]} -> commit {lin['commit'][:12]}"
            f" -> model {lin['model_sha256'][:12]} -> {', '.join(lin['tags'])}"
            f" -> deployed: {', '.join(lin['deployments']) or 'nowhere'}"
        )
    lines.append("reproduced" if report.passed else "NOT reproduced")
    return "\n".join(lines)


@click.command()
@click.argument("spec")
@repo_option("Git repository of the registry.")
@click.option("--keep", is_flag=True, help="Keep the temporary clone for inspection.")
@json_option
def verify_command(spec: str, repo: str, keep: bool, as_json: bool) -> None:
    """Reproduce NAME@vX.Y.Z in a temporary clone and compare with the registry."""
    report = verify(spec, repo, keep=keep)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(render(report))
    if not report.passed:
        failed = ", ".join(c.name for c in report.checks if not c.passed)
        raise CheckFailed(f"{spec} is not reproducible: {failed}", "see the report above")

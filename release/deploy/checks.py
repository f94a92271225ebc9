"""Checks before any traffic: the input contract, a smoke test and the golden-set replay.

The contract check compares the V2 metadata inputs (name, datatype) of candidate and
baseline: a changed schema must be declared (``--allow-schema-change``). The smoke test
sends a few requests built from the metadata straight to the candidate. The golden set
is the evaluation run of the candidate's own commit: rows of the test set and the
predictions recorded for them (``reports/predictions.parquet``), found through that
commit's ``dvc.lock`` (in the working tree when the hashes match, else in the DVC cache)
or in git itself. The candidate must reproduce them.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import dvcstore, gitcmd, paths
from release.config import JudgeSettings
from release.deploy.judge import Check, Verdict, judge_golden
from release.errors import DeployError


def fetch_metadata(url: str, name: str, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /v2/models/{name}`` from one server."""
    import httpx

    try:
        resp = httpx.get(f"{url}/v2/models/{name}", timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise DeployError(
            f"cannot read model metadata from {url}: {exc}", "is it running?"
        ) from None
    if resp.status_code != 200:
        raise DeployError(
            f"{url} answered {resp.status_code} for model {name!r} metadata",
            "serve the model under the artifact's name",
        )
    data = resp.json()
    if not isinstance(data, dict):
        raise DeployError(f"{url} answered metadata that is not an object", "check the server")
    return data


def contract_check(
    baseline: dict[str, Any], candidate: dict[str, Any], *, allow_change: bool = False
) -> Check:
    """Candidate inputs must equal the baseline's (name and datatype), unless declared."""

    def inputs(meta: dict[str, Any]) -> dict[str, str]:
        return {str(i["name"]): str(i.get("datatype")) for i in meta.get("inputs", [])}

    base, cand = inputs(baseline), inputs(candidate)
    removed = sorted(set(base) - set(cand))
    added = sorted(set(cand) - set(base))
    changed = sorted(k for k in set(base) & set(cand) if base[k] != cand[k])
    numbers = {"removed": removed, "added": added, "changed": changed, "declared": allow_change}
    if not (removed or added or changed):
        return Check("contract", "pass", f"same {len(cand)} inputs as the baseline", numbers)
    parts = []
    if removed:
        parts.append("removed " + ", ".join(removed))
    if added:
        parts.append("added " + ", ".join(added))
    if changed:
        parts.append("changed " + ", ".join(f"{k} {base[k]}->{cand[k]}" for k in changed))
    detail = "input schema changed: " + "; ".join(parts)
    if allow_change:
        return Check("contract", "pass", detail + " (declared)", numbers)
    return Check("contract", "fail", detail + " (declare it with --allow-schema-change)", numbers)


def smoke_check(
    url: str, name: str, metadata: dict[str, Any], *, requests: int = 20, timeout: float = 10.0
) -> Check:
    """Single-row requests built from the model's own metadata, straight to the candidate:
    every one must succeed (a server failing a share of requests is caught before traffic).

    Numeric inputs get 0.0 and categorical ones their first known category, so the check
    needs no data and works for every strategy.
    """
    import httpx

    features = {
        str(f.get("name")): f for f in (metadata.get("parameters") or {}).get("features", [])
    }
    inputs = []
    for item in metadata.get("inputs", []):
        datatype = str(item.get("datatype", "FP64"))
        if datatype == "BYTES":
            cats = features.get(str(item["name"]), {}).get("categories") or [""]
            value: Any = str(cats[0])
        else:
            value = 0.0
        inputs.append({"name": item["name"], "shape": [1], "datatype": datatype, "data": [value]})
    body = {"inputs": inputs}
    failures: dict[str, int] = {}
    latencies: list[float] = []

    def one(client: httpx.Client) -> None:
        try:
            resp = client.post(f"{url}/v2/models/{name}/infer", json=body)
            latencies.append(resp.elapsed.total_seconds() * 1000)
            if resp.status_code == 200:
                return
            key = str(resp.status_code)
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        failures[key] = failures.get(key, 0) + 1

    # A few at a time, so a slow candidate does not make the check slow.
    with (
        httpx.Client(timeout=timeout, trust_env=False) as client,
        ThreadPoolExecutor(max_workers=5) as pool,
    ):
        list(pool.map(lambda _: one(client), range(requests)))
    latencies.sort()
    numbers = {
        "requests": requests,
        "failed": sum(failures.values()),
        "failures": failures,
        "p50_ms": latencies[len(latencies) // 2] if latencies else None,
    }
    if failures:
        listed = ", ".join(f"{n} x {k}" for k, n in sorted(failures.items()))
        reason = f"smoke: {sum(failures.values())}/{requests} requests failed ({listed})"
        return Check("smoke", "fail", reason, numbers)
    return Check("smoke", "pass", f"smoke: {requests} requests answered", numbers)


# ----------------------------------------------------------------------- golden set
@dataclass(frozen=True)
class GoldenSet:
    """Test rows and the predictions recorded for them at evaluation time."""

    features: Path
    predictions: Path
    source: str


def _resolve(repo: Path, rel: str, commit: str, tmp: Path) -> tuple[Path | None, str]:
    """A file equal to ``rel`` at ``commit`` (working tree, DVC cache or git blob), and
    where DVC or git recorded it."""
    blob = gitcmd.show(repo, commit, rel)
    if blob is None:
        return dvcstore.file_at(repo, commit, rel), "dvc.lock"
    out = tmp / Path(rel).name
    out.write_bytes(blob)
    return out, "git"


def find_golden(repo: str | Path, commit: str, tmp: Path) -> GoldenSet | None:
    """The golden set recorded at ``commit``, or None when it cannot be found."""
    repo = Path(repo)
    try:
        features, source = _resolve(repo, paths.TEST, commit, tmp)
        predictions, _ = _resolve(repo, paths.PREDICTIONS, commit, tmp)
    except dvcstore.DvcError:  # a directory listing not in the cache: no golden set here
        return None
    if features is None or predictions is None:
        return None
    return GoldenSet(features, predictions, source)


def golden_replay(
    url: str,
    name: str,
    metadata: dict[str, Any],
    golden: GoldenSet,
    *,
    rows: int,
    settings: JudgeSettings,
    batch: int = 50,
) -> Verdict:
    """Send the golden rows to the candidate directly; compare with the recorded answers."""
    import httpx
    import pandas as pd

    from release.deploy.replay import Rows
    from release.deploy.router import parse_outputs

    test = pd.read_parquet(golden.features)
    preds = pd.read_parquet(golden.predictions)
    if len(test) != len(preds) or "y_pred" not in preds.columns:
        reason = f"golden set: {len(test)} test rows but {len(preds)} recorded predictions"
        return Verdict("fail", [reason], [Check("golden", "fail", reason)])
    datatypes = {str(i["name"]): str(i.get("datatype", "FP64")) for i in metadata["inputs"]}
    names = list(datatypes)
    missing = [c for c in names if c not in test.columns]
    if missing:
        reason = f"golden set lacks input column(s) {', '.join(missing)}"
        return Verdict("fail", [reason], [Check("golden", "fail", reason)])
    test = test.head(rows)
    preds = preds.head(rows)
    columns = {c: test[c].astype(object).where(test[c].notna(), None).tolist() for c in names}
    data = Rows(columns)
    classes = (metadata.get("parameters") or {}).get("classes") or []
    proba_cols = [f"proba_{c}" for c in classes]
    has_proba = bool(proba_cols) and all(c in preds.columns for c in proba_cols)
    got: list[Any] = []
    got_scores: list[float] = []
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        for start in range(0, len(data), batch):
            body = data.request(start, min(start + batch, len(data)), datatypes)
            try:
                resp = client.post(f"{url}/v2/models/{name}/infer", json=body)
            except httpx.HTTPError as exc:
                reason = f"golden set: candidate failed to answer: {type(exc).__name__}"
                return Verdict("fail", [reason], [Check("golden", "fail", reason)])
            outputs = parse_outputs(resp.content) if resp.status_code == 200 else None
            if outputs is None:
                reason = f"golden set: candidate answered {resp.status_code}: {resp.text[:200]}"
                return Verdict("fail", [reason], [Check("golden", "fail", reason)])
            got.extend(outputs.predictions)
            for row in outputs.probabilities:
                got_scores.extend(row)
    expected_scores = preds[proba_cols].to_numpy().ravel().tolist() if has_proba else None
    return judge_golden(
        preds["y_pred"].tolist(),
        got,
        expected_scores=expected_scores,
        got_scores=got_scores if has_proba else None,
        settings=settings,
    )


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    """A scratch folder for golden files taken from git."""
    return tempfile.TemporaryDirectory(prefix="release-golden-")

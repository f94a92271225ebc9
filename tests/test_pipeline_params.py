"""dvc.yaml declares, stage by stage, exactly the settings each stage's command reads.

The reads are recorded, not listed by hand: each stage runs in process on a small copy of
this project while every field read on the typed settings is noted
(``tests/settings_reads.py``). Then, in that real repository with its real ``dvc.lock``,
each setting read anywhere is changed in ``params.yaml`` and ``dvc status`` must mark
exactly the stages that read it. A stage that reads a setting it does not declare would
keep stale outputs; one that declares settings it never reads reruns for nothing and
makes ``dvc.lock`` (rewritten by ``dvc repro`` after every stage) longer (issue 19).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from release.cli import main
from release.scaffold import plan as planning
from release.scaffold.infer import infer
from release.workspace import copy_project
from tests.settings_reads import record_reads
from tests.support import ROOT, edit_params, run

pytestmark = pytest.mark.slow

# Settings a stage reads only to refuse bad ones before work starts (every column a
# setting names must be in the data), with the stage that checks them again and declares
# them. They do not shape the stage's outputs, so changing them need not rerun it.
CHECK_ONLY: dict[str, dict[str, str]] = {
    "prepare": {
        "validate.categories": "validate",
        "validate.null_rate": "validate",
        "validate.ranges": "validate",
        "evaluate.slices": "validate",
        "monitor.drift.methods": "",
    },
    # ``monitor`` is optional in params.yaml (a scaffolded project has none), so no stage
    # can declare it; `release monitor` checks its column names against each batch.
    "validate": {"monitor.drift.methods": ""},
}
SENTINEL = "<changed by the test>"


def stage_params(dvc_yaml: str) -> dict[str, list[str]]:
    """Each stage's declared keys of params.yaml."""
    stages = yaml.safe_load(dvc_yaml)["stages"]
    return {name: [str(p) for p in stage.get("params", [])] for name, stage in stages.items()}


def covers(declared: str, key: str) -> bool:
    """Whether DVC tracking ``declared`` sees a change of ``key`` (itself or inside it)."""
    return key == declared or key.startswith(declared + ".")


def check_only(stage: str, key: str) -> bool:
    return any(covers(k, key) for k in CHECK_ONLY.get(stage, {}))


def in_process(project: Path, args: list[str]) -> set[str]:
    """Run ``release ARGS`` in ``project`` in this process; the settings it read."""
    cwd = Path.cwd()
    os.chdir(project)
    try:
        with record_reads() as reads:
            main(["-q", *args])
    finally:
        os.chdir(cwd)
    return set(reads)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, set[str]]]]:
    """This project run stage by stage in process (reads recorded), then ``dvc commit``:
    a real repository whose dvc.lock matches its outputs."""
    tmp = tmp_path_factory.mktemp("params")
    project = copy_project(ROOT, tmp / "project", commit=False)
    small = {"rows": 1500}, {"min_slice_rows": 10}, {"bootstrap": 50}
    edit_params(project, dict(zip(("data", "validate", "evaluate"), small, strict=True)))
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    reads = {}
    for name, stage in stages.items():
        command = stage["cmd"].split()
        assert command[0] == "release", stage["cmd"]
        reads[name] = in_process(project, command[1:])
    # A CSV source reads settings the builtin one does not (path, markers, delimiter).
    csv = tmp / "csv"
    (csv / "data/raw").mkdir(parents=True)
    frames = [pd.read_parquet(project / f"data/prepared/{s}.parquet") for s in ("train", "test")]
    pd.concat(frames).to_csv(csv / "data/raw/loans.csv", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(source="csv", path="data/raw/loans.csv", na_values=["?"])
    (csv / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    reads["prepare"] |= in_process(csv, ["data", "prepare"])
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "project"], project)
    run(["dvc", "commit", "--force", "--quiet"], project)
    yield project, reads


def test_every_setting_a_stage_reads_is_declared_and_nothing_more(traced) -> None:
    project, reads = traced
    declared = stage_params((project / "dvc.yaml").read_text())
    assert set(declared) == set(reads)
    for stage, keys in reads.items():
        undeclared = sorted(
            k
            for k in keys
            if not check_only(stage, k) and not any(covers(d, k) for d in declared[stage])
        )
        assert not undeclared, f"{stage} reads {undeclared}: declare them in dvc.yaml"
        unread = [d for d in declared[stage] if not any(covers(d, k) for k in keys)]
        assert not unread, f"{stage} declares {unread} but never reads them"
    for stage, keys in CHECK_ONLY.items():
        for key, checker in keys.items():
            if checker:
                assert any(covers(d, key) for d in declared[checker]), (stage, key, checker)


def test_changing_a_setting_reruns_exactly_the_stages_that_read_it(traced) -> None:
    from dvc.repo import Repo

    project, reads = traced
    path = project / "params.yaml"
    original = path.read_text()
    mismatches = []
    with Repo(str(project)) as repo:  # status() re-reads params.yaml on each call
        assert repo.status() == {}, "dvc commit left the pipeline out of date"
        for key in sorted(set().union(*reads.values())):
            readers = {s for s, keys in reads.items() if key in keys and not check_only(s, key)}
            params = yaml.safe_load(original)
            node = params
            *parents, leaf = key.split(".")
            for part in parents:
                node = node[part]
            node[leaf] = SENTINEL  # a new value, or a key params.yaml left to its default
            path.write_text(yaml.safe_dump(params, sort_keys=False))
            status = repo.status()  # keyed "dvc.yaml:stage", relative to this process's cwd
            changed = {n.rsplit(":", 1)[-1] for n, e in status.items() if _params_changed(e)}
            if changed != readers:
                mismatches.append(f"{key}: dvc reruns {sorted(changed)}, read by {sorted(readers)}")
    path.write_text(original)
    assert not mismatches, "\n".join(mismatches)


def _params_changed(entries: list[Any]) -> bool:
    """Whether a stage's ``dvc status`` entries list a change in params.yaml."""
    for entry in entries:
        if isinstance(entry, dict):
            deps = entry.get("changed deps") or {}
            if any(str(name).endswith("params.yaml") for name in deps):
                return True
    return False


# ------------------------------------------------------------- every project can run it
def _scaffold_params(tmp_path: Path, target: str) -> dict[str, Any]:
    rows = [
        {"age": str(20 + i % 50), "sex": "fm"[i % 2], "income": str(1000 + 7 * i)}
        for i in range(200)
    ]
    frame = pd.DataFrame(rows)
    frame["label"] = ["yes" if i % 3 else "no" for i in range(200)]
    frame["amount"] = [f"{i * 1.5:.1f}" for i in range(200)]
    inf = infer(frame.astype(str), target)
    text = planning.render_params(planning.params_for(inf, "data/raw/d.csv", "m"), [])
    return yaml.safe_load(text)


def _has(params: dict[str, Any], key: str) -> bool:
    node: Any = params
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_every_declared_key_is_in_every_params_yaml_release_writes(tmp_path) -> None:
    """DVC refuses a declared key params.yaml lacks: the keys are in every file we write."""
    written = {
        "this repository": yaml.safe_load((ROOT / "params.yaml").read_text()),
        "binary project": _scaffold_params(tmp_path, "label"),
        "regression project": _scaffold_params(tmp_path, "amount"),
    }
    for name in planning.EXAMPLES:
        text = (ROOT / "release/examples" / name / "params.yaml").read_text()
        written[f"example {name}"] = yaml.safe_load(text)
    for task in ("binary", "multiclass", "regression"):
        rendered = planning.render_dvc_yaml(task, "d.csv", tool_source=False)
        for stage, keys in stage_params(rendered).items():
            for key in keys:
                missing = [name for name, params in written.items() if not _has(params, key)]
                assert not missing, f"{stage} declares {key}, absent from {missing}"


def test_yaml_dvc_reads_is_parsed_by_libyaml_as_by_the_pure_parser() -> None:
    """`dvc repro` parses params.yaml about five times per stage: with libyaml (the
    ruamel.yaml.clib dependency), not ruamel's pure-Python parser; same values either way."""
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__module__.startswith("ruamel.yaml.clib"), "C parser missing"
    for rel in (
        "params.yaml",
        "dvc.yaml",
        *(f"release/examples/{n}/params.yaml" for n in planning.EXAMPLES),
    ):
        text = (ROOT / rel).read_text()
        assert YAML(typ="safe").load(text) == YAML(typ="safe", pure=True).load(text), rel

"""Pipeline outputs stay ignored by git, even after a `dvc repro` that fails midway."""

from __future__ import annotations

from pathlib import Path

import pytest

from release import paths
from release.data import ignore
from tests.support import ROOT, run


def test_merge_adds_the_block_once_and_keeps_the_users_lines() -> None:
    user = "# mine\n*.log\n/data/prepared/\n"
    merged = ignore.merge_gitignore(user)
    assert merged.startswith(user)
    assert ignore.missing_lines(merged) == []
    assert merged.count("/data/prepared/") == 1
    assert ignore.merge_gitignore(merged) == merged  # a second run changes nothing
    assert ignore.merge_gitignore("") == ignore.gitignore_block()
    assert ignore.merge_gitignore("*.log").startswith("*.log\n\n")


def test_this_repository_ships_the_block() -> None:
    assert ignore.missing_lines((ROOT / ".gitignore").read_text()) == []
    assert f"/{paths.MODEL}" in ignore.PIPELINE_OUTPUTS


@pytest.mark.slow
def test_failed_repro_leaves_no_data_or_model_to_commit(make_project) -> None:
    project: Path = make_project(
        {
            "data": {"rows": 1000},
            "validate": {"min_rows": 100, "min_slice_rows": 1},
            "train": {"params": {"max_iter": 20}},
            # Fails inside evaluate, after train saved the model and evaluate wrote
            # its predictions: the worst moment for DVC's own .gitignore entries.
            "evaluate": {"bootstrap": 20, "hlp": {"source": "given", "given": {}}},
        }
    )
    proc = run(["dvc", "repro"], project, check=False)
    assert proc.returncode != 0 and "evaluate.hlp.source is 'given'" in proc.stderr + proc.stdout
    outputs = [paths.TRAIN, paths.TEST, paths.MODEL, paths.PREDICTIONS]
    for output in outputs:
        assert (project / output).is_file(), output
    (project / "dvc_plots").mkdir()
    (project / "dvc_plots/index.html").write_text("<html></html>")

    run(["git", "add", "-A"], project)
    staged = run(["git", "diff", "--cached", "--name-only"], project).stdout.splitlines()
    binaries = [f for f in staged if f.endswith((".parquet", ".skops")) or "dvc_plots" in f]
    assert binaries == [], staged
    assert paths.MODEL_META in staged  # small outputs kept in git are still committed

    # The top-level block is what does it: without it, the model would be staged.
    run(["git", "reset", "-q"], project)
    gitignore = project / ".gitignore"
    text = gitignore.read_text()
    gitignore.write_text(text.replace(ignore.gitignore_block(), ""))
    dry = run(["git", "add", "-A", "--dry-run"], project).stdout
    assert paths.MODEL in dry

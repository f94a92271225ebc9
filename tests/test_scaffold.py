"""``release init``: inferences on real data, files written, refusal, idempotence, examples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from release.cli import cli
from release.errors import UsageError
from release.scaffold import plan as planning
from release.scaffold.infer import infer
from release.scaffold.table import read_data
from tests.support import ROOT, run

DEMO_WORDS = re.compile(r"loan|credit|\bdefault\b|synthetic|consumer", re.I)


def sklearn_csv(tmp_path: Path, loader: str, name: str, **kwargs) -> Path:
    """A dataset that ships with scikit-learn, exported to CSV as a user would."""
    import sklearn.datasets

    frame = getattr(sklearn.datasets, loader)(as_frame=True, **kwargs).frame
    path = tmp_path / "data" / "raw" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def messy_csv(tmp_path: Path, rows: int = 120, *, markers: bool = True) -> Path:
    """`?` and `-` markers, hyphenated names, duplicates, numeric codes, an id and an inf.

    ``markers=False``: the same table without missing values, infinities or duplicates.
    """
    lines = ["customer_id,age,sex,hours-per-week,native-country,region_code,income,label"]
    for i in range(rows):
        hours = "?" if markers and i % 17 == 0 else str(20 + i % 40)
        income = "-" if markers and i % 23 == 0 else f"{1000 + 37.5 * i:.1f}"
        country = "?" if markers and i % 19 == 0 else ["us", "mx", "de"][i % 3]
        lines.append(
            f"{1000 + i},{18 + i % 60},{'female' if i % 2 else 'male'},{hours},{country},"
            f"{1 + i % 4},{income},{'yes' if (i * 7) % 5 < 2 else 'no'}"
        )
    if markers:
        lines[5] = lines[5].replace(f"{1000 + 4 * 37.5:.1f}", "inf")
        lines += [lines[10], lines[10]]  # two exact duplicates of a row
    path = tmp_path / "data" / "raw" / "people.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    run(["git", "init", "-q", "-b", "main"], path)
    return path


def init(root: Path, *args: str):
    result = CliRunner().invoke(cli, ["init", "--dir", str(root), *args], catch_exceptions=True)
    return result


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and ".git/" not in str(p.relative_to(root)) + "/"
        and not str(p.relative_to(root)).startswith(".git/")
    }


# ------------------------------------------------------------------------------ inference
def test_wine_is_multiclass_without_protected_attributes(tmp_path) -> None:
    raw, delimiter = read_data(sklearn_csv(tmp_path, "load_wine", "wine"))
    inf = infer(raw, "target", delimiter=delimiter)
    assert inf.task == "multiclass" and inf.classes == ["0", "1", "2"]
    assert inf.na_values == [] and inf.id_like == [] and inf.protected == []
    assert inf.primary_metric == "accuracy"
    # no categorical column to slice: the most related numeric feature, by quartiles
    assert len(inf.bins) == 1 and next(iter(inf.bins.values()))[-1] == "inf"
    assert any("task multiclass" in n for n in inf.notes)


def test_diabetes_is_regression_with_coded_sex_and_age_protected(tmp_path) -> None:
    raw, delimiter = read_data(sklearn_csv(tmp_path, "load_diabetes", "diabetes", scaled=False))
    inf = infer(raw, "target", delimiter=delimiter)
    assert inf.task == "regression" and inf.classes == []
    assert inf.primary_metric == "mae"
    assert inf.column("sex").kind == "categorical"
    assert inf.column("sex").categories == ["1", "2"]
    assert set(inf.protected) == {"age", "sex"}
    assert "sex" in inf.slice_columns and "age" in inf.bins
    assert any("sex: 2 numeric codes" in n for n in inf.notes)


def test_breast_cancer_is_binary(tmp_path) -> None:
    raw, delimiter = read_data(sklearn_csv(tmp_path, "load_breast_cancer", "cancer"))
    inf = infer(raw, "target", delimiter=delimiter)
    assert inf.task == "binary" and inf.classes == ["0", "1"]
    assert inf.id_like == [] and inf.protected == [] and inf.na_values == []


def test_messy_csv_markers_ids_protected_and_duplicates(tmp_path) -> None:
    raw, delimiter = read_data(messy_csv(tmp_path))
    inf = infer(raw, "label", delimiter=delimiter)
    assert delimiter == ","
    assert inf.na_values == ["?", "-"]
    assert inf.id_like == ["customer_id"]
    assert inf.protected == ["age", "sex", "native-country"]
    assert inf.protected_checked == ["sex", "native-country"]  # age: through its bins
    assert inf.task == "binary" and inf.classes == ["no", "yes"]
    assert inf.duplicate_rows == 2
    assert inf.column("hours-per-week").kind == "integer"
    assert inf.column("hours-per-week").nulls > 0
    assert inf.column("income").kind == "numeric"  # "-" is missing, "inf" a number
    assert inf.column("region_code").kind == "categorical"
    assert inf.column("native-country").categories == ["de", "mx", "us"]
    assert "sex" in inf.slice_columns
    assert "age" in inf.bins


def test_user_choices_win_and_are_checked(tmp_path) -> None:
    raw, _ = read_data(messy_csv(tmp_path))
    inf = infer(raw, "label", task="binary", protected=["sex"], slices=["region_code"])
    assert inf.protected == ["sex"] and inf.slice_columns == ["region_code"]
    with pytest.raises(UsageError, match="target column 'nope'"):
        infer(raw, "nope")
    with pytest.raises(UsageError, match="--slices column 'zip'"):
        infer(raw, "label", slices=["zip"])
    with pytest.raises(UsageError, match="not numeric"):
        infer(raw, "label", task="regression")


def test_semicolon_csv_is_sniffed_and_flagged(tmp_path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;y\n" + "".join(f"{i};{i % 3};{i % 2}\n" for i in range(40)))
    raw, delimiter = read_data(path)
    assert delimiter == ";" and list(raw.columns) == ["a", "b", "y"]
    assert any("delimiter ';'" in n for n in infer(raw, "y", delimiter=delimiter).notes)


def test_parquet_and_bad_inputs(tmp_path) -> None:
    frame = pd.DataFrame({"x": range(50), "g": ["a", "b"] * 25, "y": [0.5 * i for i in range(50)]})
    frame.to_parquet(tmp_path / "t.parquet")
    raw, delimiter = read_data(tmp_path / "t.parquet")
    assert delimiter is None and infer(raw, "y", delimiter=None).task == "regression"
    from release.errors import DataError

    with pytest.raises(DataError, match="is a directory"):
        read_data(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_data(tmp_path / "missing.csv")


# ---------------------------------------------------------------------------- the files
def test_init_writes_a_valid_project_and_a_second_run_changes_nothing(tmp_path) -> None:
    root = git_repo(tmp_path / "p")
    data = messy_csv(root)
    result = init(root, "--data", str(data), "--target", "label", "--yes")
    assert result.exit_code == 0, result.output
    for rel in ("params.yaml", "dvc.yaml", "card.yaml", ".gto", "artifacts.yaml", ".gitignore"):
        assert (root / rel).is_file(), rel
    for rel in planning.github_files(tool_source=False):
        assert (root / rel.path).is_file(), rel.path
    assert (root / ".github/scripts/fetch-annotated-tags.sh").stat().st_mode & 0o111
    params = yaml.safe_load((root / "params.yaml").read_text())
    planning.check_params(params)  # valid for release.config
    assert params["data"]["na_values"] == ["?", "-"]
    assert params["data"]["exclude"] == ["customer_id"]
    assert params["data"]["protected"] == ["sex", "native-country"]
    assert "age" in params["evaluate"]["slices"]["bins"]
    assert params["data"]["path"] == "data/raw/people.csv"
    assert params["release"]["artifact"] == "people-model"
    assert "customer_id" not in params["validate"]["dtypes"]
    remote = run(["dvc", "remote", "default"], root).stdout.strip()
    assert remote == "local"
    assert "/models/model.skops" in (root / ".gitignore").read_text()
    assert "Next:" in result.output and "dvc repro" in result.output
    assert "release register people-model" in result.output
    before = snapshot(root)
    again = init(root, "--data", str(data), "--target", "label", "--yes")
    assert again.exit_code == 0, again.output
    assert "Nothing to change" in again.output
    assert snapshot(root) == before


def test_init_refuses_to_overwrite_unless_forced(tmp_path) -> None:
    root = git_repo(tmp_path / "p")
    data = messy_csv(root)
    (root / "params.yaml").write_text("# mine\n")
    (root / ".gitignore").write_text("secret.txt")
    result = init(root, "--data", str(data), "--target", "label", "--yes")
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)
    assert "params.yaml" in str(result.exception) and "nothing was written" in (
        result.exception.fix or ""
    )
    assert "conflict  params.yaml" in result.output
    assert (root / "params.yaml").read_text() == "# mine\n"
    assert not (root / "dvc.yaml").exists() and not (root / ".dvc").exists()
    forced = init(root, "--data", str(data), "--target", "label", "--yes", "--force", "params.yaml")
    assert forced.exit_code == 0, forced.output
    assert "overwrite params.yaml" in forced.output
    assert "na_values" in (root / "params.yaml").read_text()
    ignore = (root / ".gitignore").read_text()
    assert ignore.startswith("secret.txt\n") and "/data/prepared/" in ignore  # appended
    bad = init(root, "--data", str(data), "--target", "label", "--force", "nope.txt")
    assert "not a file of the plan" in str(bad.exception)


def test_dry_run_writes_nothing(tmp_path) -> None:
    root = git_repo(tmp_path / "p")
    data = messy_csv(root)
    before = snapshot(root)
    result = init(root, "--data", str(data), "--target", "label", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was written." in result.output
    assert "missing-value markers found: '?', '-'" in result.output
    assert "customer_id: looks like an identifier" in result.output
    assert "create    params.yaml" in result.output and "run       dvc init" in result.output
    assert snapshot(root) == before and not (root / ".dvc").exists()


def test_outside_git_needs_git_flag_and_data_inside(tmp_path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    data = messy_csv(root)
    result = init(root, "--data", str(data), "--target", "label", "--yes")
    assert "not the root of a git repository" in str(result.exception)
    outside = messy_csv(tmp_path / "elsewhere")
    result = init(root, "--git", "--data", str(outside), "--target", "label", "--yes")
    assert "outside the project" in str(result.exception)
    result = init(root, "--git", "--data", str(data), "--target", "label", "--yes")
    assert result.exit_code == 0, result.output
    assert (root / ".git").is_dir() and (root / ".dvc").is_dir()


def test_regression_pipeline_has_residual_plots_never_roc(tmp_path) -> None:
    reg = yaml.safe_load(planning.render_dvc_yaml("regression", "d.csv", tool_source=False))
    plots = [next(iter(p)) for p in reg["plots"]]
    assert "reports/plots/predicted_vs_actual.csv" in plots
    assert "reports/plots/residuals.csv" in plots
    assert not any("roc" in p or "confusion" in p for p in plots)
    cls = yaml.safe_load(planning.render_dvc_yaml("binary", "d.csv", tool_source=False))
    assert "reports/plots/roc.csv" in [next(iter(p)) for p in cls["plots"]]
    # a project without the release sources depends on its data, not on release/ code
    deps = [d for s in reg["stages"].values() for d in s.get("deps", [])]
    assert "d.csv" in deps and not any(str(d).startswith("release/") for d in deps)
    assert [s["cmd"] for s in reg["stages"].values()] == [
        s["cmd"] for s in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values()
    ]


def test_artifacts_yaml_is_what_gto_writes(tmp_path) -> None:
    from gto.index import FileIndexManager

    git_repo(tmp_path)
    FileIndexManager.from_path(str(tmp_path)).add(
        "my-model",
        type="model",
        path="models/model.skops",
        must_exist=False,
        allow_same_path=False,
        labels=["tabular", "classification"],
        description="A model",
        custom=None,
        update=False,
    )
    ours = planning.artifacts_index("my-model", "A model", ["tabular", "classification"])
    assert ours == (tmp_path / "artifacts.yaml").read_text()


def test_non_example_project_carries_no_demo_word(tmp_path) -> None:
    raw, _ = read_data(messy_csv(tmp_path))
    files = planning.project_plan(infer(raw, "label"), "data/raw/people.csv", "people-model")
    for f in files:
        if not f.path.startswith(".github/"):
            assert not DEMO_WORDS.search(f.content), (f.path, DEMO_WORDS.search(f.content))
        else:
            assert not re.search(r"loan|credit", f.content, re.I), f.path
    assert any("[TODO" in f.content for f in files if f.path == "card.yaml")


def test_defaults_and_card_content_carry_no_demo_word() -> None:
    for rel in ("release/card/content.py", "release/cardspec/check.py", "release/scaffold"):
        for path in [ROOT / rel] if rel.endswith(".py") else (ROOT / rel).rglob("*"):
            if path.is_file() and "__pycache__" not in str(path):
                text = path.read_text(encoding="utf-8")
                assert not re.search(r"loan|credit|synthetic|consumer", text, re.I), path
    for path in (ROOT / "release").glob("config*.py"):
        assert not re.search(r"loan|credit|synthetic|consumer", path.read_text(), re.I), path
    for path in (ROOT / "release/templates/card").iterdir():
        assert not re.search(r"loan|credit|synthetic|consumer", path.read_text(), re.I), path


# ------------------------------------------------------------------------------ examples
def test_the_repository_is_what_the_loan_example_writes() -> None:
    files = {f.path: f for f in planning.example_plan("loan", tool_source=True)}
    for rel in ("params.yaml", "dvc.yaml", "card.yaml", ".gto", "artifacts.yaml"):
        assert files[rel].content == (ROOT / rel).read_text(), rel
    for f in planning.github_files(tool_source=True):
        assert f.content == (ROOT / f.path).read_text(), f.path
    assert {f.path for f in planning.github_files(tool_source=True)} == {
        str(p.relative_to(ROOT)) for p in (ROOT / ".github").rglob("*") if p.is_file()
    }


def test_example_loan_in_a_fresh_repository(tmp_path) -> None:
    root = git_repo(tmp_path / "demo")
    result = init(root, "--example", "loan", "--yes")
    assert result.exit_code == 0, result.output
    params = yaml.safe_load((root / "params.yaml").read_text())
    assert params["release"]["artifact"] == "loan-model"
    assert "credit-risk" in (root / "card.yaml").read_text()
    assert (root / "data/raw/.gitkeep").is_file()
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    assert not any(str(d).startswith("release/") for s in dvc["stages"].values() for d in s["deps"])
    action = (root / ".github/actions/setup-release/action.yml").read_text()
    assert "release==" in action and "-e " not in action
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "init"], root)
    shown = subprocess.run(["gto", "show", "--json"], cwd=root, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert "Nothing to change" in init(root, "--example", "loan", "--yes").output
    assert "unknown example" in str(planning_error(lambda: planning.example_plan("nope")))


def planning_error(fn):
    try:
        fn()
    except UsageError as exc:
        return exc
    return None


# --------------------------------------------------------------------------- end to end
def fill_card(path: Path) -> None:
    """Replace every placeholder of card.yaml with real text, as the team would."""
    text = path.read_text()
    text = re.sub(r"\[TODO:[^\]]*\]", "Written by the team for this model.", text)
    text = text.replace('license: "Written by the team for this model."', "license: mit")
    path.write_text(text)


@pytest.mark.slow
def test_init_repro_and_card_check_on_a_users_csv(tmp_path) -> None:
    root = git_repo(tmp_path / "p")
    data = messy_csv(root, rows=240, markers=False)
    result = init(root, "--data", str(data), "--target", "label", "--yes")
    assert result.exit_code == 0, result.output
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evaluate"]["bootstrap"] = 50  # keep the test fast, as a person would edit it
    params["evaluate"]["explain"] = {"permutation_repeats": 1, "max_rows": 200}
    params["train"]["params"] = {"max_iter": 20}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "add", "data/raw/people.csv"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "release init"], root)
    run(["dvc", "repro"], root)
    check = run(["release", "card", "check"], root, check=False)
    assert check.returncode == 1
    assert "model_details.description is a placeholder" in check.stdout
    assert "front_matter.license is missing" in check.stdout
    fill_card(root / "card.yaml")
    run(["dvc", "repro"], root)
    check = run(["release", "card", "check"], root, check=False)
    assert check.returncode == 0, check.stdout
    outputs = [
        root / "model_card/README.md",
        root / "model_card/card.html",
        root / "model_card/card.json",
        root / "reports/slices.md",
        root / "params.yaml",
        root / "dvc.yaml",
    ]
    for path in outputs:
        text = path.read_text()
        assert not DEMO_WORDS.search(text), (path, DEMO_WORDS.search(text))
    readme = (root / "model_card/README.md").read_text()
    assert "No human-level performance (HLP) is available" in readme
    assert "people-model" in readme
    ignored = run(["git", "status", "--porcelain", "--ignored"], root).stdout
    assert "models/model.skops" in ignored or "models/" in ignored


def test_artifact_names_are_checked(tmp_path) -> None:
    assert planning.default_artifact("data/raw/Adult Income.csv") == "adult-income-model"
    with pytest.raises(UsageError, match="artifact name 'Bad Name' is invalid"):
        planning.check_artifact_name("Bad Name")
    root = git_repo(tmp_path / "p")
    data = messy_csv(root)
    result = init(root, "--data", str(data), "--target", "label", "--name", "x@y", "--dry-run")
    assert isinstance(result.exception, UsageError) and not (root / "params.yaml").exists()


def test_a_users_workflows_pass_actionlint_and_zizmor(tmp_path) -> None:
    import sys

    bin_dir = Path(sys.executable).parent
    for f in planning.github_files(tool_source=False):
        target = tmp_path / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content)
    workflows = sorted(str(p) for p in (tmp_path / ".github/workflows").glob("*.yml"))
    lint = subprocess.run(
        [str(bin_dir / "actionlint"), "-no-color", *workflows],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run(
        [str(bin_dir / "zizmor"), "--offline", "--no-progress", ".github/"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    ci = (tmp_path / ".github/workflows/ci.yml").read_text()
    assert "make test" not in ci and "release card check" in ci

"""`release site build` without a browser: pages, links, escaping, incremental builds,
the monitoring page, `release ui`'s read-only server, and the timeline rules."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from site_support import (
    ARTIFACT,
    ROLLBACK_REASON,
    copy_of_registry_project,
    git,
    release,
    start_ui,
)

from release.grammar import Action
from release.registry.state import ArtifactState, Event
from release.site.build import build_site
from release.site.timeline import classify, stage_history

BIN = Path(sys.executable).parent


@pytest.fixture
def project(tmp_path_factory, tmp_path: Path) -> Path:
    return copy_of_registry_project(tmp_path_factory, tmp_path / "proj")


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.th_scopes: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.links.append(a[key])
        if tag == "th":
            self.th_scopes.append(a.get("scope"))

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text("utf-8"))
    return page


def test_pages_links_and_escaping(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = build_site(project, out)
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert pages == [
        "artifacts/model/index.html",
        "artifacts/model/v1.0.0.card.html",
        "artifacts/model/v1.0.0.html",
        "artifacts/model/v1.1.0.card.html",
        "artifacts/model/v1.1.0.html",
        "index.html",
        "monitoring.html",
    ]
    assert result.pages == result.written == 7
    for rel in pages:
        path = out / rel
        page = parse(path)
        assert "script" not in page.tags, rel  # hostile text never became markup
        for link in page.links:
            assert not re.match(r"^(https?:)?//", link), (rel, link)  # self-contained
            if link.startswith(("data:", "#")):
                continue
            target = (path.parent / link.split("#")[0]).resolve()
            assert target.is_file(), (rel, link)  # relative links work from file://
        assert "Content-Security-Policy" in path.read_text(), rel
        if not rel.endswith(".card.html"):
            assert {"header", "nav", "main", "footer", "h1"} <= set(page.tags), rel
            assert all(s in ("col", "row") for s in page.th_scopes), rel
    artifact = "".join(parse(out / "artifacts/model/index.html").text)
    assert "forced promotion" in artifact and "rollback" in artifact
    assert ROLLBACK_REASON in artifact and "hotfix <script>alert(1)</script>{{7*7}}" in artifact
    version = "".join(parse(out / "artifacts/model/v1.1.0.html").text)
    assert "rolled_back" in version and "From notes." in version  # the noted canary
    assert (
        "Against v1.0.0 (the previous version, in dev now, in staging now, in prod now)" in version
    )
    assert "employment_type=<script>alert(1)</script>{{7*7}}" in version  # a category value
    svg = (out / "artifacts/model/index.html").read_text()
    assert '<svg role="img"' in svg and "<title>" in svg
    # the older version is not compared with the stage holder it cannot replace
    assert "Against" not in "".join(parse(out / "artifacts/model/v1.0.0.html").text)


def test_incremental_builds_write_only_what_changed(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_site(project, out)
    again = build_site(project, out)
    assert again.written == 0 and again.removed == 0  # nothing changed, nothing written
    release(project, "promote", ARTIFACT, "staging", "--version", "v1.1.0")
    after = build_site(project, out)
    # index, artifact, v1.1.0 (now in staging) and v1.1.0 no longer compared with staging
    assert 2 < after.written < after.pages
    assert "in staging now" in "".join(parse(out / "artifacts/model/v1.1.0.html").text)
    (out / "artifacts/model/v1.0.0.html").unlink()  # a page lost by hand is made again
    assert build_site(project, out).written >= 1
    assert (out / "artifacts/model/v1.0.0.html").is_file()
    git(project, "tag", "-d", f"{ARTIFACT}@v1.1.0")
    gone = build_site(project, out)
    assert gone.removed >= 2 and not (out / "artifacts/model/v1.1.0.card.html").exists()


def test_the_cli_refuses_a_folder_that_is_not_a_site(project: Path, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    done = subprocess.run(
        [str(BIN / "release"), "site", "build", "--out", str(busy)],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.startswith("Error: --out")
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]
    ok = subprocess.run(
        [str(BIN / "release"), "site", "build", "--out", str(tmp_path / "s"), "--json"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["pages"] == 7


def test_monitoring_results_over_time(project: Path, tmp_path: Path) -> None:
    reports = project / "reports"
    for i, share in enumerate((0.1, 0.6)):
        (reports / "drift.json").write_text(
            json.dumps({"drift_detected": int(share > 0.5), "drift_share": share,
                        "drifted_columns": i * 3, "columns": 5})
        )  # fmt: skip
        (reports / "quality.json").write_text(
            json.dumps({"passed": i == 0, "rules_checked": 4, "rules_failed": i})
        )
        git(project, "add", "-A")
        git(project, "commit", "-q", "-m", f"monitor batch {i} <b>x</b>")
    out = tmp_path / "out"
    build_site(project, out)
    text = "".join(parse(out / "monitoring.html").text)
    assert "monitor batch 1 <b>x</b>" in text and "monitor batch 0" in text
    assert "drift" in text and "no drift" in text and "failed" in text and "passed" in text
    assert "<polyline" in (out / "monitoring.html").read_text()


def test_release_ui_is_read_only_and_stops_on_ctrl_c(project: Path) -> None:
    proc, url = start_ui(project)
    try:
        base = url.removesuffix("index.html")
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200 and b"Model registry" in resp.read()
        for method, path, code in (
            ("POST", "index.html", 405),
            ("PUT", "index.html", 405),
            ("DELETE", "index.html", 405),
            ("GET", "artifacts/", 404),
            ("GET", "../../etc/passwd", 404),
        ):
            req = urllib.request.Request(
                base + path, method=method, data=b"" if method != "GET" else None
            )
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=10)
            assert err.value.code == code, (method, path)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "stopped" in out, err


def _event(
    tag: str, action: Action, t: int, version: str, stage: str | None = None, msg: str = ""
) -> Event:
    return Event(
        tag,
        "m",
        action,
        "c" + version,
        t,
        0,
        "A",
        "a@x",
        msg,
        version=version,
        stage=stage,
        counter=t,
    )


def test_timeline_kinds_and_reasons() -> None:
    forced = _event("m#prod#2", Action.ASSIGN, 2, "v2", "prod",
                    "Assigning\n\nForced past failed gates: requires\nReason: hotfix")  # fmt: skip
    back = _event("m#prod#3", Action.ASSIGN, 3, "v1", "prod",
                  "Assigning\n\nRollback of prod from v2 to v1: error rate up")  # fmt: skip
    assert (classify(forced).kind, classify(forced).reason, classify(forced).gates) == (
        "forced promotion", "hotfix", "requires")  # fmt: skip
    assert (classify(back).kind, classify(back).reason) == ("rollback", "error rate up")
    plain = _event("m#dev#1", Action.ASSIGN, 1, "v1", "dev", "Assigning stage dev")
    assert classify(plain).kind == "promotion"
    assert classify(_event("m@v1.0.0!", Action.DEREGISTER, 4, "v1")).kind == "deregistration"


def test_stage_history_follows_gto_rules() -> None:
    art = ArtifactState("m")
    art.events = [
        _event("m@v1", Action.REGISTER, 1, "v1"),
        _event("m@v2", Action.REGISTER, 2, "v2"),
        _event("m#prod#1", Action.ASSIGN, 3, "v1", "prod"),
        _event("m#prod#2", Action.ASSIGN, 4, "v2", "prod"),
        _event("m@v2!", Action.DEREGISTER, 5, "v2"),  # prod falls back to v1
        _event("m#prod!#3", Action.UNASSIGN, 6, "v1", "prod"),  # and then holds nothing
    ]
    segs = stage_history(art, ["prod"])["prod"]
    assert [(s.version, s.start, s.end) for s in segs] == [
        ("v1", 3, 4), ("v2", 4, 5), ("v1", 5, 6), (None, 6, None)]  # fmt: skip


def test_an_empty_repository_and_an_unregistered_assignment(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "T")
    git(root, "config", "user.email", "t@example.com")
    git(root, "commit", "-q", "--allow-empty", "-m", "one")
    empty = build_site(root, tmp_path / "empty")
    assert empty.pages == 2  # index and monitoring
    assert "No artifacts yet" in (tmp_path / "empty" / "index.html").read_text()
    # gto lets a stage hold a commit that no version was registered at
    git(root, "tag", "-a", "model#dev#1", "-m", "Assigning stage dev to artifact model")
    out = tmp_path / "out"
    build_site(root, out)
    for path in out.rglob("*.html"):
        for link in parse(path).links:
            if not link.startswith(("data:", "#")):
                assert (path.parent / link).resolve().is_file(), (path, link)
    assert git(root, "rev-parse", "HEAD") in (out / "index.html").read_text()


def test_history_pages_and_the_incremental_build_of_a_long_registry(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from registry import build as make_repo  # the benchmark's fast-import generator

    repo = tmp_path / "big"
    make_repo(repo, ["model"], 260, 260)  # 520 events: one full history page and a part
    out = tmp_path / "out"
    first = build_site(repo, out)
    assert first.written == first.pages == 2 + 1 + 2 + 260
    artifact = parse(out / "artifacts/model/index.html")
    assert artifact.links.count("history-1.html") == 1 and "history-2.html" in artifact.links
    full = (out / "artifacts/model/history-1.html").read_text()
    assert full.count("<tr>") == 1 + 500
    release(repo, "promote", "model", "prod", "--version", "v0.2.50")
    again = build_site(repo, out)
    # index, artifact page, the partial history page, and the versions above the holders
    assert again.written < 30, again
    assert (out / "artifacts/model/history-1.html").read_text() == full
    assert "v0.2.50" in (out / "artifacts/model/history-2.html").read_text()


def test_files_at_commits_are_read_ahead_and_bounded(tmp_path: Path) -> None:
    from release.site.build import Files

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "T")
    git(root, "config", "user.email", "t@example.com")
    commits = []
    for i in range(6):
        (root / "reports").mkdir(exist_ok=True)
        (root / "reports" / "metrics.json").write_text(json.dumps({"accuracy": i / 10}))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"c{i}")
        commits.append(git(root, "rev-parse", "HEAD"))
    files = Files(root)
    files.MAX_CACHED, files.CHUNK = 3, 2
    files.plan(commits)
    for i, commit in enumerate(commits):
        assert files.get(commit)["reports/metrics.json"] == {"accuracy": i / 10}
        assert len(files.cache) <= 3
    assert files.get(commits[0])["model_card/card.json"] is None  # evicted, read again


def test_files_kept_by_dvc_come_from_the_dvc_cache(tmp_path: Path) -> None:
    import hashlib

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "T")
    git(root, "config", "user.email", "t@example.com")
    metrics = json.dumps({"accuracy": 0.91}).encode()
    md5 = hashlib.md5(metrics).hexdigest()
    cache = root / ".dvc" / "cache" / "files" / "md5" / md5[:2]
    cache.mkdir(parents=True)
    (cache / md5[2:]).write_bytes(metrics)  # reports/metrics.json is in DVC, not in git
    (root / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  evaluate:\n    cmd: release evaluate\n    outs:\n"
        f"    - path: reports/metrics.json\n      md5: {md5}\n      size: {len(metrics)}\n"
    )
    git(root, "add", "dvc.lock")
    git(root, "commit", "-q", "-m", "evaluated")
    git(root, "tag", "-a", "model@v1.0.0", "-m", "Registering artifact model version v1.0.0")
    out = tmp_path / "out"
    build_site(root, out)
    text = "".join(parse(out / "artifacts/model/v1.0.0.html").text)
    assert "accuracy" in text and "0.9100" in text

"""``release site build``: the registry as static pages, from git alone.

Layout (every link relative, every folder link ends in ``index.html``, so the pages work
from ``file://`` and from GitHub Pages alike)::

    index.html                          artifacts x stages, latest, last event
    monitoring.html                     drift and quality results over time
    artifacts/NAME/index.html           timeline, stage chart, versions
    artifacts/NAME/VERSION/index.html   metrics, slices, diffs, lineage, rollouts
    artifacts/NAME/VERSION/card.html    the model card as built at that commit

Incremental: ``.release-site.json`` in the output folder maps each page to the digest of
its context (and of the templates); a page whose digest did not change is not rendered or
written again, and pages that no longer exist are removed. Templates are autoescaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from release import __version__
from release.errors import UsageError
from release.fsio import write_text
from release.registry import api, git
from release.resources import builtin_templates
from release.site import context, sources

MANIFEST = ".release-site.json"
TEMPLATES = builtin_templates("site")
_KIND_CLASS = {"rollback": "kind-rollback", "forced promotion": "kind-forced"}


@dataclass
class BuildResult:
    """What a build did."""

    out: Path
    pages: int
    written: int
    removed: int
    seconds: float


def environment() -> jinja2.Environment:
    """Autoescaped Jinja environment over the built-in templates (``site/`` and ``card/``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES.parent)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    from release.card.render import fmt, pct

    env.filters.update(
        fmt=fmt, pct=pct, slug=context.slug, kind_class=lambda k: _KIND_CLASS.get(k, "")
    )
    return env


def _templates_digest() -> str:
    h = hashlib.sha256(__version__.encode())
    for folder in (TEMPLATES, builtin_templates("card")):
        for path in sorted(folder.glob("*.j2")):
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def _digest(base: str, ctx: Any) -> str:
    raw = json.dumps(ctx, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256((base + raw).encode()).hexdigest()


def _check_out(out: Path, root: Path) -> None:
    """Refuse output folders that would overwrite something that is not a site."""
    resolved = out.resolve()
    if resolved == root.resolve() or resolved in root.resolve().parents:
        raise UsageError(f"--out {out} is the repository or above it", "choose a subfolder")
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"--out {out} is a file", "choose a folder")
    if resolved.is_dir() and any(resolved.iterdir()) and not (resolved / MANIFEST).is_file():
        raise UsageError(
            f"--out {out} is not empty and holds no site", "choose an empty or new folder"
        )


class Site:
    """One build: collects pages (path, template, context), then writes the changed ones."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.env = environment()
        self.base = _templates_digest()
        self.pages: dict[str, tuple[str, Any, str]] = {}
        old = {}
        try:
            old = json.loads((out / MANIFEST).read_text("utf-8")).get("pages", {})
        except (OSError, ValueError, AttributeError):
            old = {}
        self.old: dict[str, str] = old if isinstance(old, dict) else {}

    def add(self, path: str, template: str, ctx: dict[str, Any], crumbs: list[Any]) -> None:
        """A page rendered from ``template`` with ``ctx`` (only if its digest changed)."""
        depth = path.count("/")
        full = {"page": ctx, "root": "../" * depth, "crumbs": crumbs}
        self.pages[path] = (template, full, _digest(self.base + template, full))

    def add_html(self, path: str, key: Any, render: Any) -> None:
        """A page whose HTML ``render()`` makes, re-made only when ``key`` changes."""
        self.pages[path] = ("", render, _digest(self.base + "raw", key))

    def write(self) -> tuple[int, int]:
        """Render and write changed pages, remove stale ones; (written, removed)."""
        written = 0
        for path, (template, ctx, digest) in self.pages.items():
            target = self.out / path
            if self.old.get(path) == digest and target.is_file():
                continue
            html = ctx() if not template else self.env.get_template(template).render(**ctx)
            if html is None:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(html, encoding="utf-8")
            written += 1
        removed = 0
        for path in set(self.old) - set(self.pages):
            target = self.out / path
            if target.is_file() and ".." not in Path(path).parts:
                target.unlink()
                removed += 1
        manifest = {"format": 1, "pages": {p: d for p, (_, _, d) in self.pages.items()}}
        write_text(self.out / MANIFEST, json.dumps(manifest, sort_keys=True))
        return written, removed


def _card_page(card: dict[str, Any], back: str) -> str | None:
    """The card's own HTML (its template, autoescaped), with a way back to the site."""
    from release.card.render import HTML_TEMPLATE, front_matter_yaml, make_environment

    try:
        env = make_environment(None, html=True)
        html = env.get_template(HTML_TEMPLATE).render(
            card=card,
            front_matter_yaml=Markup(front_matter_yaml(card.get("front_matter") or {})),  # noqa: S704
        )
    except Exception:  # a card from an old commit may not fit today's template
        return None
    nav = f'<nav aria-label="Site"><a href="{back}">Back to the version page</a></nav>'
    return html.replace("<body>", "<body>\n" + nav, 1)


def build_site(
    repo: str | os.PathLike[str] = ".", out: str | os.PathLike[str] | None = None
) -> BuildResult:
    """Build (or bring up to date) the registry site of ``repo`` in ``out``."""
    start = time.perf_counter()
    root = git.toplevel(repo)
    out_dir = Path(out) if out is not None else root / "site"
    _check_out(out_dir, root)
    state = api.read_state(root)
    stages = api.stages(root)
    show = api.show(root, state=state)
    for stage in state.used_stages():
        if stage not in stages:
            stages.append(stage)
    arts = list(state.artifacts.values())
    commits = [v.commit for a in arts for v in a.versions.values() if not v.discovered]
    files = sources.read_version_files(root, commits)
    rollouts = sources.read_rollouts(root)
    now = int(time.time())
    site = Site(out_dir)
    home: list[dict[str, str]] = []
    site.add("index.html", "site/index.html.j2", context.index_context(arts, stages, show), home)
    monitor = context.monitoring_context(sources.read_monitoring(root))
    site.add("monitoring.html", "site/monitoring.html.j2", monitor, home)
    cards = {c: f.get("model_card/card.json") for c, f in files.items()}
    for art in arts:
        a_slug = context.slug(art.name)
        a_ctx = context.artifact_context(art, stages, now)
        a_crumb = [{"href": "index.html", "label": art.name}]
        site.add(f"artifacts/{a_slug}/index.html", "site/artifact.html.j2", a_ctx, a_crumb)
        ordered = context.sorted_versions(art)
        for i, v in enumerate(ordered):
            previous = next((p for p in ordered[i + 1 :] if p.registered and p.active), None)
            v_slug = context.slug(v.version)
            card = cards.get(v.commit)
            has_card = isinstance(card, dict) and _renders(card)
            if has_card:
                site.add_html(
                    f"artifacts/{a_slug}/{v_slug}/card.html",
                    [v.commit, card],
                    lambda card=card: _card_page(card, "index.html"),
                )
            ctx = context.version_context(
                art,
                v,
                files.get(v.commit, {}),
                cards,
                previous,
                stages,
                rollouts.of_version(art.name, v.version),
                has_card,
            )
            crumbs = [
                {"href": "../index.html", "label": art.name},
                {"href": "index.html", "label": v.version},
            ]
            site.add(f"artifacts/{a_slug}/{v_slug}/index.html", "site/version.html.j2", ctx, crumbs)
    written, removed = site.write()
    return BuildResult(out_dir, len(site.pages), written, removed, time.perf_counter() - start)


def _renders(card: dict[str, Any]) -> bool:
    """True when the card has the sections the card template needs."""
    return all(isinstance(card.get(k), dict) for k in ("model_details", "metrics", "lineage"))

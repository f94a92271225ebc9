"""``release site build``: the registry as static pages, from git alone.

Layout (every link relative, every folder link ends in ``index.html``, so the pages work
from ``file://`` and from GitHub Pages alike)::

    index.html                          artifacts x stages, latest, last event
    monitoring.html                     drift and quality results over time
    artifacts/NAME/index.html           recent events, stage chart, versions
    artifacts/NAME/history-N.html       older events, 500 a page (full pages never change)
    artifacts/NAME/VERSION.html         metrics, slices, diffs, lineage, rollouts
    artifacts/NAME/VERSION.card.html    the model card as built at that commit

(one folder per artifact, not per version: creating a folder costs as much as a page).

Incremental: ``.release-site.json`` in the output folder maps each page to the digest of
its context (and of the templates); a page whose digest did not change is not rendered or
written again, and pages that no longer exist are removed. Templates are autoescaped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from release import __version__
from release.card.render import HTML_TEMPLATE, fmt, front_matter_yaml, make_environment, pct
from release.console import track
from release.errors import UsageError
from release.fsio import write_text
from release.registry import api, git
from release.resources import builtin_templates
from release.site import context, sources
from release.site.files import Files

MANIFEST = ".release-site.json"
# Nothing but the page itself: inline styles and data: images (the site has no scripts).
CSP = (
    '<meta http-equiv="Content-Security-Policy" '
    "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
)
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
    warnings: list[str]


def environment() -> jinja2.Environment:
    """Autoescaped Jinja environment over the built-in templates (``site/`` and ``card/``)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES.parent)),
        # compiled templates kept in a per-user folder of the temp dir (jinja checks its
        # owner and mode): compiling costs more than rendering an incremental build
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["csp"] = Markup(CSP)  # noqa: S704 - a constant of this module
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
    """One build: collects pages (path, digest, how to render), writes the changed ones."""

    def __init__(self, out: Path, atomic: bool = False) -> None:
        self.out = out
        self.atomic = atomic
        self.env = environment()
        self.base = _templates_digest()
        self.pages: dict[str, tuple[str, Callable[[], str | None]]] = {}
        old = {}
        try:
            old = json.loads((out / MANIFEST).read_text("utf-8")).get("pages", {})
        except (OSError, ValueError, AttributeError):
            old = {}
        self.old: dict[str, str] = old if isinstance(old, dict) else {}

    def _render(self, path: str, template: str, ctx: Any, crumbs: list[Any]) -> str:
        full = {"page": ctx, "root": "../" * path.count("/"), "crumbs": crumbs}
        return self.env.get_template(template).render(**full)

    def add(self, path: str, template: str, ctx: dict[str, Any], crumbs: list[Any]) -> None:
        """A page rendered from ``template`` with ``ctx`` (only if its digest changed)."""
        digest = _digest(self.base + template, [ctx, crumbs])
        self.pages[path] = (digest, lambda: self._render(path, template, ctx, crumbs))

    def add_lazy(
        self,
        path: str,
        template: str,
        key: Any,
        make: Callable[[], dict[str, Any]],
        crumbs: list[Any],
        digest: str | None = None,
    ) -> None:
        """A page whose context ``make()`` builds only when ``key`` (everything the context
        is made from) changed since the last build."""
        digest = digest or self.lazy_digest(template, key, crumbs)
        self.pages[path] = (digest, lambda: self._render(path, template, make(), crumbs))

    def lazy_digest(self, template: str, key: Any, crumbs: list[Any]) -> str:
        """The digest :meth:`add_lazy` gives a page."""
        return _digest(self.base + template + "lazy", [key, crumbs])

    def add_html(self, path: str, key: Any, render: Callable[[], str | None]) -> None:
        """A page whose HTML ``render()`` makes, re-made only when ``key`` changes."""
        self.pages[path] = (_digest(self.base + "raw", key), render)

    def unchanged(self, path: str, digest: str) -> bool:
        """True when ``digest`` is the one the page was last written with."""
        return self.old.get(path) == digest

    def write(self) -> tuple[int, int]:
        """Render and write changed pages, remove stale ones; (written, removed)."""
        written = 0
        made: set[Path] = set()
        kept: dict[str, str] = {}
        for path, (digest, render) in track(self.pages.items(), "site pages"):
            target = self.out / path
            if self.old.get(path) == digest and target.is_file():
                kept[path] = digest
                continue
            html = render()
            if html is None:
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            if self.atomic:  # a server reading the folder never sees half a page
                write_text(target, html)
            else:
                target.write_text(html, encoding="utf-8")
            kept[path] = digest
            written += 1
        removed = 0
        for path in set(self.old) - set(kept):
            target = self.out / path
            if target.is_file() and ".." not in Path(path).parts:
                target.unlink()
                removed += 1
        manifest = {"format": 1, "pages": kept}
        write_text(self.out / MANIFEST, json.dumps(manifest, sort_keys=True))
        return written, removed


def _card_page(card: dict[str, Any], back: str) -> str | None:
    """The card's own HTML (its template, autoescaped), with a way back to the site."""
    try:
        env = make_environment(None, html=True)
        html = env.get_template(HTML_TEMPLATE).render(
            card=card,
            front_matter_yaml=Markup(front_matter_yaml(card.get("front_matter") or {})),  # noqa: S704
        )
    except Exception:  # a card from an old commit may not fit today's template
        return None
    nav = f'<nav aria-label="Site"><a href="{back}">Back to the version page</a></nav>'
    html = html.replace("<head>", "<head>\n" + CSP, 1)  # as every page of the site
    return html.replace("<body>", "<body>\n" + nav, 1)


def _version_pages(
    site: Site,
    art: Any,
    stages: list[str],
    files: Files,
    rollouts: sources.Rollouts,
) -> None:
    """Add the version pages (and cards) of ``art``; files are read only for the pages
    whose inputs changed since the last build (commits are immutable, tags are not)."""
    a_slug = context.slug(art.name)
    ordered = context.sorted_versions(art)
    holders = {s: art.active_version(s) for s in stages}
    # a version is compared with a stage's holder when it could replace it: it is newer
    # (ordered is newest first), so a promotion rewrites only the pages above the holder
    rank = {v.version: i for i, v in enumerate(ordered)}
    plans = []
    for i, v in enumerate(ordered):
        previous = next((p for p in ordered[i + 1 :] if p.registered and p.active), None)
        compared = {
            s: h
            for s, h in holders.items()
            if h is not None and h != v.version and rank.get(h, -1) > rank.get(v.version, -2)
        }
        ran = rollouts.of_version(art.name, v.version)
        # Everything the version page is made from: its context is built only when this
        # changed, so a new tag elsewhere leaves most version pages alone.
        key = [
            v.commit,
            v.active,
            [(e.tag, e.time, len(e.message)) for e in context.version_events(v)],
            [previous.version, previous.commit] if previous else None,
            [(s, h, art.versions[h].commit) for s, h in compared.items()],
            [s for s, h in holders.items() if h == v.version],
            ran,
        ]
        v_slug = context.slug(v.version)
        path = f"artifacts/{a_slug}/{v_slug}.html"
        crumbs = [
            {"href": "index.html", "label": art.name},
            {"href": f"{v_slug}.html", "label": v.version},
        ]
        needed = [v.commit] + ([previous.commit] if previous else [])
        needed += [art.versions[h].commit for h in compared.values()]
        digest = site.lazy_digest("site/version.html.j2", key, crumbs)
        clean = site.unchanged(path, digest)
        plans.append((v, previous, ran, compared, path, crumbs, needed, v_slug, clean, digest))
    dirty = [p for p in plans if not p[8]]
    files.plan([c for p in dirty for c in p[6]])
    for v, previous, ran, compared, path, crumbs, _, v_slug, clean, digest in plans:
        card_path = f"artifacts/{a_slug}/{v_slug}.card.html"
        # a clean page keeps the card page it had (same commit); a changed one looks
        if card_path in site.old if clean else _has_card(files, v.commit):
            card_page = functools.partial(_card_of, files, v.commit, f"{v_slug}.html")
            site.add_html(card_path, [v.commit], card_page)
        make = functools.partial(_version_ctx, files, art, v, previous, holders, compared, ran)
        site.add_lazy(path, "site/version.html.j2", None, make, crumbs, digest)


def _has_card(files: Files, commit: str) -> bool:
    card = files.card(commit)
    return isinstance(card, dict) and _renders(card)


def _version_ctx(
    files: Files,
    art: Any,
    v: Any,
    previous: Any,
    holders: dict[str, str | None],
    compared: dict[str, str],
    ran: list[dict[str, Any]],
) -> dict[str, Any]:
    others = [art.versions[h].commit for h in compared.values()]
    others += [previous.commit] if previous else []
    cards = {c: files.card(c) for c in [v.commit, *others]}
    has_card = _has_card(files, v.commit)
    return context.version_context(
        art, v, files.get(v.commit), cards, previous, holders, compared, ran, has_card
    )


def _card_of(files: Files, commit: str, back: str) -> str | None:
    card = files.card(commit)
    return _card_page(card, back) if isinstance(card, dict) and _renders(card) else None


def build_site(
    repo: str | os.PathLike[str] = ".",
    out: str | os.PathLike[str] | None = None,
    *,
    atomic: bool = False,
) -> BuildResult:
    """Build (or bring up to date) the registry site of ``repo`` in ``out`` (``atomic``:
    each page is renamed into place, for a folder being served)."""
    start = time.perf_counter()
    root = git.toplevel(repo)
    out_dir = Path(out) if out is not None else root / "site"
    _check_out(out_dir, root)
    # git reads the notes while Python parses the tags
    with ThreadPoolExecutor(max_workers=1) as pool:
        rollouts_job = pool.submit(sources.read_rollouts, root)
        state = api.read_state(root)
        stages = api.stages(root)
        show = api.show(root, state=state)
        rollouts = rollouts_job.result()
    for stage in state.used_stages():
        if stage not in stages:
            stages.append(stage)
    arts = list(state.artifacts.values())
    site = Site(out_dir, atomic)
    home: list[dict[str, str]] = []
    site.add("index.html", "site/index.html.j2", context.index_context(arts, stages, show), home)
    heads = sources.history_heads(root, [e.commit for e in state.tags.values()])
    site.add_lazy(
        "monitoring.html",
        "site/monitoring.html.j2",
        heads,
        lambda: context.monitoring_context(sources.read_monitoring(root)),
        home,
    )
    files = Files(root)
    for art in arts:
        a_slug = context.slug(art.name)
        a_crumb = [{"href": "index.html", "label": art.name}]
        # the chart ends at the last event, not at the clock: an unchanged registry
        # gives an unchanged page
        end = art.events[-1].time if art.events else 0
        a_ctx = context.artifact_context(art, stages, end)
        site.add(f"artifacts/{a_slug}/index.html", "site/artifact.html.j2", a_ctx, a_crumb)
        if len(art.events) > context.RECENT:
            for i, block in enumerate(context.history_blocks(art)):
                site.add_lazy(
                    f"artifacts/{a_slug}/history-{i + 1}.html",
                    "site/history.html.j2",
                    [(e.tag, e.time, len(e.message)) for e in block],
                    functools.partial(context.history_context, art, i + 1, block),
                    a_crumb,
                )
        _version_pages(site, art, stages, files, rollouts)
    written, removed = site.write()
    seconds = time.perf_counter() - start
    return BuildResult(out_dir, len(site.pages), written, removed, seconds, state.warnings)


def _renders(card: dict[str, Any]) -> bool:
    """True when the card has the sections the card template needs."""
    return all(isinstance(card.get(k), dict) for k in ("model_details", "metrics", "lineage"))

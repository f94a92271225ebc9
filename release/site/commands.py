"""``release site build`` and ``release ui``: parse, call, print."""

from __future__ import annotations

import click

from release.console import emit_json, json_option, repo_option


@click.group("site")
def site() -> None:
    """The registry as a static website, built from git alone."""


@site.command("build")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder [REPO/site].",
)
@repo_option()
@json_option
def build_cmd(out_dir: str | None, repo: str, as_json: bool) -> None:
    """Build the site (or bring it up to date): index, artifacts, versions, monitoring."""
    from release.site.build import build_site

    result = build_site(repo, out_dir)
    for line in result.warnings:  # tags the registry skipped (as release show says)
        click.echo(line, err=True)
    if as_json:
        emit_json(
            {
                "out": str(result.out),
                "pages": result.pages,
                "written": result.written,
                "removed": result.removed,
                "seconds": round(result.seconds, 3),
            }
        )
        return
    click.echo(
        f"site: {result.out}/index.html ({result.pages} pages, {result.written} written, "
        f"{result.removed} removed, {result.seconds:.2f} s)"
    )


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: pick a free one).",
)
@repo_option()
@click.option(
    "--interval",
    type=click.FloatRange(0.2, 60),
    default=1.0,
    show_default=True,
    help="Seconds between checks of the refs.",
)
def ui(port: int, repo: str, interval: float) -> None:
    """Serve the registry site on 127.0.0.1, rebuilt when tags or notes change (read-only)."""
    from release.site.serve import serve

    serve(repo, port=port, interval=interval, announce=lambda url: click.echo(url))

"""``release card build | check | diff``: parse, call one function, print."""

from __future__ import annotations

import json
from pathlib import Path

import click

from release import paths
from release.console import (
    json_option,
    params_option,
    pick_templates,
    repo_option,
    templates_option,
)
from release.errors import CheckFailed, UsageError


@click.group("card")
def card() -> None:
    """Build, check and diff model cards (card.json, README.md, card.html)."""


@card.command("build")
@params_option
@templates_option
@click.option(
    "--out",
    "out",
    default=paths.CARD_DIR,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Output folder.",
)
@click.option(
    "--content",
    "content",
    default=paths.CARD_INPUT,
    show_default=True,
    help="Hand-written card content (YAML).",
)
@json_option
def build_cmd(
    params_path: str,
    templates: str | None,
    template_dir_old: str | None,
    out: str,
    content: str,
    as_json: bool,
) -> None:
    """Gather the pipeline's facts and write card.json, README.md and card.html.

    Templates missing from --templates fall back to the built-in ones.
    """
    from release.card.build import build_card

    params, template_dir = params_path, pick_templates(templates, template_dir_old)

    result = build_card(
        ".", params=params, template_dir=template_dir, out=out, content_file=content
    )
    summary = {
        "out": out,
        "files": ["card.json", "README.md", "card.html"],
        "placeholders": result["placeholders"],
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Wrote {out}/card.json, {out}/README.md, {out}/card.html")
    if result["placeholders"]:
        click.echo(
            f"{len(result['placeholders'])} hand-written field(s) are placeholders; "
            f"write them in {content}: " + ", ".join(result["placeholders"])
        )


@card.command("check")
@click.argument("path", required=False, default=paths.CARD_DIR)
@click.option(
    "--profile",
    type=click.Choice(["mitchell", "hf"]),
    default="mitchell",
    show_default=True,
    help="Which completeness rules to apply.",
)
@json_option
def check_cmd(path: str, profile: str, as_json: bool) -> None:
    """Check a card (folder or card.json) offline; exit 1 when it is incomplete."""
    from release.cardspec.check import check_card, hf_parser_note, readme_problems

    target = Path(path)
    card_file = target / "card.json" if target.is_dir() else target
    if not card_file.is_file():
        raise UsageError(f"{card_file} not found", "run `release card build` first")
    try:
        data = json.loads(card_file.read_text(encoding="utf-8"))
    except ValueError:
        raise UsageError(f"{card_file} is not valid JSON", "rebuild it") from None
    problems = check_card(data, profile)
    readme = card_file.parent / "README.md"
    if profile == "hf" and readme.is_file() and isinstance(data, dict):
        values = (data.get("metrics") or {}).get("values") or {}
        problems += readme_problems(readme.read_text(encoding="utf-8"), values)
    note = hf_parser_note() if profile == "hf" else None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "card": str(card_file),
                    "profile": profile,
                    "complete": not problems,
                    "problems": problems,
                    "note": note,
                },
                indent=2,
            )
        )
    else:
        if note:
            click.echo(f"Note: {note}")
        for problem in problems:
            click.echo(f"- {problem}")
        if not problems:
            click.echo(f"{card_file}: complete ({profile} profile)")
    if problems:
        raise CheckFailed(
            f"{card_file} is incomplete: {len(problems)} problem(s) ({profile} profile)",
            "fix them (hand-written fields live in card.yaml) and rebuild",
        )


@card.command("diff")
@click.argument("rev_a")
@click.argument("rev_b")
@repo_option("The git repository.")
@json_option
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when a slice regresses beyond its confidence interval.",
)
def diff_cmd(rev_a: str, rev_b: str, repo: str, as_json: bool, fail_on_regression: bool) -> None:
    """Compare the cards at two revisions (commits, tags, NAME@vX.Y.Z) without checkout."""
    from release.card.diff import diff_revisions, to_markdown

    result = diff_revisions(repo, rev_a, rev_b)
    click.echo(json.dumps(result, indent=2) if as_json else to_markdown(result), nl=as_json)
    if fail_on_regression and result["regressions"]:
        raise CheckFailed(
            f"{len(result['regressions'])} slice regression(s) from {rev_a} to {rev_b}: "
            + ", ".join(result["regressions"][:5]),
            "look at the slices before promoting this version",
        )

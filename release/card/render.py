"""Render the card (a JSON dict) to Markdown and HTML with Jinja templates.

Templates come from a user folder first and the built-in ``release/templates/card/`` second (a
``ChoiceLoader``), so a user overrides one template and keeps the rest. HTML is
autoescaped; in Markdown every value is stripped of raw HTML (``<``, ``>`` escaped), and
table cells escape ``|`` and Markdown link syntax, so data such as a category named
``<script>alert(1)</script>`` stays text. A template error names the template and line.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from release.card import svg
from release.cardspec import is_placeholder
from release.cardspec.schema import BUILTIN_TEMPLATES
from release.errors import UsageError
from release.markdown import md_cell, md_text

MARKDOWN_TEMPLATE = "README.md.j2"
HTML_TEMPLATE = "card.html.j2"


def codeblock(value: Any) -> Markup:
    """Text for a fenced code block: raw (HTML is inert there) but unable to close the fence."""
    text = str("" if value is None else value).replace("```", "` ` `").replace("~~~", "~ ~ ~")
    return Markup(text)  # noqa: S704 - only ever placed inside a Markdown code fence


def _one_line(value: Any) -> str:
    return " ".join(str("" if value is None else value).split())


def fmt(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` decimals; ``n/a`` for missing or non-finite values."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"
    return "n/a" if value is None else str(value)


def pct(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage; ``n/a`` when missing."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{100 * value:.{digits}f}%"
    return "n/a"


def rank(value: Any) -> str:
    """A slice's rank as an integer; ``-`` for unranked slices."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return str(int(value))
    return "-"


def mval(value: Any, metric: str, digits: int = 1) -> str:
    """A value of ``metric``: a percentage for rates, 4 significant digits for the others."""
    from release.stats.metrics import RATE_METRICS

    if metric in RATE_METRICS:
        return pct(value, digits)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return f"{value:.4g}"
    return "n/a"


def by_rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Slices by rank (unranked, e.g. small ones, last), then by name."""

    def key(s: dict[str, Any]) -> tuple[int, float, str]:
        rank = s.get("rank")
        if isinstance(rank, int | float) and not isinstance(rank, bool):
            return (0, float(rank), str(s.get("name")))
        return (1, 0.0, str(s.get("name")))

    return sorted(rows, key=key)


def front_matter_yaml(front_matter: dict[str, Any]) -> str:
    """The YAML front matter block's body, dumped safely (never string-built)."""
    return yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, width=1000)


def make_environment(
    template_dir: str | os.PathLike[str] | None, *, html: bool
) -> jinja2.Environment:
    """A Jinja environment over the user's templates, falling back to the built-in ones."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise UsageError(
                f"template folder {template_dir} not found", "pass an existing --templates folder"
            )
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(BUILTIN_TEMPLATES)))
    # Markdown is not HTML: every value printed there has its raw HTML escaped by
    # ``finalize``; data values in tables and lists also go through ``cell`` (both from
    # release.markdown, the one escaper). HTML relies on autoescape.
    finalize: Callable[[Any], Any] | None = None if html else md_text
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=html,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=finalize,
    )
    env.filters.update(
        {"fmt": fmt, "pct": pct, "cell": md_cell, "by_rank": by_rank, "rank": rank, "mval": mval}
    )
    if not html:  # Markup bypasses escaping: only Markdown code fences may use it
        env.filters["codeblock"] = codeblock
    else:  # in HTML a cell is one line of text, left to autoescape
        env.filters["cell"] = _one_line
    env.globals.update(
        {
            "svg": svg,
            "is_placeholder": is_placeholder,
            "lower_is_better": _lower_is_better,
        }
    )
    return env


def _lower_is_better(metric: str) -> bool:
    return metric in ("log_loss", "mae", "rmse")


def render_card(
    card: dict[str, Any], template_dir: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """Render ``README.md`` and ``card.html``; raise UsageError naming template and line."""
    context = {
        "card": card,
        "front_matter_yaml": Markup(front_matter_yaml(card["front_matter"])),  # noqa: S704
    }
    out = {}
    for name, html in ((MARKDOWN_TEMPLATE, False), (HTML_TEMPLATE, True)):
        env = make_environment(template_dir, html=html)
        out[name.removesuffix(".j2")] = _render(env, name, context)
    return out


def _render(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    try:
        template = env.get_template(name)
        return template.render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise UsageError(
            f"template {where} line {exc.lineno}: {exc.message}", "fix the template syntax"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise UsageError(f"template {exc.name} not found", "add it or remove the include") from None
    except Exception as exc:
        where, line = _template_frame(exc, name)
        raise UsageError(
            f"template {where} line {line}: {type(exc).__name__}: {exc}",
            "fix the template or the card field it uses",
        ) from None


def _template_frame(exc: BaseException, default: str) -> tuple[str, int | str]:
    """The innermost traceback frame that belongs to a template file."""
    found: tuple[str, int | str] = (default, "?")
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2") or re.search(r"\.(html|md|j2|jinja2?)$", filename):
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found

"""Data values made inert in Markdown: what a category, a name or a tag message may not do.

The one Markdown escaper of the package: the card renderer (Jinja filter ``cell`` and its
``finalize`` hook), the monitoring reports (filter ``md``) and the error analysis
(``reports/slices.md``) all use it.

GitHub renders raw HTML inside Markdown, so a category value ``<img onerror=...>`` in a
report is markup unless it is escaped.

- :func:`md_cell` escapes HTML (``&``, ``<``, ``>``), keeps the value on one line, and
  backslash-escapes what would end a table cell or start Markdown syntax (``|``, ``[``,
  ``]``, ``` ` ``` and ``*``).
- :func:`md_text` is for prose a person wrote (card sections may use Markdown on
  purpose): ``<`` and ``>`` are escaped, so no tag can open; lines, entities and Markdown
  syntax are kept. Its output is unchanged by a second pass, so a template may print
  :func:`md_cell`'s output through it (the card's ``finalize`` hook does).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

_MARKDOWN = ("\\", "|", "[", "]", "`", "*")


def _tags(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def md_cell(value: Any) -> str:
    """``value`` as literal text for a Markdown table cell or line."""
    text = " ".join(str("" if value is None else value).split())
    text = _tags(text.replace("&", "&amp;"))
    for ch in _MARKDOWN:
        text = text.replace(ch, "\\" + ch)
    return text


def md_text(value: Any) -> str:
    """Prose for Markdown with its raw HTML escaped (already escaped Markup passes)."""
    if isinstance(value, Markup):
        return str(value)
    if value is None:
        return ""
    return _tags(str(value))

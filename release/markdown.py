"""Data values made inert in Markdown: what a category, a name or a tag message may not do.

GitHub renders raw HTML inside Markdown, so a category value ``<img onerror=...>`` in a
report is markup unless it is escaped. :func:`md_cell` escapes HTML (``&``, ``<``,
``>``), keeps the value on one line, and backslash-escapes what would end a table cell
or start Markdown syntax (``|``, ``[``, ``]``, ``` ` ``` and ``*``).
"""

from __future__ import annotations

from typing import Any

_MARKDOWN = ("\\", "|", "[", "]", "`", "*")


def md_cell(value: Any) -> str:
    """``value`` as literal text for a Markdown table cell or line."""
    text = " ".join(str("" if value is None else value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in _MARKDOWN:
        text = text.replace(ch, "\\" + ch)
    return text

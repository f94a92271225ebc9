"""Model cards: gather facts, assemble ``card.json``, render Markdown and HTML, check, diff.

The JSON card is the single source; ``README.md`` (Hugging Face front matter plus the
sections of Mitchell et al. 2019) and ``card.html`` are rendered from it. Hand-written
content lives in ``card.yaml`` and is merged in on every build, so regeneration never
loses it.
"""

from __future__ import annotations

from release.cardspec import PLACEHOLDER_PREFIX

SCHEMA_VERSION = "1.0"

__all__ = ["PLACEHOLDER_PREFIX", "SCHEMA_VERSION"]

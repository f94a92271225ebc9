"""The registry's `card_complete` gate runs `check_card` on the card committed at a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_card_helpers import commit_all, git, make_project

from release.card.build import build_card
from release.config import settings_from_dict
from release.errors import CheckFailed

registry = pytest.importorskip("release.registry.api")

SETTINGS = settings_from_dict({"release": {"policy": {"staging": {"card_complete": True}}}})


def test_card_complete_gate(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    build_card(root)
    commit_all(root, "complete card")
    registry.register(root, "model", version="v1.0.0")
    text = (root / "card.yaml").read_text()
    (root / "card.yaml").write_text(text.replace("license: apache-2.0\n", ""))
    card = build_card(root)
    assert "model_details.license" in card["placeholders"]
    commit_all(root, "card without a license")
    registry.register(root, "model", version="v1.1.0")

    with pytest.raises(CheckFailed) as blocked:
        registry.promote(root, "model", "staging", version="v1.1.0", settings=SETTINGS)
    assert "card" in blocked.value.one_line() and "license" in blocked.value.one_line()
    tag = registry.promote(root, "model", "staging", version="v1.0.0", settings=SETTINGS)
    assert tag.startswith("model#staging#")

    # rebuilt at the registered commit, the card names its version and stage
    git(root, "checkout", "-q", "model@v1.0.0")
    card = build_card(root)
    assert card["model_details"]["version"] == "v1.0.0"
    assert card["lineage"]["registry"] == [
        {"name": "model", "version": "v1.0.0", "stages": ["staging"], "source": "registry"}
    ]
    assert json.loads((root / "model_card/card.json").read_text()) == card

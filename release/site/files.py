"""Files at version commits for the site build, read from git in batches and bounded."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from release.site import sources


class Files:
    """Files at version commits, read in batches in the order pages need them.

    Bounded: at most ``MAX_CACHED`` commits' files are held; a miss reads that commit
    and the next ``CHUNK`` planned ones in one ``git cat-file``, evicting the least
    recently used.
    """

    MAX_CACHED = 256
    CHUNK = 128

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.order: list[str] = []
        self.position: dict[str, int] = {}

    def plan(self, commits: list[str]) -> None:
        """Commits in the order they will be asked for (read ahead in that order)."""
        for commit in commits:
            if commit not in self.position:
                self.position[commit] = len(self.order)
                self.order.append(commit)

    def get(self, commit: str) -> dict[str, Any]:
        """The files at ``commit``."""
        if commit in self.cache:
            self.cache.move_to_end(commit)
            return self.cache[commit]
        start = self.position.get(commit)
        ahead = self.order[start + 1 : start + 1 + self.CHUNK] if start is not None else []
        batch = [commit, *(c for c in ahead if c not in self.cache)]
        for c, found in sources.read_version_files(self.root, batch).items():
            self.cache[c] = found
        self.cache.move_to_end(commit)
        while len(self.cache) > self.MAX_CACHED:
            self.cache.popitem(last=False)
        return self.cache[commit]

    def card(self, commit: str) -> Any:
        """The card at ``commit`` (None when there is none)."""
        return self.get(commit).get("model_card/card.json")

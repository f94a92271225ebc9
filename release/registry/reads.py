"""Registry reads: the state with declarations, and gto's ``show``, ``history`` and
``check-ref`` views of it.

Reads match gto 1.x (see :mod:`release.registry.entities` for the rules and the
tie-break); :mod:`release.registry.api` is the public face that re-exports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release.errors import RegistryError, ReleaseError, UsageError
from release.grammar import Action, parse_shortcut, parse_tag, validate_name
from release.registry import git, project, views
from release.registry.entities import ArtifactState, RegistryState, VersionState
from release.registry.state import (
    parse_commit_object,
    parse_scan_peeled,
    scan,
    start_scan,
)
from release.registry.state import read_state as _scan_state


def _root(repo: str | os.PathLike[str]) -> Path:
    return git.toplevel(repo)


def read_state(repo: str | os.PathLike[str] = ".", *, declarations: bool = True) -> RegistryState:
    """The whole registry: tags (one scan) plus artifacts declared at HEAD.

    Artifacts declared in ``artifacts.yaml`` (gto's index) or in ``dvc.yaml``'s
    ``artifacts:`` are listed even before their first registration.
    """
    root = _root(repo)
    scan = start_scan(root)  # git scans the tags while we read the declarations
    decl = project.Declarations()
    if declarations:
        decl = project.read_declarations(root, project.read_gto_config(root).index)
    state = parse_scan_peeled(root, git.finish(scan))
    state.head = decl.head
    if declarations:
        for name in [*decl.index, *decl.dvc]:
            art = state.artifacts.get(name)
            if art is None:
                art = state.artifacts[name] = ArtifactState(name)
            # gto's index discovery adds a HEAD event; dvc.yaml ones only list the name.
            if decl.head_time is not None and (name in decl.index or not art.events):
                art.discovered_at = decl.head_time
            if name in decl.index and decl.head and decl.head_raw is not None:
                _discover_head(state, art, decl.head, decl.head_raw)
    state.load_commits(root)  # only for deprecated artifacts: commit times decide activity
    return state


def _discover_head(state: RegistryState, art: ArtifactState, head: str, raw: bytes) -> None:
    """gto lists an artifact of its index with a 'discovered' version at HEAD."""
    if head not in state.commits:
        state.commits[head] = parse_commit_object(head, raw)
    art.commit_times[head] = state.commits[head].time
    if art.version_at(head) is None and head not in art.versions:
        art.versions[head] = VersionState(art.name, head, head)
        art.by_commit.setdefault(head, []).append(art.versions[head])


def show(
    repo: str | os.PathLike[str] = ".",
    name: str | None = None,
    *,
    deprecated: bool = False,
    state: RegistryState | None = None,
) -> Any:
    """``gto show --json``: all artifacts (a dict), or the versions of ``name`` (a list).

    ``name`` may be a gto shortcut: ``NAME#STAGE``, ``NAME@vX.Y.Z`` or ``NAME@latest``.
    """
    root = _root(repo)
    state = state or read_state(root)
    if name is None:
        config = project.read_gto_config(root)
        stage_keys = config.stages if config.stages is not None else state.used_stages()
        return views.show_all(state, stage_keys, deprecated=deprecated)
    short = parse_shortcut(name)
    validate_name(short.name)
    art = state.artifact(short.name)
    if not art.active and not deprecated:
        return []
    state.load_commits(root, [short.name])
    versions = views.show_versions(state, art, _enrichments(root, art))
    if short.latest:
        return versions[:1]
    if short.version:
        return [v for v in versions if v["version"] == short.version]
    if short.stage:
        return [v for v in versions if any(s["stage"] == short.stage for s in v["stages"])]
    return versions


def _enrichments(root: Path, art: ArtifactState) -> dict[str, list[Any]]:
    """gto's enrichment info per version commit: the artifact's entry in artifacts.yaml."""
    index = project.read_gto_config(root).index
    commits = sorted({v.commit for v in art.versions.values()})
    blobs = git.read_blobs(root, [f"{c}:{index}" for c in commits])
    out: dict[str, list[Any]] = {}
    for commit, blob in zip(commits, blobs, strict=True):
        if blob is None:
            continue
        try:
            data = project._yaml(blob, index)
        except ReleaseError:  # gto skips a corrupted index too
            data = None
        entry = data.get(art.name) if isinstance(data, dict) else None
        if isinstance(entry, dict):
            out[commit] = [
                {
                    "source": "gto",
                    "artifact": {
                        "type": entry.get("type"),
                        "path": entry.get("path"),
                        "virtual": entry.get("virtual", True),
                        "labels": entry.get("labels", []),
                        "description": entry.get("description", ""),
                        "custom": entry.get("custom"),
                    },
                }
            ]
    return out


def history(
    repo: str | os.PathLike[str] = ".",
    name: str | None = None,
    *,
    ascending: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """``gto history --json``: the registry's events, newest first."""
    if name is not None:
        validate_name(name)
    root = _root(repo)
    state = _scan_state(root, [name] if name else None)
    for line in state.warnings if on_warning else []:
        on_warning(line)  # type: ignore[misc]
    return views.history(state, name, ascending)


def check_ref(repo: str | os.PathLike[str], ref: str) -> dict[str, Any]:
    """``gto check-ref --json``: the event the GTO tag ``ref`` created."""
    root = _root(repo)
    name = ref[len("refs/tags/") :] if ref.startswith("refs/tags/") else ref
    parsed = parse_tag(name)
    if parsed is None or parsed.action is None:
        raise UsageError(
            f"{ref!r} is not a GTO tag name",
            "expected NAME@vX.Y.Z, NAME#STAGE#N, NAME#STAGE!#N, NAME@vX.Y.Z! or NAME@deprecated",
        )
    # the tag itself, plus the artifact's registrations: an assignment names the version
    # registered at its commit. Its other assignments cannot change the answer.
    state = parse_scan_peeled(root, scan(root, [parsed.artifact], extra=[name], seps="@"))
    event = state.tags.get(name)
    if event is None:
        if name in state.lightweight:
            raise RegistryError(
                f"tag {name} is a lightweight tag, which gto ignores",
                "fetch annotated tags: git fetch --force --tags origin",
            )
        raise RegistryError(f"tag {name} does not exist", "git fetch --tags, or check the name")
    return views.check_ref(event)


def stages(
    repo: str | os.PathLike[str] = ".", params: str | os.PathLike[str] | None = None
) -> list[str]:
    """Stages in promotion order: params.yaml ``release.stages``, else .gto, else defaults."""
    return project.stage_order(_root(repo), params)


def previous_version(art: ArtifactState, stage: str) -> str | None:
    """The version ``stage`` held before its current holder, or None.

    Replays the stage's assignments and unassignments in order and returns the most recent
    earlier holder that is still registered and was not unassigned from the stage since.
    Like ``kubectl rollout undo``, rolling back twice returns to where it started.
    """
    events = sorted(
        (e for v in art.versions.values() for e in v.stages.get(stage, [])), key=lambda e: e.key
    )
    active: dict[str, tuple[int, int, int, str]] = {}
    timeline: list[str | None] = []
    for e in events:
        assert e.version is not None
        if e.action is Action.ASSIGN:
            active[e.version] = e.key
        else:
            active.pop(e.version, None)
        live = {v: k for v, k in active.items() if art.versions[v].active}
        holder = max(live, key=lambda v: live[v]) if live else None
        if not timeline or timeline[-1] != holder:
            timeline.append(holder)
    current = art.active_version(stage)
    for holder in reversed(timeline):
        if holder is None or holder == current:
            continue
        version = art.versions[holder]
        # skip versions deregistered or explicitly unassigned from the stage since
        if version.active and version.stage_active(stage):
            return holder
    return None

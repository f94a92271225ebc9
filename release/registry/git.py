"""The registry's git: the package's one runner (:mod:`release.gitcmd`), under the names
the registry has always used.

Tags are read with one ``for-each-ref`` and objects with one ``cat-file --batch``
(:func:`read_objects`): the registry's hot path stays a couple of git processes, however
many tags there are. Every value that reaches git was validated by
:mod:`release.grammar` or is a hexsha/ref checked with ``--end-of-options``.
"""

from __future__ import annotations

from release.gitcmd import (
    GitError,
    finish,
    for_each_ref,
    has_commits,
    probe,
    read_blobs,
    read_objects,
    resolve_commit,
    run,
    start,
    toplevel,
)
from release.gitcmd import head as resolve_commit_or_none

__all__ = [
    "GitError",
    "finish",
    "for_each_ref",
    "has_commits",
    "probe",
    "read_blobs",
    "read_objects",
    "resolve_commit",
    "resolve_commit_or_none",
    "run",
    "start",
    "toplevel",
]

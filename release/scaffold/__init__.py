"""``release init``: a project scaffolded from the team's own data.

- :mod:`release.scaffold.table`: read the data as text cells; find missing-value markers.
- :mod:`release.scaffold.infer`: infer what the data means (pure functions
  over a DataFrame, returning an :class:`~release.scaffold.infer.Inference`).
- :mod:`release.scaffold.plan`: the files a project needs, rendered in memory.
- :mod:`release.scaffold.write`: compare the plan with the disk, refuse conflicts, write.
- :mod:`release.scaffold.project`: :func:`prepare` (read, infer, plan, compare), next commands.
- :mod:`release.scaffold.commands`: the ``release init`` command (parses and prints).

Example projects (``--example NAME``) are package data under ``release/examples/``.
"""

from __future__ import annotations

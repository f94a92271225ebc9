"""Error analysis: slices, bootstrap intervals, human-level performance, potential impact
and explanations.

The public entry point is :func:`run_error_analysis` (see :mod:`release.analysis.run`);
it is imported lazily so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["analyse_slices", "run_error_analysis"]


def run_error_analysis(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Analyse errors by slice, explain the model and write the reports (see ``run``)."""
    from release.analysis.run import run_error_analysis as run

    return run(*args, **kwargs)


def analyse_slices(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """The ``slices.json`` document without writing files (see ``run.analyse_slices``)."""
    from release.analysis.run import analyse_slices as analyse

    return analyse(*args, **kwargs)

"""The git ignore lines that keep pipeline outputs out of commits, whatever DVC does.

DVC ignores each cached output in a ``.gitignore`` beside it, but writes those entries
only when a whole ``dvc repro`` succeeds: after a failed run, outputs of the stages that
did finish (``data/prepared/``, ``models/model.skops``) are left un-ignored and
``git add -A`` commits them. A project's top-level ``.gitignore`` holding these lines is
never rewritten by DVC (it sees the paths are already ignored and adds nothing), so the
outputs stay ignored. ``release init`` writes the block with :func:`merge_gitignore`.
"""

from __future__ import annotations

from release import paths

HEADER = "# release: pipeline outputs live in the DVC cache, never in git"

# Anchored at the repository root: each is a DVC-cached output of dvc.yaml, or the
# folder `dvc plots show` writes.
PIPELINE_OUTPUTS: tuple[str, ...] = (
    f"/{paths.PREPARED_DIR}/",
    f"/{paths.MODEL}",
    f"/{paths.PREDICTIONS}",
    "/dvc_plots/",
)


def gitignore_block() -> str:
    """The block of lines for a project's top-level ``.gitignore`` (ends with a newline)."""
    return "\n".join([HEADER, *PIPELINE_OUTPUTS]) + "\n"


def missing_lines(text: str) -> list[str]:
    """The pipeline-output lines that a ``.gitignore``'s ``text`` does not hold yet."""
    present = {line.strip() for line in text.splitlines()}
    return [line for line in PIPELINE_OUTPUTS if line not in present]


def merge_gitignore(text: str) -> str:
    """``text`` with the missing pipeline-output lines appended; unchanged when none are.

    Idempotent, and it never reorders or drops what the user wrote.
    """
    missing = missing_lines(text)
    if not missing:
        return text
    head = text if not text or text.endswith("\n") else text + "\n"
    header = [] if HEADER in text else [HEADER]
    gap = "\n" if head.strip() else ""
    return head + gap + "\n".join([*header, *missing]) + "\n"

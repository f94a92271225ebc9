"""One error hierarchy for the whole package.

Every user-facing error carries *what* went wrong and *how* to fix it; the CLI prints
``Error: <what> (<how to fix>)`` on one line and exits with the class's exit code:
2 for usage and configuration problems, 1 for checks that ran and failed.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1

    def __init__(self, what: str, fix: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.fix = fix

    def one_line(self) -> str:
        """The message as the CLI prints it, on one line."""
        text = self.what if not self.fix else f"{self.what} ({self.fix})"
        return " ".join(text.split())


class UsageError(ReleaseError):
    """Bad arguments or bad input to a command."""

    exit_code = 2


class ConfigError(UsageError):
    """``params.yaml`` (or another settings file) is missing, malformed or invalid."""


class DataError(ReleaseError):
    """A data file is missing, unreadable or not what the settings describe."""

    exit_code = 2


class CheckFailed(ReleaseError):
    """A check ran and failed (data validation, policy gate, card check, drift...)."""

    exit_code = 1


class ModelError(ReleaseError):
    """A model file is missing, untrusted or does not match its metadata."""

    exit_code = 2


class RegistryError(ReleaseError):
    """Reading or writing the GTO registry (git tags) failed."""

    exit_code = 2


class DeployError(ReleaseError):
    """A deployment could not be started, run or recorded."""

    exit_code = 1


def error_json(exc: ReleaseError) -> dict[str, object]:
    """The one JSON object the CLI prints for ``exc`` under ``--json``.

    ``{"error": {"type", "message", "what", "fix", "exit_code"}}``: ``message`` is the
    one line the text mode prints after ``Error:``; ``fix`` is null when there is none.
    """
    return {
        "error": {
            "type": type(exc).__name__,
            "message": exc.one_line(),
            "what": " ".join(exc.what.split()),
            "fix": exc.fix,
            "exit_code": exc.exit_code,
        }
    }

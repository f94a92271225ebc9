"""The ``release`` console script: a cached registry read answered before click loads.

``release show --json`` and ``release show NAME --json`` are the reads CI and people run
most, and a cache hit (:mod:`release.registry.readcache`) is two small git processes; so
this entry recognises exactly those invocations, checks the cache with ``os``,
a SHA-256 and nothing of click, rich, gto or YAML, and prints the hit: the same bytes
the CLI prints from the same entry. Everything else runs :func:`release.cli.main`
unchanged: any other command or option, ``--help``, a global option (``-v``, ``-q``,
``--debug``), the environment variables that change what the CLI does before the read
(``RELEASE_VERBOSE``, ``RELEASE_QUIET``, ``RELEASE_DEBUG``, ``RELEASE_PARAMS``, an empty
``RELEASE_REPO``, click's ``_RELEASE_COMPLETE``), ``--json`` given only as
``RELEASE_JSON``, a miss, and an entry that is not plain ASCII. So every error message
and exit code is click's and the CLI's; a reader leaving early (``| head``) ends a hit
as it ends the CLI (exit 1, no message).
"""

from __future__ import annotations

import os
import sys

from release.registry import readcache

# Set, these change what the CLI does before or around the read (logging, validation,
# click's shell completion).
_CLI_ONLY = (
    "RELEASE_VERBOSE",
    "RELEASE_QUIET",
    "RELEASE_DEBUG",
    "RELEASE_PARAMS",
    "_RELEASE_COMPLETE",
)


class ShowRead:
    """A ``show [NAME] --json`` invocation: where and what to read."""

    __slots__ = ("deprecated", "name", "repo")

    def __init__(self, repo: str, name: str | None, deprecated: bool) -> None:
        self.repo = repo
        self.name = name
        self.deprecated = deprecated


def parse(args: list[str]) -> ShowRead | None:
    """The cached read ``args`` asks for, or None when the CLI must parse them.

    Accepted, in any order after ``show``: ``--json`` (required), ``--deprecated``, one
    ``--repo DIR`` or ``--repo=DIR``, one NAME not starting with ``-``; all plain ASCII.
    """
    if not args or args[0] != "show" or any(var in os.environ for var in _CLI_ONLY):
        return None
    repo: str | None = None
    name: str | None = None
    as_json = deprecated = False
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        if not arg.isascii():
            return None
        if arg == "--json":
            as_json = True
        elif arg == "--deprecated":
            deprecated = True
        elif arg == "--repo" or arg.startswith("--repo="):
            value = arg[len("--repo=") :] if "=" in arg else (rest.pop(0) if rest else "")
            if repo is not None or not value or value.startswith("-") or not value.isascii():
                return None  # repeated, missing or odd: click decides what it means
            repo = value
        elif arg.startswith("-") or name is not None:
            return None  # another option, `--`, or an extra argument
        else:
            name = arg
    if repo is None:
        repo = os.environ.get("RELEASE_REPO", ".")
        if not repo or not repo.isascii():
            return None
    return ShowRead(repo, name, deprecated) if as_json else None


def _print(text: memoryview) -> None:
    # The bytes as they are: no decoding, copying or encoding of a large text.
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (an in-process caller's)
        sys.stdout.write(f"{bytes(text).decode('ascii')}\n")
        sys.stdout.flush()
        return
    sys.stdout.flush()
    for chunk in (text, memoryview(b"\n")):
        while chunk:
            chunk = chunk[out.write(chunk) or 0 :]  # an unbuffered stream may write part
    out.flush()


def answer(read: ShowRead) -> bool:
    """Print the cached result of ``read`` and return True; False on a miss (its probe is
    handed to the CLI, which computes and stores the result)."""
    if sys.stdout is None or sys.stderr is None:
        return False
    probe = readcache.probe(read.repo, readcache.show_args(read.name, read.deprecated))
    if probe is None:
        return False
    hit = readcache.load_plain(probe)
    if hit is None:  # a miss, or an entry that is not plain ASCII: the CLI prints it
        readcache.hand_over(read.repo, probe)
        return False
    text, warnings = hit
    if warnings:  # as the CLI does: click.echo(line, err=True) each, then the text
        sys.stderr.write("".join(f"{line}\n" for line in warnings))
        sys.stderr.flush()
    try:
        _print(text)
    except BrokenPipeError:
        # The reader left (`| head`): as click does, exit 1 and say nothing; what Python
        # flushes at exit goes to /dev/null instead of raising into a closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    return True


def main(argv: list[str] | None = None) -> int | None:
    """Console entry point: a cached ``show --json`` read, else :func:`release.cli.main`."""
    read = parse(sys.argv[1:] if argv is None else argv)
    if read is not None and answer(read):
        return None
    from release.cli import main as cli_main  # the whole CLI: click and the commands

    try:
        return cli_main(argv)
    finally:
        readcache.forget()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

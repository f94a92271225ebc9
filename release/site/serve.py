"""``release ui``: the registry site on 127.0.0.1, rebuilt when the refs change.

The site is built into a private temporary folder and served from there by the standard
library's threading HTTP server: GET and HEAD only (anything else is 405), files under
that folder only, no directory listings. A watcher thread polls a fingerprint of
``refs/tags`` and ``refs/notes`` (one ``git for-each-ref``) and of the local deployment
records, and rebuilds incrementally when it changes. Ctrl-C stops both and removes the
folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from release import paths
from release.errors import ReleaseError, UsageError
from release.registry import git
from release.site.build import build_site
from release.site.sources import fingerprint


class _Handler(SimpleHTTPRequestHandler):
    """Static files, read-only, no listings, quiet logs."""

    def do_POST(self) -> None:
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "release ui is read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/favicon.ico":  # pages that name no icon (the card)
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        super().do_GET()

    def list_directory(self, path: str | os.PathLike[str]) -> None:
        self.send_error(HTTPStatus.NOT_FOUND, "no listing")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _records_mark(root: Path) -> str:
    folder = root / paths.DEPLOYMENTS_DIR
    if not folder.is_dir():
        return ""
    return ",".join(
        f"{p}:{p.stat().st_mtime_ns}" for p in sorted(folder.glob("*/*.json")) if p.is_file()
    )


class Watcher(threading.Thread):
    """Rebuilds the site whenever the registry's fingerprint changes."""

    def __init__(self, root: Path, out: Path, interval: float) -> None:
        super().__init__(daemon=True, name="release-ui-watcher")
        self.root, self.out, self.interval = root, out, interval
        self.stop_event = threading.Event()
        self.mark = self.current()
        self.builds = 0

    def current(self) -> str:
        """The fingerprint the site was (or will be) built from."""
        return fingerprint(self.root) + _records_mark(self.root)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                mark = self.current()
                if mark != self.mark:
                    build_site(self.root, self.out, atomic=True)
                    self.mark = mark
                    self.builds += 1
            except ReleaseError as exc:  # keep serving the last good site
                print(f"warning: rebuild failed: {exc.one_line()}", file=sys.stderr)


def serve(
    repo: str | os.PathLike[str],
    *,
    port: int = 8765,
    interval: float = 1.0,
    announce: Callable[[str], None] = print,
    ready: threading.Event | None = None,
) -> None:
    """Build the site, serve it on 127.0.0.1:``port`` until Ctrl-C (0: a free port)."""
    root = git.toplevel(repo)
    with tempfile.TemporaryDirectory(prefix="release-ui-") as tmp:
        out = Path(tmp) / "site"
        build_site(root, out)
        handler = functools.partial(_Handler, directory=str(out))
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", "pick another --port (0: any)"
            ) from None
        server.daemon_threads = True
        watcher = Watcher(root, out, interval)
        watcher.start()
        announce(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        if ready is not None:
            ready.set()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            announce("stopped")
        finally:
            watcher.stop_event.set()
            server.server_close()
            with contextlib.suppress(RuntimeError):
                watcher.join(timeout=5)

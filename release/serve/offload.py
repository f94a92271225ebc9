"""The serving process's handle on its large-request worker process.

One worker (:mod:`release.serve.offload_worker`) answers every request over
``serial_bytes``, one at a time as before, so the GIL-heavy Python of a 10 MB request
never runs beside the event loop. The worker is a plain child process (``subprocess``
runs ``fork_exec`` as multiprocessing's ``spawn`` does: nothing is forked from this
threaded process without an immediate exec), talking over two private pipes with
``multiprocessing.connection`` framing. It is started lazily: a server that never sees a
large request (most of them) never pays for a second copy of the model, and readiness
and cold start never wait for it; the first large request starts it while its body is
still arriving (when the client declared a ``Content-Length``) and waits for it.

Failures are the worker's, never the server's: a worker that dies (killed, out of
memory) fails the request in flight with a 503 (retry) and a new one starts at once in
the background. It stops with the server (:meth:`LargeWorker.close`, and an ``atexit``
hook when the server dies of an exception), and on its own when the server is killed
(its pipe closes; it also watches its parent). Only a model that cannot be pickled keeps
large requests in the serving process (:attr:`LargeWorker.usable` turns False).
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import weakref
from multiprocessing.connection import Connection
from typing import Any

from release.serve import offload_worker
from release.serve.body import RequestLimits
from release.serve.offload_worker import READY, Reply
from release.serve.protocol import ProtocolError

log = logging.getLogger("release.serve")

START_TIMEOUT_S = 120.0  # importing the model's libraries on a loaded 2-core machine
# A 16 MB request takes seconds (about 4 s per 10 MB, 11 s under heavy load); a worker
# silent for this long is stuck (stopped, swapping, a bug) and is replaced.
REPLY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 2.0
_LIVE: weakref.WeakSet[LargeWorker] = weakref.WeakSet()


class WorkerUnusable(Exception):
    """The model cannot be sent to a worker process (it does not pickle)."""


class LargeWorker:
    """One worker process for large requests: started on first use, restarted on death."""

    def __init__(self, runner: Any, limits: RequestLimits) -> None:
        self._runner = runner
        self._limits = limits
        self._lock = threading.Lock()  # one start or exchange at a time: the pipe is a stream
        self.reply_timeout_s = REPLY_TIMEOUT_S
        self._proc: subprocess.Popen[bytes] | None = None
        self._inbox: Connection | None = None  # the worker's answers
        self._outbox: Connection | None = None  # bodies to the worker
        self._init: bytes | None = None  # the pickled runner and limits, made once
        self.usable = True
        self.closed = False
        self.starts = 0
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def prestart(self) -> None:
        """Start the worker in the background unless it runs (never blocks the caller)."""
        if self.pid is None and self.usable and not self.closed:
            threading.Thread(target=self._start_quietly, name="large-worker-start").start()

    def exchange(self, body: bytes) -> Reply:
        """The worker's reply to ``body`` (blocking: call it on a thread).

        Raises ProtocolError 503 when the worker cannot start or dies before answering,
        WorkerUnusable when the model cannot be sent to a worker.
        """
        with self._lock:
            self._ensure_started()
            assert self._inbox is not None and self._outbox is not None
            try:
                self._outbox.send_bytes(body)
                if not self._inbox.poll(self.reply_timeout_s):
                    self._reap()  # kills it: its answer, if any ever came, is unwanted
                    log.error("the large-request worker did not answer; starting a new one")
                    self.prestart()
                    raise ProtocolError(
                        503,
                        f"the large-request worker did not answer within "
                        f"{self.reply_timeout_s:g} s and was replaced; retry shortly",
                    )
                answer = self._inbox.recv_bytes()
            except (EOFError, OSError):
                why = self._reap()
                if self.closed:
                    raise ProtocolError(
                        503, "the server is shutting down; retry on another replica"
                    ) from None
                log.error("the large-request worker stopped (%s); starting a new one", why)
                self.prestart()
                raise ProtocolError(
                    503,
                    f"the large-request worker stopped ({why}) before answering; retry shortly",
                ) from None
        try:  # our own child's answer over a private pipe, never a client's bytes
            reply = pickle.loads(answer)  # noqa: S301
        except Exception:
            reply = None
        if not isinstance(reply, Reply):
            log.error("the large-request worker's answer does not unpickle as a Reply")
            raise ProtocolError(503, "the large-request worker answered garbage; retry shortly")
        return reply

    def close(self) -> None:
        """Stop the worker (the server is stopping); a request in flight gets a 503."""
        self.closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._lock.acquire(blocking=False):  # else the thread in flight cleans up
            try:
                self._reap()
            finally:
                self._lock.release()

    # ------------------------------------------------------------------ internals
    def _start_quietly(self) -> None:
        try:
            with self._lock:
                self._ensure_started()
        except (ProtocolError, WorkerUnusable):
            pass  # the next large request reports it

    def _ensure_started(self) -> None:
        """Start the worker unless it runs; the caller holds the lock."""
        if self.closed:
            raise ProtocolError(503, "the server is shutting down; retry on another replica")
        if not self.usable:
            raise WorkerUnusable("the model cannot be sent to a worker process")
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is not None:
            log.error("the large-request worker stopped (%s); starting a new one", self._reap())
        if self._init is None:
            try:
                self._init = pickle.dumps((self._runner, self._limits), pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # any pickling failure means the same
                self.usable = False
                log.warning("large requests are answered in the server: %s", exc)
                raise WorkerUnusable(str(exc)) from None
        self._spawn()
        self.starts += 1
        assert self._outbox is not None and self._inbox is not None
        try:
            self._outbox.send_bytes(self._init)
            ready = self._inbox.poll(START_TIMEOUT_S) and self._inbox.recv_bytes()
        except (EOFError, OSError):
            ready = b""
        if ready != READY:
            text = ready.decode(errors="replace") if ready else self._reap()
            self._reap()
            raise ProtocolError(
                503, f"the large-request worker did not start ({text[:200]}); retry shortly"
            )

    def _spawn(self) -> None:
        worker_reads, server_writes = os.pipe()
        server_reads, worker_writes = os.pipe()
        argv = [sys.executable, "-P", "-m", offload_worker.__name__]
        try:
            # In the server's process group, so a terminal's Ctrl-C or a group kill
            # reaches it too; it ignores SIGINT and leaves stopping to the server.
            self._proc = subprocess.Popen(
                [*argv, str(worker_reads), str(worker_writes)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # the server's stdout carries its own lines
                pass_fds=(worker_reads, worker_writes),
            )
        except OSError as exc:
            os.close(server_reads)
            os.close(server_writes)
            raise ProtocolError(
                503, f"the large-request worker did not start ({exc.strerror}); retry shortly"
            ) from None
        finally:
            os.close(worker_reads)  # only the worker keeps its ends open, so either
            os.close(worker_writes)  # side sees EOF when the other one is gone
        self._outbox = Connection(server_writes, readable=False)
        self._inbox = Connection(server_reads, writable=False)
        if self.closed:  # close() ran while we started
            self._reap()

    def _reap(self) -> str:
        """Forget the worker (killing it if it still runs); how it ended."""
        proc, self._proc = self._proc, None
        for conn in (self._inbox, self._outbox):
            if conn is not None:
                conn.close()
        self._inbox = self._outbox = None
        if proc is None:
            return "not running"
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit status {code}"


@atexit.register
def _stop_all() -> None:
    """No orphans when the server exits without its lifespan's shutdown."""
    for worker in list(_LIVE):
        worker.close()

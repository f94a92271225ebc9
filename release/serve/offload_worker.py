"""The large-request worker: a process of its own that answers large inference requests.

Profiled on a 10 MB request (103,000 rows, 11 columns) in the serving process, the GIL was
held for about 1.5 s of Python: parsing (0.34 s), checking and decoding (0.28 s), building
each slice's frame (0.5 s), the compiled preprocessing, the score histogram (0.11 s) and
rendering the answer (0.12 s); only the estimator's own loops release it. Any share of
that left in the serving process stalls the event loop and the predict thread of the
single-row requests. So the whole request moves here: this process holds a copy of the
server's model (its :class:`~release.serve.runner.ModelRunner`, sent pickled over a
private pipe at start), and for each body it runs exactly the serving process's steps
(:func:`~release.serve.body.parse_bounded`, :func:`~release.serve.protocol.decode_infer`,
prediction in slices of ``chunk_rows`` through ``ModelRunner.predict_batch``,
:func:`~release.serve.protocol.encode_infer`, :func:`~release.serve.render.render_json`),
so the answers and the errors are the same to the byte. What the server still records
(unknown categories, rows per prediction call, scores) comes back with the answer.

Started by :class:`release.serve.offload.LargeWorker` as ``python -P -m
release.serve.offload_worker READ_FD WRITE_FD``; it ignores Ctrl-C (the server stops it)
and exits when the server's end of the pipe closes or the server dies.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from release.serve.body import RequestLimits, parse_bounded
from release.serve.protocol import InferRequest, ProtocolError, decode_infer, encode_infer
from release.serve.render import render_json

READY = b"ready"
PARENT_POLL_S = 0.5
NICENESS = 10  # added to the server's; the server's own threads keep their priority


@dataclass
class Reply:
    """The worker's answer to one request body: the rendered answer or its error."""

    body: bytes | None = None  # the V2 answer as the server sends it
    unknown: dict[str, int] = field(default_factory=dict)  # served under "warn", per column
    calls: list[int] = field(default_factory=list)  # rows in each prediction call made
    proba: Any | None = None  # probabilities of the calls that answered (score histogram)
    status: int = 0  # a ProtocolError: its status and message
    message: str = ""
    failure: bytes | None = None  # any other exception, pickled (None when it cannot be)
    failure_type: str = ""

    def raise_error(self) -> None:
        """Raise the error this reply carries, as the serving process would have."""
        if self.status:
            raise ProtocolError(self.status, self.message)
        if self.failure_type:
            exc: BaseException | None = None
            if self.failure is not None:
                try:
                    exc = pickle.loads(self.failure)  # noqa: S301 - pickled by the worker
                except Exception:  # a class the server cannot rebuild: same name and text
                    exc = None
            if not isinstance(exc, Exception):
                exc = type(self.failure_type, (Exception,), {})(self.message)
            raise exc


def answer(body: bytes, runner: Any, limits: RequestLimits) -> Reply:
    """Parse, check, decode, predict and render one large request, as the server would."""
    reply = Reply()
    try:
        payload = parse_bounded(body, limits.max_depth, large=True, yielding=False)
        decoded = decode_infer(payload, runner.schema, limits.unknown_category)
        del payload  # the columns hold the values now
        reply.unknown = decoded.unknown
        labels, proba = _predict(runner, decoded, limits.chunk_rows, reply)
        content = encode_infer(runner.schema, decoded, labels, proba)
        reply.body = render_json(content).encode("utf-8")
    except ProtocolError as exc:
        reply.status, reply.message = exc.status, exc.message
    except Exception as exc:  # the model's or the encoder's failure: a 500 in the server
        reply.failure_type, reply.message = type(exc).__name__, str(exc)
        try:
            reply.failure = pickle.dumps(exc)
        except Exception:
            reply.failure = None
    return reply


def _predict(runner: Any, decoded: InferRequest, step: int, reply: Reply) -> tuple[Any, Any | None]:
    """Predict in slices of ``step`` rows, one call each, as the server's batcher does."""
    import numpy as np

    labels: list[Any] = []
    probas: list[Any] = []
    try:
        for start in range(0, decoded.rows, step):
            stop = min(start + step, decoded.rows)
            part = decoded.part(start, stop)
            reply.calls.append(part.rows)
            (result,) = runner.predict_batch([part])
            if isinstance(result, BaseException):
                raise result
            labels.append(result.labels)
            if result.proba is not None:
                probas.append(result.proba)
    finally:  # the scores of the calls that answered are recorded even after a failure
        reply.proba = np.concatenate(probas) if probas else None
    if len(labels) == 1:
        return labels[0], reply.proba
    return np.concatenate(labels), reply.proba


def _watch_parent(parent: int) -> None:
    """Exit as soon as the server is gone, even in the middle of a request."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(inbox: Connection, outbox: Connection) -> int:
    """Load the model sent first, then answer bodies until the pipe closes."""
    try:
        # the server's own runner over a private pipe; the model file itself is only
        # ever loaded with skops' trusted types, in the server
        runner, limits = pickle.loads(inbox.recv_bytes())  # noqa: S301
    except EOFError:
        return 0
    except Exception as exc:  # reported to the server, which logs it
        outbox.send_bytes(f"{type(exc).__name__}: {exc}".encode()[:500])
        return 1
    outbox.send_bytes(READY)
    while True:
        try:
            body = inbox.recv_bytes()
        except EOFError:
            return 0
        reply = answer(body, runner, limits)
        del body
        outbox.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def main(argv: list[str] | None = None) -> int:
    """The worker process: ``READ_FD WRITE_FD`` are its ends of the two pipes."""
    args = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops us
    # Large requests are throughput work: where cores are short (2 here), the scheduler
    # runs the server's event loop and predict thread first, the worker with the rest.
    os.nice(NICENESS)
    _watch_parent(os.getppid())
    inbox = Connection(int(args[0]), writable=False)
    outbox = Connection(int(args[1]), readable=False)
    try:
        return serve(inbox, outbox)
    except (BrokenPipeError, ConnectionError):  # the server went away mid-answer
        return 0


if __name__ == "__main__":
    # Run through the module's importable name, so that a Reply pickles as
    # release.serve.offload_worker.Reply (the server cannot load __main__.Reply).
    from release.serve import offload_worker

    sys.exit(offload_worker.main())

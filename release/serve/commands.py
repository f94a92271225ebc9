"""``release serve``: one model over the Open Inference Protocol, in one process.

Throughput comes from micro-batching on one worker thread, not from more processes
(several uvicorn workers leave TCP_NODELAY off and pile keep-alive connections onto one
worker; in one process asyncio sets TCP_NODELAY on every connection it accepts).
BLAS/OpenMP are pinned to ``release.deploy.server.threads`` threads before numpy is
imported. Once the socket accepts requests the command prints ``ready on
http://HOST:PORT`` (the deploy target waits for that line); SIGTERM or Ctrl-C shut it
down gracefully (requests in flight are answered) and it exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from release import paths
from release.console import params_option, repo_option
from release.errors import UsageError

if TYPE_CHECKING:  # the loader imports the registry: not at start-up
    from release.serve.loader import Form

SWITCH_INTERVAL_S = 0.0005
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def pin_threads(threads: int) -> None:
    """Limit BLAS/OpenMP pools to ``threads`` (env before import; threadpoolctl after)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    if "numpy" in sys.modules:  # already imported (tests): limit the live pools too
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


def http_implementation(choice: str) -> str:
    """``auto`` means httptools when it is installed (faster here), else h11."""
    if choice != "auto":
        return choice
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind host:port (0 picks a free port); UsageError when taken. The server listens later."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r} cannot be resolved: {exc}", "pass an IP") from None
    family, socktype, proto, _, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}", "pick a free port with --port"
        ) from None
    return sock


def build_server(
    model: str,
    *,
    repo: str = ".",
    pinned: str | None = None,
    name: str | None = None,
    version_label: str | None = None,
    batch: Any = None,
    faults: Any = None,
    limits: Any = None,
    chaos: Any = None,
    form: Form = "auto",
) -> Any:
    """Load, verify and warm up the model; return a ModelServer (no socket yet).

    ``pinned`` (``RELEASE_MODEL_SHA256``) refuses a model with another sha256 before it
    is unpickled.
    """
    from release.serve.app import ModelServer
    from release.serve.loader import NAME_RE, load
    from release.serve.protocol import Schema
    from release.serve.runner import ModelRunner

    loaded = load(model, repo=repo, pinned=pinned, form=form)
    served_name = name or loaded.name
    if not NAME_RE.match(served_name):
        raise UsageError(
            f"--name {served_name!r} is invalid",
            "use letters, digits, '-', '_' or '/', starting and ending with a letter or digit",
        )
    version = version_label or loaded.version
    if not version or "/" in version or not version.isprintable() or " " in version:
        raise UsageError(f"--version-label {version!r} is invalid", "use e.g. v1.2.0")
    schema = Schema.from_meta(loaded.meta, served_name, version)
    runner = ModelRunner(loaded.pipeline, loaded.meta, schema)
    runner.warm_up()
    return ModelServer(runner, batch=batch, faults=faults, limits=limits, chaos=chaos)


def run_server(server: Any, sock: socket.socket, http: str = "auto") -> None:
    """Serve on a bound socket until SIGTERM/SIGINT; print the ready line once it accepts."""
    import uvicorn

    from release.serve.app import create_app

    host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    ready_line = f"ready on http://{shown_host}:{bound_port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                click.echo(ready_line)
                sys.stdout.flush()

    config = uvicorn.Config(
        create_app(server),
        http=http_implementation(http),
        ws="none",  # no WebSocket endpoints; "auto" imports wsproto (0.1-0.25 s of start-up)
        loop="asyncio",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,  # clients talk to us directly or through our own router
        timeout_graceful_shutdown=5,
        timeout_keep_alive=30,
        backlog=2048,
    )
    # uvicorn re-raises the signal it caught after its graceful shutdown; an ignoring
    # handler turns that into a normal exit (status 0) instead of death by SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: None)
    # The event loop shares the GIL with the predict thread and a large request's decode
    # thread; at the default 5 ms switch interval every hand-over can cost a small request
    # 5 ms, so it waits at most 0.5 ms instead (a noisy A/B on the loaded 2-core machine:
    # single-row p99 with 10 MB in flight 147-163 ms at 0.5 ms, 163-217 ms at 5 ms).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    _Server(config).run(sockets=[sock])
    click.echo("stopped")


@click.command("serve")
@click.option(
    "--model",
    "model",
    default=paths.MODELS,
    show_default=True,
    help="A models/ directory, a .skops file (model.json beside it), NAME@vX.Y.Z or NAME#STAGE.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="0 = any."
)
@click.option("--name", default=None, help="Model name in URLs and metrics [model.json name].")
@click.option("--version-label", default=None, help="Version in URLs and metrics.")
@repo_option("Git repository for NAME@vX.Y.Z.")
@params_option
@click.option("--max-batch-size", type=click.IntRange(1), default=None, help="Override params.")
@click.option("--max-wait-ms", type=click.FloatRange(0), default=None, help="Override params.")
@click.option(
    "--http",
    type=click.Choice(["auto", "h11", "httptools"]),
    default="auto",
    show_default=True,
    help="HTTP parser (auto: httptools when installed).",
)
@click.option(
    "--chaos",
    "chaos_rules",
    multiple=True,
    metavar="RULE",
    help="Misbehave on purpose to rehearse a rollback (repeatable): crash@N, "
    "errors=RATE[@N], latency=MS[@N], flip[@N], constant=CLASS[@N], seed=S; "
    "@N starts after N inferences.",
)
@click.option(
    "--form",
    type=click.Choice(["auto", "pipeline"]),
    default="auto",
    show_default=True,
    help="auto: the numpy form the model file carries (no scikit-learn import, fast start), "
    "else scikit-learn; pipeline: always the scikit-learn pipeline.",
)
@click.option("--fault-error-rate", type=click.FloatRange(0, 1), default=0.0, hidden=True)
@click.option("--fault-delay-ms", type=click.FloatRange(0), default=0.0, hidden=True)
@click.option("--fault-seed", type=int, default=None, hidden=True)
@click.pass_context
def serve(
    ctx: click.Context,
    model: str,
    host: str,
    port: int,
    name: str | None,
    version_label: str | None,
    repo: str,
    params_path: str,
    max_batch_size: int | None,
    max_wait_ms: float | None,
    http: str,
    chaos_rules: tuple[str, ...],
    form: Form,
    fault_error_rate: float,
    fault_delay_ms: float,
    fault_seed: int | None,
) -> None:
    """Serve a model over the Open Inference Protocol (KServe V2 REST) with /metrics.

    With RELEASE_MODEL_SHA256 set, a model whose sha256 differs is refused (exit 2)
    before the server listens.
    """
    from release.config import Settings, load_settings

    explicit = ctx.get_parameter_source("params_path") != click.core.ParameterSource.DEFAULT
    settings = load_settings(params_path) if explicit or Path(params_path).is_file() else Settings()
    tuning = settings.release.deploy.server
    pin_threads(tuning.threads)

    from release.serve.app import BatchOptions
    from release.serve.body import request_limits
    from release.serve.chaos import parse_chaos

    batch = BatchOptions(
        max_batch_size=max_batch_size or tuning.max_batch_size,
        max_wait_ms=tuning.max_wait_ms if max_wait_ms is None else max_wait_ms,
        threads=tuning.threads,
    )
    # The hidden --fault-* flags are the first chaos rules under their old names.
    rules = list(chaos_rules)
    if fault_error_rate:
        rules.append(f"errors={fault_error_rate}")
    if fault_delay_ms:
        rules.append(f"latency={fault_delay_ms}")
    if fault_seed is not None:
        rules.append(f"seed={fault_seed}")
    chaos = parse_chaos(rules)
    from release.serve.loader import pinned_sha256

    pinned = pinned_sha256()  # RELEASE_MODEL_SHA256, checked before anything listens
    sock = bind_socket(host, port)  # before loading: a taken port fails at once
    try:
        server = build_server(
            model,
            repo=repo,
            pinned=pinned,
            name=name,
            version_label=version_label,
            batch=batch,
            chaos=chaos,
            limits=request_limits(settings.serve),
            form=form,
        )
        click.echo(
            f"serving {server.schema.name} {server.schema.version} "
            f"({server.runner.form}; batch <= {batch.max_batch_size} rows, "
            f"wait <= {batch.max_wait_ms} ms)"
        )
        if chaos.active:
            click.echo(f"chaos: {chaos.describe()} (this server misbehaves on purpose)")
        run_server(server, sock, http)
    finally:
        sock.close()

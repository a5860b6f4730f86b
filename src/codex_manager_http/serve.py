"""Running the host: uvicorn in the manager's own event loop, with a graceful shutdown.

`serve(settings)` is what `codex-manager serve` runs. It checks the port before it opens
anything (StartupError). On SIGINT/SIGTERM it stops accepting connections, lets requests in
flight finish, closes WebSockets, drains the ledger writer, stops the runtime (no orphan
process) and returns, so the process exits 0; a signal during start-up ends it the same
way, once the start-up step in progress is done.

`running_server(app)` runs any app on an (ephemeral) port for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import uvicorn
from litestar import Litestar

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.data_dir import prepare_data_dir
from codex_manager_core.testing import ScriptedModel, offline_env, write_offline_config
from codex_manager_http.app import create_app
from codex_manager_http.demo import BANNER, demo_info, demo_script
from codex_manager_http.http_protocol import ServerConfig
from codex_manager_http.logging_setup import install_redaction
from codex_manager_http.settings import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    ServerSettings,
)

logger = logging.getLogger("codex_manager_http.serve")

STARTUP_TIMEOUT = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: we stop it ourselves and exit 0 (uvicorn would
    re-raise the signal after shutting down, ending the process with a signal status)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@attrs.frozen
class RunningServer:
    url: str
    host: str
    port: int
    server: uvicorn.Server = attrs.field(repr=False)

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


@asynccontextmanager
async def running_server(
    app: Litestar,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str = "warning",
    header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> AsyncIterator[RunningServer]:
    """Serve `app` until the block ends (then shut down gracefully). Port 0: ephemeral.

    A connection gets `header_timeout` seconds to send each request's headers; above
    `max_connections` open connections, new requests and WebSockets get 503
    (http_protocol.py). Logging is the process's (logging_setup.py): uvicorn installs no
    handlers of its own, and its request lines have `token=` redacted.
    """
    install_redaction()
    config = ServerConfig(
        app,
        header_timeout=header_timeout,
        max_connections=max_connections,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        lifespan="on",
        ws="websockets-sansio",
        access_log=False,
        timeout_graceful_shutdown=10,
        # Compression costs each socket its own deflate of every frame (the shared frame
        # cache cannot help it); for a local control plane CPU matters more than bytes.
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        server_header=False,
    )
    server = _Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with anyio.fail_after(STARTUP_TIMEOUT):
            # uvicorn has no started-event; it flips `started` once it listens.
            while not server.started:
                if server.should_exit:
                    raise RuntimeError(f"the HTTP server could not start on {host}:{port}")
                await anyio.sleep(0.005)
        bound = server.servers[0].sockets[0].getsockname()
        shown_host = f"[{host}]" if ":" in host else host
        try:
            yield RunningServer(f"http://{shown_host}:{bound[1]}", host, int(bound[1]), server)
        finally:
            server.should_exit = True


def _has_credentials(codex_home: Path, environ: dict[str, str]) -> bool:
    if environ.get("OPENAI_API_KEY") or environ.get("CODEX_API_KEY"):
        return True
    return (codex_home / "auth.json").is_file() or (Path.home() / ".codex" / "auth.json").is_file()


def choose_demo(settings: ServerSettings, *, auto: bool) -> tuple[bool, str]:
    """Demo or real model, and a sentence saying which and why (for `make run`)."""
    if settings.demo:
        return True, "demo mode requested: using the scripted offline model"
    if not auto:
        return False, "using the real model configured for codex"
    codex_home = settings.codex_home or settings.data_dir / "codex-home"
    if _has_credentials(codex_home, dict(os.environ)):
        return False, "Codex credentials found: using the real model"
    return (
        True,
        "no Codex credentials (no OPENAI_API_KEY, no auth.json): using the scripted demo model",
    )


def manager_config(settings: ServerSettings, **overrides: Any) -> ManagerConfig:
    values: dict[str, Any] = {
        "codex_bin": settings.codex_bin,
        "codex_home": settings.codex_home,
        "defaults_locked": settings.defaults_locked,
        "default_controls": attrs.evolve(
            ManagerConfig().default_controls,
            approval_policy=settings.default_approval_policy,
            filesystem_sandbox=settings.default_sandbox,
            network_access=settings.default_network_access,
        ),
        "request_timeout": settings.request_timeout,
        "agents": settings.agents(),
        "restart": attrs.evolve(
            ManagerConfig().restart, failed_retry_interval=settings.runtime_retry_interval
        ),
    }
    values.update(overrides)
    return ManagerConfig(**values)


class StartupError(Exception):
    """The server cannot start (the port is taken, the address is wrong). Its message is
    one line for a person; `codex-manager serve` prints it and exits 1."""


def ensure_port_free(host: str, port: int) -> None:
    """Fail (StartupError) if `host:port` cannot be listened on, before anything else is
    opened: a second instance must not touch the data directory or start a runtime just
    to find out. Binds the way uvicorn will (SO_REUSEADDR), then lets go."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen on {shown}: the port is already in use (another "
                "codex-manager, or another program); stop it or choose another --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise StartupError(
                f"cannot listen on {shown}: permission denied (ports below 1024 need "
                "privileges); choose another --port"
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
            raise StartupError(
                f"cannot listen on {shown}: {host!r} is not an address of this machine; "
                "check --host"
            ) from None
        raise StartupError(f"cannot listen on {shown}: {exc.strerror or exc}") from None


@attrs.define
class Stopper:
    """Turns SIGINT/SIGTERM (or `stop`) into a stop fitting the phase we are in. During
    start-up it is noted, and start-up stops at its next step (each step is short and
    bounded), closing what it opened: a cancelled start-up would have to close the
    runtime and the store under cancellation. Once listening, it ends the wait and the
    server shuts down gracefully."""

    say: Callable[[str], None]
    received: list[signal.Signals]
    serving: anyio.CancelScope | None = None

    async def watch(self, signals: AsyncIterator[int], stop: anyio.Event | None) -> None:
        async with anyio.create_task_group() as tasks:

            async def on_signal() -> None:
                async for number in signals:
                    received = signal.Signals(number)
                    when = " during start-up" if self.serving is None else ""
                    self._stop(received, f"received {received.name}{when}: shutting down")

            async def on_stop() -> None:
                if stop is not None:
                    await stop.wait()
                    self._stop(signal.SIGTERM, "stop requested: shutting down")

            tasks.start_soon(on_signal)
            tasks.start_soon(on_stop)

    def _stop(self, received: signal.Signals, why: str) -> None:
        if not self.received:
            self.say(why)
        self.received.append(received)
        if self.serving is not None:
            self.serving.cancel()


async def serve(
    settings: ServerSettings,
    *,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    on_ready: Callable[[RunningServer], None] | None = None,
    stop: anyio.Event | None = None,
    signalled: Sequence[int] = (),
) -> None:
    """Run the server until SIGINT/SIGTERM (or `stop` is set), then shut down cleanly.

    The port is checked before anything is opened (StartupError). A signal at any time,
    start-up included, ends in a clean stop (runtime stopped, ledger drained, store
    closed) and a normal return, so the process exits 0. `signalled`: signals that
    arrived before this was called (the CLI catches them from its first instant)."""
    settings.check()
    ensure_port_free(settings.host, settings.port)
    failure: BaseException | None = None
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        # Read after the receiver is in place: `signalled` may have grown until then.
        stopper = Stopper(say, [signal.Signals(number) for number in signalled])
        if stopper.received:
            say(f"received {stopper.received[0].name} before start-up: not starting")
            return
        async with anyio.create_task_group() as watching:
            watching.start_soon(stopper.watch, signals, stop)
            try:
                await serve_until_stopped(settings, stopper, say=say, on_ready=on_ready)
            except Exception as exc:  # raised as itself, not inside an ExceptionGroup
                failure = exc
            finally:
                watching.cancel_scope.cancel()
    if failure is not None:
        raise failure
    say("codex-manager stopped")


async def serve_until_stopped(
    settings: ServerSettings,
    stopper: Stopper,
    *,
    say: Callable[[str], None],
    on_ready: Callable[[RunningServer], None] | None,
) -> None:
    """`serve`'s whole life on the current event loop, until `stopper` says stop: also
    what the CLI's `--data-dir` runs on a thread of its own (codex_manager_cli.embedded),
    where `serve`'s signal handlers cannot be installed."""
    async with AsyncExitStack() as stack:
        demo = None
        overrides: dict[str, Any] = {}
        if settings.demo:
            delay = settings.demo_chunk_delay
            model = await stack.enter_async_context(
                ScriptedModel(lambda request: demo_script(request, chunk_delay=delay))
            )
            # Its own CODEX_HOME, so a later real run of the same data dir is untouched. The
            # data dir is made first, as Manager.open would (private, or a one-line error).
            codex_home = prepare_data_dir(
                prepare_data_dir(settings.data_dir) / "codex-home-demo", warn_if_shared=False
            )
            write_offline_config(codex_home, base_url=model.base_url, approval_policy="on-request")
            overrides = {
                "codex_home": codex_home,
                "runtime_env": offline_env(codex_home),
                "import_user_auth": False,
            }
            demo = demo_info(model.base_url)
            say(BANNER)
        if await _interrupted(stopper, say):
            return
        config = manager_config(settings, **overrides)
        say(f"opening the data directory {settings.data_dir.absolute()}")
        manager = await stack.enter_async_context(Manager.open(settings.data_dir, config=config))
        if await _interrupted(stopper, say):
            return
        say("starting codex app-server and the HTTP server")
        app = create_app(manager, settings, demo=demo)
        http = await stack.enter_async_context(AsyncExitStack())
        running = await http.enter_async_context(
            running_server(
                app,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                header_timeout=settings.header_timeout,
                max_connections=settings.max_connections,
            )
        )
        if await _interrupted(stopper, say):
            return
        # Start-up objects (modules, the app, routes) live as long as the process: keep
        # them out of the garbage collector's full scans, which then stay short. (The
        # console script starts with collection off; from here on it runs.)
        gc.collect()
        gc.freeze()
        gc.enable()
        say(
            f"codex-manager listening on {running.url}  (API {running.url}/api, docs {running.url}/api/docs)"
        )
        if settings.token:
            say("a bearer token is required (Authorization: Bearer <token>)")
        if on_ready is not None:
            on_ready(running)
        with anyio.CancelScope() as serving:
            stopper.serving = serving
            if stopper.received:  # it came while we announced ourselves
                serving.cancel()
            await anyio.sleep_forever()
        await http.aclose()
        say("HTTP server stopped; stopping the runtime and closing the store")


async def _interrupted(stopper: Stopper, say: Callable[[str], None]) -> bool:
    """Whether a stop arrived during the start-up step that just ended (the yield lets a
    signal that arrived during it reach the watcher first)."""
    await anyio.lowlevel.checkpoint()
    if stopper.received:
        say("start-up interrupted: stopping what was started and closing the store")
        return True
    return False

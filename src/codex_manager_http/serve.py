"""Running the host: uvicorn in the manager's own event loop, with a graceful shutdown.

`serve(settings)` is what `codex-manager serve` runs. On SIGINT/SIGTERM it stops accepting
connections, lets requests in flight finish, closes WebSockets, drains the ledger writer,
stops the runtime (no orphan process) and returns, so the process exits 0.

`running_server(app)` runs any app on an (ephemeral) port for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import uvicorn
from litestar import Litestar

from codex_manager_core import Manager, ManagerConfig
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
    if _has_credentials(settings.data_dir / "codex-home", dict(os.environ)):
        return False, "Codex credentials found: using the real model"
    return (
        True,
        "no Codex credentials (no OPENAI_API_KEY, no auth.json): using the scripted demo model",
    )


def manager_config(settings: ServerSettings, **overrides: Any) -> ManagerConfig:
    values: dict[str, Any] = {
        "codex_bin": settings.codex_bin,
        "defaults_locked": settings.defaults_locked,
        "request_timeout": settings.request_timeout,
        "restart": attrs.evolve(
            ManagerConfig().restart, failed_retry_interval=settings.runtime_retry_interval
        ),
    }
    values.update(overrides)
    return ManagerConfig(**values)


async def serve(
    settings: ServerSettings,
    *,
    say: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True),
    on_ready: Callable[[RunningServer], None] | None = None,
    stop: anyio.Event | None = None,
) -> None:
    """Run the server until SIGINT/SIGTERM (or `stop` is set), then shut down cleanly."""
    settings.check()
    async with AsyncExitStack() as stack:
        demo = None
        overrides: dict[str, Any] = {}
        if settings.demo:
            delay = settings.demo_chunk_delay
            model = await stack.enter_async_context(
                ScriptedModel(lambda request: demo_script(request, chunk_delay=delay))
            )
            # Its own CODEX_HOME, so a later real run of the same data dir is untouched.
            codex_home = (settings.data_dir / "codex-home-demo").absolute()
            write_offline_config(codex_home, base_url=model.base_url, approval_policy="on-request")
            overrides = {
                "codex_home": codex_home,
                "runtime_env": offline_env(codex_home),
                "import_user_auth": False,
            }
            demo = demo_info(model.base_url)
            say(BANNER)
        config = manager_config(settings, **overrides)
        manager = await stack.enter_async_context(Manager.open(settings.data_dir, config=config))
        app = create_app(manager, settings, demo=demo)
        async with running_server(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            header_timeout=settings.header_timeout,
            max_connections=settings.max_connections,
        ) as running:
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
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async with anyio.create_task_group() as waiting:

                    async def on_signal() -> None:
                        async for received in signals:
                            say(f"received {signal.Signals(received).name}: shutting down")
                            break
                        waiting.cancel_scope.cancel()

                    async def on_stop() -> None:
                        if stop is not None:
                            await stop.wait()
                            waiting.cancel_scope.cancel()

                    waiting.start_soon(on_signal)
                    waiting.start_soon(on_stop)
        say("HTTP server stopped; stopping the runtime and closing the store")
    say("codex-manager stopped")

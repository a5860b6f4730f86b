"""`--data-dir DIR`: the server started in-process for one command.

The command then runs through exactly the same request path as against a remote server
(http.client to 127.0.0.1), so embedded and remote answers cannot drift apart. The
server is `codex-manager serve`'s own start-up (`codex_manager_http.serve`), run on a
background thread's event loop on an ephemeral loopback port with a random bearer
token, and stopped (runtime stopped, store closed) when the command ends. Everything
heavy is imported here, and this module is imported only when `--data-dir` is used.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codex_manager_client.target import Target

START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


class EmbeddedError(Exception):
    """The embedded server could not start; the message says why, in one line."""


def start_embedded(
    data_dir: Path,
    *,
    demo: bool | None = None,
    timeout: float = 30.0,
    verbose: bool = False,
) -> tuple[Target, Callable[[], None]]:
    """Start a server on `data_dir` and return (its Target, a function that stops it).

    Settings are `serve`'s (CODEX_MANAGER_* and the original's variables apply, e.g.
    CODEX_MANAGER_DEMO), except the address (127.0.0.1, a free port) and the token (a
    new random one). Raises EmbeddedError when it does not start."""
    import anyio
    import anyio.from_thread
    import anyio.lowlevel

    from codex_manager_http.original_env import resolve_settings
    from codex_manager_http.serve import RunningServer, Stopper, serve_until_stopped
    from codex_manager_http.settings import ServerSettings, SettingsError

    token = secrets.token_urlsafe(24)
    try:
        given: dict[str, object] = {"data_dir": data_dir, "demo": demo, "log_level": "warning"}
        values: dict[str, Any] = dict(resolve_settings(given).values)
        values.update(host="127.0.0.1", port=0, token=token, allowed_hosts=())
        settings = ServerSettings(**values)
        settings.check()
    except (SettingsError, TypeError, ValueError) as exc:
        raise EmbeddedError(f"--data-dir: {exc}") from None

    def say(text: str) -> None:
        if verbose:
            print(f"[embedded] {text}", file=sys.stderr, flush=True)

    ready = threading.Event()
    state: dict[str, Any] = {}
    stopper = Stopper(say, [])

    async def main() -> None:
        state["loop"] = anyio.lowlevel.current_token()

        def on_ready(running: RunningServer) -> None:
            state["url"] = running.url
            ready.set()

        await serve_until_stopped(settings, stopper, say=say, on_ready=on_ready)

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:  # reported to the caller, never lost on the thread
            state["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="codex-manager-embedded", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT):
        raise EmbeddedError(f"the embedded server did not start within {START_TIMEOUT:g} s")
    if "url" not in state:
        raise EmbeddedError(_why(state.get("error"), data_dir))

    def stop() -> None:
        serving = stopper.serving
        if serving is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                anyio.from_thread.run_sync(serving.cancel, token=state["loop"])
        thread.join(STOP_TIMEOUT)

    return Target(state["url"], token=token, timeout=timeout), stop


def _why(error: BaseException | None, data_dir: Path) -> str:
    from codex_manager_core.errors import DataDirLocked

    if isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if isinstance(error, DataDirLocked):
        return (
            f"the data directory {data_dir} is in use by a running server: "
            "talk to it with --server URL instead of --data-dir"
        )
    if error is None:
        return "the embedded server stopped during start-up"
    return f"the embedded server did not start: {error}"

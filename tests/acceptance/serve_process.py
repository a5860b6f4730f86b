"""`codex-manager serve` as a real process for acceptance tests: started on an ephemeral
port in demo mode (offline, scripted model), its stderr collected, its URL read from the
"listening on" line. Every wait is bounded."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
import attrs

CLI = Path(sys.executable).parent / "codex-manager"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
START_TIMEOUT = 60.0


@attrs.define
class ServeProcess:
    process: anyio.abc.Process
    url: str
    lines: list[str]

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http") :]


def serve_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server: no API keys, its own HOME."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")}
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), **extra)
    return env


class _Reader:
    """Collects stderr lines; `listening` is set once the URL is known or stderr ended."""

    def __init__(self, process: anyio.abc.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.url: str | None = None
        self.listening = anyio.Event()
        self.done = anyio.Event()

    async def run(self) -> None:
        assert self.process.stderr is not None
        buffer = b""
        try:
            async for chunk in self.process.stderr:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    line = raw.decode(errors="replace")
                    self.lines.append(line)
                    if self.url is None and (match := LISTENING.search(line)):
                        self.url = match.group(1)
                        self.listening.set()
        finally:
            self.listening.set()
            self.done.set()


@asynccontextmanager
async def serve_process(
    data_dir: Path, *args: str, env: dict[str, str], extra: Sequence[str] = ("--demo",)
) -> AsyncIterator[ServeProcess]:
    """Run `codex-manager serve` until the block ends (then SIGKILL it if still running;
    tests that stop it themselves do so inside the block)."""
    process = await anyio.open_process(
        [str(CLI), "serve", *extra, "--port", "0", "--data-dir", str(data_dir), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    reader = _Reader(process)
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reader.run)
            with anyio.move_on_after(START_TIMEOUT):
                await reader.listening.wait()
            if reader.url is None:
                raise AssertionError(f"the server never said it was listening: {reader.lines}")
            yield ServeProcess(process, reader.url, reader.lines)
            if process.returncode is not None:
                # It ended in the block: keep its last lines (bounded).
                with anyio.move_on_after(10):
                    await reader.done.wait()
            tasks.cancel_scope.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(30):
                await process.wait()

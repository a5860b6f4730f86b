"""Issue 7.1 and 7.7: what `codex-manager serve` writes to stderr, as a user runs it.

A real `serve --demo --token ...` process, a request, a WebSocket that passes the token as
`?token=` (as a browser must), a refused request from a foreign page, then SIGTERM. Every
line on stderr has the one log format (ours, uvicorn's and Litestar's alike, from the
first line to the last), and the token never appears in clear: uvicorn's WebSocket line
shows `token=***`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.real_runtime, pytest.mark.anyio]

CLI = Path(sys.executable).parent / "codex-manager"
TOKEN = "s3cret-" + "q" * 24
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S"
)
TIMEOUT = 60.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the server runs on uvicorn; this test only drives it


async def test_serve_logs_in_one_format_without_the_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEX_MANAGER_")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("CODEX_API_KEY", None)
    env.update(HOME=str(tmp_path / "home"), CODEX_MANAGER_TOKEN=TOKEN)
    (tmp_path / "home").mkdir()
    command = [str(CLI), "serve", "--demo", "--port", "0", "--data-dir", str(tmp_path / "data")]
    process = await anyio.open_process(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    try:
        assert process.stderr is not None
        buffer = b""
        url = None
        with anyio.fail_after(TIMEOUT):
            async for chunk in process.stderr:
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                lines.extend(line.decode(errors="replace") for line in complete)
                url = next((m.group(1) for line in lines if (m := LISTENING.search(line))), None)
                if url:
                    break
        assert url, f"the server never said it was listening: {lines}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http:
            assert (await http.get("/api/health", headers=auth)).status_code == 200
            # Requests that are refused or fail are logged in the same format too.
            await http.post("/api/projects", json={"name": "x"}, headers={
                **auth, "Origin": "http://evil.example"})  # fmt: skip
            missing = await http.get("/api/does-not-exist", headers=auth)
            assert missing.status_code == 404, missing.text
        ws_url = "ws" + url[len("http") :] + "/api/stream?since=0&token=" + TOKEN
        with anyio.fail_after(TIMEOUT):
            async with connect(ws_url) as ws:
                assert '"ready"' in str(await ws.recv())
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(TIMEOUT):
            async for chunk in process.stderr:
                buffer += chunk
            await process.wait()
        lines.extend(line.decode(errors="replace") for line in buffer.split(b"\n") if line)
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(10):
                await process.wait()
    log = "\n".join(lines)
    assert process.returncode == 0, log
    # The token only ever appears redacted.
    assert TOKEN not in log, log
    assert "/api/stream?since=0&token=***" in log, log
    odd = [line for line in lines if not LINE.match(line)]
    assert not odd, "lines not in the log format:\n" + "\n".join(odd) + "\n--- whole log:\n" + log
    # Every source is there, in that one format.
    assert "uvicorn.error: " in log, log
    assert "codex_manager_http.serve: codex-manager listening on" in log, log
    assert "codex-manager stopped" in log, log

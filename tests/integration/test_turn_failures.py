"""A wait for a turn whose model fails ends early with the runtime's own message (issue 7,
point 7): real codex binary, a ScriptedModel that answers HTTP errors or a model server
that refuses connections.

- no retries configured: `TurnFailed` at once (HTTP 500, connection refused), far inside the
  wait's timeout;
- with retries: each "Reconnecting... n/N" reaches `on_retry` and the log, then
  `TurnFailed` with the runtime's final message (and a login hint for a 401);
- a wait that times out while the runtime retries names the runtime's last retry message.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from codex_manager_core import TurnErrorNotice, TurnFailed, TurnStatus, TurnTimeout
from codex_manager_core.testing import ScriptedModel, write_offline_config
from codex_manager_core.testing.scripted_model import Fail
from tests.integration.manager_fixtures import open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

TIMEOUT = 120.0  # the wait's own timeout, as in the README's example
EARLY = 20.0  # "well before the timeout", generous for a loaded machine


def with_retries(codex_home: Path, base_url: str, retries: int) -> None:
    """The offline config, but codex retries a failed model request `retries` times."""
    path = write_offline_config(codex_home, base_url=base_url)
    text = path.read_text().replace("stream_max_retries = 0", f"stream_max_retries = {retries}")
    path.write_text(text)


def refused_url() -> str:
    """A loopback URL nothing listens on (the port was just free)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def failed_wait(tmp_path: Path, model: ScriptedModel, **wait: Any) -> TurnFailed:
    async with open_manager(tmp_path, model) as env:
        session = await env.manager.sessions.create()
        started = time.monotonic()
        with pytest.raises(TurnFailed) as info:
            await env.manager.turns.send_and_wait(
                session.session_id, "hello", timeout=TIMEOUT, **wait
            )
        elapsed = time.monotonic() - started
        assert elapsed < EARLY, f"the wait took {elapsed:.1f} s"
        failed = info.value
        assert failed.session_id == session.session_id
        # Waiting again (turn/completed follows the error at once) fails the same way, now
        # with the turn's recorded result.
        with pytest.raises(TurnFailed) as again:
            await env.manager.turns.wait(session.session_id, failed.turn_id, timeout=EARLY)
        assert again.value.result is not None
        assert again.value.result.status is TurnStatus.FAILED
        assert (await env.manager.turns.get(failed.turn_id)).status is TurnStatus.FAILED
        return failed


async def test_an_http_500_fails_the_wait_at_once_with_the_runtimes_message(
    tmp_path: Path,
) -> None:
    async with ScriptedModel([Fail(500)]) as model:
        failed = await failed_wait(tmp_path, model)
    assert failed.notice is not None
    assert not failed.notice.will_retry
    assert failed.runtime_message == failed.notice.describe()
    assert failed.notice.message in str(failed)
    assert failed.code == "turn_failed"


async def test_a_refused_connection_fails_the_wait_at_once(tmp_path: Path) -> None:
    async with ScriptedModel() as model:
        write_offline_config(tmp_path / "codex-home", base_url=refused_url())
        failed = await failed_wait(tmp_path, model)
        assert model.requests == []
    assert failed.notice is not None
    assert "Connection failed" in failed.runtime_message, failed


async def test_retries_are_reported_then_the_wait_fails_with_a_login_hint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    retries: list[TurnErrorNotice] = []

    async def on_retry(notice: TurnErrorNotice) -> None:
        retries.append(notice)

    async with ScriptedModel(lambda request: Fail(401, body="no such key")) as model:
        with_retries(tmp_path / "codex-home", model.base_url, 2)
        with caplog.at_level(logging.WARNING, logger="codex_manager_core.turns"):
            failed = await failed_wait(tmp_path, model, on_retry=on_retry)
        assert len(model.requests) == 3
    assert [notice.message for notice in retries] == ["Reconnecting... 1/2", "Reconnecting... 2/2"]
    assert all(notice.will_retry and notice.http_status == 401 for notice in retries)
    logged = [record.getMessage() for record in caplog.records]
    assert sum("Reconnecting... " in line for line in logged) == 2, logged
    assert "401 Unauthorized" in failed.runtime_message
    assert "no such key" in failed.runtime_message
    assert "codex login" in str(failed)


async def test_a_timeout_while_the_runtime_retries_names_its_last_message(
    tmp_path: Path,
) -> None:
    async with ScriptedModel(lambda request: Fail(401)) as model:
        with_retries(tmp_path / "codex-home", model.base_url, 50)
        async with open_manager(tmp_path, model) as env:
            session = await env.manager.sessions.create()
            with pytest.raises(TurnTimeout) as info:
                await env.manager.turns.send_and_wait(session.session_id, "hello", timeout=2.0)
            await env.manager.turns.interrupt(session.session_id)
    timeout = info.value
    assert timeout.last_retry is not None
    assert timeout.last_retry.message.startswith("Reconnecting... ")
    assert f"the runtime was retrying: {timeout.last_retry.describe()}" in str(timeout)

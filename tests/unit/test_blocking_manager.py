"""The blocking facade over the embedded Manager (`Manager.start`): opened in one step,
called in others, closed in another, with no event loop of the caller's; its loop thread
runs asyncio or trio."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codex_manager_core import Manager, ManagerConfig, NotFound
from codex_manager_core.blocking import Blocking, Closed
from codex_manager_core.store.memory import MemoryStore
from tests.unit.actions_fixtures import make_runtime


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def current_thread() -> threading.Thread:
    return threading.current_thread()


def open_blocking(tmp_path: Path, backend: str) -> Blocking[Manager]:
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    return Manager.start(
        store=MemoryStore(), transport=make_runtime(), config=config, backend=backend
    )


def test_open_call_and_close_in_separate_steps(tmp_path: Path, backend: str) -> None:
    cm = open_blocking(tmp_path, backend)  # "cell 1"
    loop_thread = cm.call(current_thread)
    assert loop_thread is not threading.current_thread()
    health = cm.runtime.wait_ready(10.0)  # untyped pass-through of an embedded-only call
    assert health.state == "ready"

    record = cm.sessions.create(title="blocking")  # "cell 2"
    assert cm.sessions.get(record.session_id) == record
    assert cm.sessions.rename(record.session_id, "renamed").title == "renamed"
    assert [r.session_id for r in cm.sessions.list().items] == [record.session_id]
    assert cm.settings.set(record.session_id, "k", 1) == {"k": 1}
    assert cm.session(record.session_id).settings.get() == {"k": 1}
    assert cm.projects.list() == []
    with pytest.raises(NotFound):
        cm.sessions.get("missing")
    assert cm.health().runtime.state == "ready"

    cm.close()  # "cell 3"
    cm.close()  # idempotent
    with pytest.raises(Closed):
        cm.sessions.list()
    loop_thread.join(timeout=10.0)
    assert not loop_thread.is_alive(), "close() stops the loop thread"


def test_a_context_manager_too(tmp_path: Path, backend: str) -> None:
    with open_blocking(tmp_path, backend) as cm:
        assert cm.sessions.create().session_id
    with pytest.raises(Closed):
        cm.projects.list()

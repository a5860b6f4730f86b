"""The Manager's public surface: the groups the docs list exist with the calls they list,
`ManagerApi` names the same surface, and `manager.session(id)` is the same calls with the
id bound."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import Manager, ManagerConfig, SettingValue, api
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime

ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0
THREAD = "thr_facade_1"


def documented_groups() -> dict[str, list[str]]:
    """`manager.<group>` -> the calls in the "API at a glance" table of docs/embedded.md."""
    text = (ROOT / "docs" / "embedded.md").read_text()
    section = text.split("## The API at a glance", 1)[1].split("\n## ", 1)[0]
    groups: dict[str, list[str]] = {}
    for group, calls in re.findall(r"^\| `manager\.(\w+)` \| (.+) \|$", section, re.M):
        groups[group] = re.findall(r"`(\w+)`", calls.split(", and codex")[0])
    return groups


def test_the_documented_groups_and_calls_are_the_protocols() -> None:
    groups = documented_groups()
    assert {"sessions", "turns", "approvals", "events", "runtime"} <= set(groups)
    manager_api = {name for name in dir(api.ManagerApi) if not name.startswith("_")}
    for group, calls in groups.items():
        if group in ("tools", "actions", "worker_tools"):  # embedded only: no protocol
            assert group not in manager_api, group
            continue
        assert group in manager_api, group
        protocol = next(
            getattr(api, name)
            for name in api.__all__
            if name.lower() == group.replace("_", "") + "api"
        )
        for call in calls:
            if call in ("SettingValue",):  # a result type named in the table
                continue
            assert hasattr(protocol, call), f"manager.{group}.{call}"


def thread_start(params: Any) -> Any:
    thread = {"id": THREAD, "cwd": params["cwd"], "status": {"type": "idle"}, "turns": []}
    return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}


@asynccontextmanager
async def open_manager(tmp_path: Path) -> AsyncIterator[Manager]:
    runtime = MemoryRuntime({"thread/start": thread_start, "thread/name/set": {}})
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=MemoryStore(), transport=runtime, config=config) as m:
            await m.runtime.wait_ready(WAIT)
            yield m


@pytest.mark.anyio
async def test_the_groups_of_a_manager_have_the_protocols_calls(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        for name in api.__all__:
            if name in ("ManagerApi", "ServerApi"):
                continue
            group = re.sub(r"(?<!^)([A-Z])", r"_\1", name[: -len("Api")]).lower()
            group = group.removesuffix("_server")  # the narrower protocol of the same group
            protocol = getattr(api, name)
            # The embedded protocols extend the server's: their calls are inherited too.
            calls = [
                call
                for klass in protocol.__mro__
                if klass.__module__.startswith("codex_manager_core")
                for call in vars(klass)
                if not call.startswith("_")
            ]
            for call in calls:
                assert hasattr(getattr(manager, group), call), f"manager.{group}.{call}"


@pytest.mark.anyio
async def test_a_session_scope_is_the_same_calls_with_the_id_bound(tmp_path: Path) -> None:
    async with open_manager(tmp_path) as manager:
        created = await manager.sessions.create(title="Scoped")
        chat = manager.session(created.session_id)
        assert (await chat.get()) == created
        renamed = await chat.rename("Renamed")
        assert renamed.title == "Renamed"
        assert (await manager.sessions.get(created.session_id)).title == "Renamed"

        assert await chat.settings.set("ticket", "ABC-1") == {"ticket": "ABC-1"}
        assert await chat.settings.update({"reviewer": "sam"}) == {
            "ticket": "ABC-1",
            "reviewer": "sam",
        }
        assert await chat.settings.get_key("ticket") == SettingValue("ticket", True, "ABC-1")
        assert await chat.settings.unset("reviewer") is True
        assert await chat.settings.get() == {"ticket": "ABC-1"}

        view = await chat.controls.get()
        assert view.controls == (await manager.controls.get(created.session_id)).controls
        change = await chat.controls.set_approval_policy("never")
        assert (change.status, change.applied.approval_policy) == ("ok", "never")

        assert await chat.approvals.list() == []
        assert await chat.tool_input.list() == []
        assert await chat.tool_calls.list() == []
        assert repr(chat) == f"<session {created.session_id}>"


@pytest.mark.anyio
async def test_the_domain_reaches_codex_home_only_through_its_port(tmp_path: Path) -> None:
    from codex_manager_core.testing import MemoryCodexHome

    home = MemoryCodexHome(
        [f"sessions/2026/rollout-{THREAD}.jsonl", f"shell_snapshots/{THREAD}.sh", "sessions/other"],
        stable={"thread/start", "thread/fork"},
    )
    runtime = MemoryRuntime(
        {"thread/start": thread_start, "thread/name/set": {}, "thread/delete": {}}
    )
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=runtime, config=config, home=home
        ) as manager:
            await manager.runtime.wait_ready(WAIT)
            created = await manager.sessions.create()
            deleted = await manager.sessions.delete(created.session_id)
            assert (deleted.session_id, deleted.files_removed) == (created.session_id, 2)
            capabilities = await manager.runtime.capabilities()
    assert home.files == {"sessions/other"}
    assert capabilities["features"]["threadFork"] is True
    assert capabilities["methods"]["thread/start"] == "available"
    [(_version, refresh)] = home.schema_reads
    assert refresh is False


@pytest.mark.anyio
async def test_a_projects_agent_sessions_are_its_system_owned_ones(tmp_path: Path) -> None:
    counter = iter(range(100))

    def start(params: Any) -> Any:
        thread = {"id": f"thr_{next(counter)}", "cwd": params["cwd"], "status": {"type": "idle"}}
        return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}

    runtime = MemoryRuntime({"thread/start": start, "thread/name/set": {}})
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=MemoryStore(), transport=runtime, config=config) as m:
            await m.runtime.wait_ready(WAIT)
            project = await m.projects.create("P")
            await m.sessions.create(project_id=project.project_id)
            worker = await m.sessions.create(project_id=project.project_id, system_owned=True)
            await m.sessions.create(system_owned=True)  # another project's (none)
            agents = await m.projects.agent_sessions(project.project_id)
    assert [record.session_id for record in agents] == [worker.session_id]

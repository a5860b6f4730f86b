"""Agent definitions (queue/agents.py): validation, the registry, the TOML agents file, the
config's override of a built-in; and which errors mean a worker's thread is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import AgentDefinition, Manager, ManagerConfig
from codex_manager_core.errors import Conflict, InvalidInput, NotFound, RpcError
from codex_manager_core.queue.agents import (
    DEFAULT_ORIENTATION,
    AgentRegistry,
    load_agents_file,
    parse_agents,
    registry_for,
)
from codex_manager_core.services.context import map_runtime_error
from codex_manager_core.services.workers import is_stale_thread_error
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime

WAIT = 5.0


def test_defaults_are_a_read_only_never_asking_restricted_worker() -> None:
    agent = AgentDefinition("helper")
    assert (agent.model, agent.effort, agent.orientation, agent.turn_timeout) == (
        None,
        None,
        None,
        180.0,
    )
    assert (agent.sandbox, agent.approval_policy, agent.network_access) == (
        "read-only",
        "never",
        "restricted",
    )
    assert agent.orientation_text == DEFAULT_ORIENTATION
    assert "dynamic tools" in DEFAULT_ORIENTATION
    assert "shell" in DEFAULT_ORIENTATION
    assert AgentDefinition("x", orientation="Be brief.").orientation_text == "Be brief."


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "has space"),
        ("name", "x" * 65),
        ("name", 5),
        ("model", ""),
        ("model", 3),
        ("effort", "extreme"),
        ("sandbox", "none"),
        ("approval_policy", "always"),
        ("network_access", "open"),
        ("orientation", "   "),
        ("turn_timeout", 0),
        ("turn_timeout", -1.0),
        ("turn_timeout", float("nan")),
        ("turn_timeout", float("inf")),
        ("turn_timeout", True),
        ("turn_timeout", "60"),
    ],
)
def test_a_bad_field_is_refused_naming_it(field: str, value: Any) -> None:
    values: dict[str, Any] = {"name": "ok", field: value}
    with pytest.raises(InvalidInput) as refused:
        AgentDefinition(**values)
    assert refused.value.issues[0]["path"] == [field]
    assert field in str(refused.value)


def test_registry_has_the_builtins_and_refuses_a_duplicate_unless_replacing() -> None:
    registry = AgentRegistry()
    assert registry.names() == ["default", "supervisor"]
    assert "default" in registry
    assert "nobody" not in registry
    mine = registry.register(AgentDefinition("mine", model="m1"))
    assert registry.get("mine") is mine
    with pytest.raises(Conflict) as duplicate:
        registry.register(AgentDefinition("mine", model="m2"))
    assert duplicate.value.code == "agent_exists"
    assert registry.get("mine").model == "m1"
    registry.register(AgentDefinition("mine", model="m2"), replace=True)
    assert registry.get("mine").model == "m2"
    assert [agent.name for agent in registry.list()] == ["default", "mine", "supervisor"]
    with pytest.raises(InvalidInput):
        registry.register({"name": "dict"})  # type: ignore[arg-type]


def test_an_unknown_agent_names_the_known_ones() -> None:
    registry = AgentRegistry()
    with pytest.raises(NotFound) as unknown:
        registry.get("reviewer")
    assert unknown.value.code == "unknown_agent"
    assert "'reviewer'" in str(unknown.value)
    assert "default, supervisor" in str(unknown.value)
    with pytest.raises(NotFound):
        registry.get(None)  # type: ignore[arg-type]


def test_config_agents_override_a_builtin_by_name() -> None:
    registry = registry_for([AgentDefinition("default", model="gpt-x", sandbox="workspace-write")])
    assert registry.get("default").model == "gpt-x"
    assert registry.get("default").sandbox == "workspace-write"
    assert registry.get("supervisor").model is None
    assert registry.names() == ["default", "supervisor"]


@pytest.mark.anyio
async def test_the_manager_knows_configured_and_registered_agents(tmp_path: Path) -> None:
    config = ManagerConfig(
        default_cwd=tmp_path,
        import_user_auth=False,
        agents=(AgentDefinition("default", model="gpt-x"), AgentDefinition("extra")),
    )
    runtime = MemoryRuntime({})
    with anyio.fail_after(WAIT):
        async with Manager.open(store=MemoryStore(), transport=runtime, config=config) as m:
            assert m.agents.get("default").model == "gpt-x"
            assert m.agents.names() == ["default", "extra", "supervisor"]
            # What an extension does: its agent is known from then on.
            m.agents.register(AgentDefinition("extension-agent"))
            assert "extension-agent" in m.agents
            with pytest.raises(NotFound) as unknown:
                await m.workers.ensure("p1", "nobody")
            assert unknown.value.code == "unknown_agent"
            with pytest.raises(InvalidInput):
                await m.workers.ensure("bad owner", "default")
            with pytest.raises(InvalidInput):
                await m.workers.ensure("session:", "default")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agents.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_agents_file_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[agents.default]
model = "gpt-5"
effort = "low"

[agents.reviewer]
sandbox = "workspace-write"
network_access = "enabled"
orientation = "Review only."
turn_timeout = 30
""",
    )
    default, reviewer = load_agents_file(path)
    assert default == AgentDefinition("default", model="gpt-5", effort="low")
    assert reviewer == AgentDefinition(
        "reviewer",
        sandbox="workspace-write",
        network_access="enabled",
        orientation="Review only.",
        turn_timeout=30.0,
    )
    assert load_agents_file(write(tmp_path, "")) == ()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[agents.x]\nmodel = 5\n", "agents.x.model"),
        ('[agents.x]\nturn_timeout = "long"\n', "agents.x.turn_timeout"),
        ("[agents.x]\nturn_timeout = 0\n", "agents.x.turn_timeout"),
        ('[agents.x]\nsandbox = "open"\n', "agents.x.sandbox"),
        ('[agents.x]\nmodle = "gpt-5"\n', "agents.x.modle"),
        ('[agents.x]\nname = "y"\n', "agents.x.name"),
        ('[agents."bad name"]\n', "agents.bad name.name"),
        ("[agents]\nx = 3\n", "agents.x"),
        ("agents = 3\n", "agents"),
        ("[agent.x]\n", "agent"),
        ("[agents.x\n", "not valid TOML"),
    ],
)
def test_an_error_in_the_agents_file_names_the_file_and_the_field(
    tmp_path: Path, text: str, named: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as refused:
        load_agents_file(path)
    assert str(path) in str(refused.value)
    assert named in str(refused.value)


def test_a_missing_agents_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as refused:
        load_agents_file(tmp_path / "missing.toml")
    assert "missing.toml" in str(refused.value)
    assert "cannot be read" in str(refused.value)


def test_parse_agents_names_its_source() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_agents({"agents": {"x": {"effort": "max"}}}, source="settings")
    assert str(refused.value).startswith("settings: agents.x.effort:")


@pytest.mark.parametrize(
    ("message", "stale"),
    [
        ("no rollout found for thread id 0199", True),
        ("thread not found: 0199", True),
        ("turn not found", False),
        ("invalid params", False),
    ],
)
def test_the_runtimes_gone_thread_errors_are_stale(message: str, stale: bool) -> None:
    raw = RpcError("thread/resume", -32600, message)
    assert is_stale_thread_error(raw) is stale
    assert is_stale_thread_error(map_runtime_error("thread/resume", raw)) is stale


def test_our_own_not_found_and_other_errors_are_not_stale() -> None:
    assert not is_stale_thread_error(NotFound("no session 'x'; list sessions to see the ids"))
    assert not is_stale_thread_error(NotFound("thread not found", code="unknown_agent"))
    assert not is_stale_thread_error(ValueError("no rollout found"))


def test_the_server_reads_its_agents_file_from_the_environment(tmp_path: Path) -> None:
    from codex_manager_http.serve import manager_config
    from codex_manager_http.settings import ServerSettings, SettingsError, env_defaults

    path = write(tmp_path, '[agents.supervisor]\nmodel = "gpt-s"\n')
    values = env_defaults({"CODEX_MANAGER_AGENTS_FILE": str(path)})
    assert values["agents_file"] == path
    settings = ServerSettings(agents_file=path)
    settings.check()
    assert manager_config(settings).agents == (AgentDefinition("supervisor", model="gpt-s"),)
    assert manager_config(ServerSettings()).agents == ()
    broken = ServerSettings(agents_file=write(tmp_path, '[agents.x]\neffort = "max"\n'))
    with pytest.raises(SettingsError, match=r"agents\.toml: agents\.x\.effort"):
        broken.check()


@pytest.mark.anyio
async def test_a_worker_thread_declares_the_provided_dynamic_tools(tmp_path: Path) -> None:
    started: list[Any] = []

    def start(params: Any) -> Any:
        started.append(params)
        thread = {"id": f"thr_{len(started)}", "cwd": params["cwd"], "status": {"type": "idle"}}
        return {"thread": thread, "model": "memory-model", "modelProvider": "memory"}

    tool = {
        "name": "report",
        "description": "Report the result.",
        "inputSchema": {"type": "object", "properties": {}},
    }
    runtime = MemoryRuntime({"thread/start": start, "thread/name/set": {}})
    config = ManagerConfig(default_cwd=tmp_path, import_user_auth=False)
    with anyio.fail_after(WAIT):
        async with Manager.open(store=MemoryStore(), transport=runtime, config=config) as m:
            await m.runtime.wait_ready(WAIT)
            m.workers.set_dynamic_tools(lambda: [tool])
            project = await m.projects.create("P")
            worker = await m.workers.ensure(project.project_id, "default")
            record = await m.sessions.get(worker.session_id)
    assert [dict(spec)["name"] for spec in record.dynamic_tools] == ["report"]
    assert [spec["name"] for spec in started[0]["dynamicTools"]] == ["report"]
    assert started[0]["cwd"] == str(tmp_path)

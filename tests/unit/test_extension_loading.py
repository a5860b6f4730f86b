"""Extensions: manifests, discovery (sources, precedence, duplicates, entry points), every
loading error code, the lenient first load against the strict atomic reload, reload_one,
load_path, agents from a manifest, reload_in_progress, dispatch order, and the Manager
loading extensions when it opens. Extensions are folders written under tmp_path."""

from __future__ import annotations

import importlib.metadata
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.errors import Conflict, InvalidInput, NotFound, ReloadFailed
from codex_manager_core.extensions.api import Subscription
from codex_manager_core.extensions.discovery import (
    default_entry_points,
    discover,
    roots_from_env,
)
from codex_manager_core.extensions.manifest import ManifestError, parse_manifest
from codex_manager_core.extensions.model import (
    Capabilities,
    Isolation,
    LoadErrorCode,
    Manifest,
    OriginType,
)
from codex_manager_core.extensions.versions import runtime_problems
from codex_manager_core.queue.agents import AgentRegistry
from codex_manager_core.services.extensions import ExtensionsService
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, MemoryRuntime
from tests.unit.extension_fixtures import SUBSCRIBING, named, service, write_extension

pytestmark = pytest.mark.anyio
WAIT = 10.0


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    adapter = MemoryStore()
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


# ---------------------------------------------------------------- manifest


def test_a_full_manifest_reads_every_field_and_ignores_unknown_ones() -> None:
    manifest = parse_manifest(
        {
            "name": "reviewer",
            "version": "2.0.1",
            "agentId": "review-agent",
            "displayName": "Reviewer",
            "futureField": {"x": 1},
            "runtime": {
                "coreApiVersion": 1,
                "coreApiVersionRange": ">=1.0.0 <2.0.0",
                "profiles": [
                    {"name": "codex-manager", "version": "1.0.0"},
                    {"name": "other", "versionRange": ">=3"},
                ],
            },
            "entrypoints": {"events": "events.py", "config": "ignored.json"},
            "capabilities": {"events": ["turn.*"], "actions": ["*"]},
            "isolation": "process",
            "agents": [{"name": "reviewer-worker", "model": "gpt-5", "turn_timeout": 60.0}],
        },
        default_name="folder",
    )
    assert manifest.name == "reviewer"
    assert manifest.version == "2.0.1"
    assert manifest.agent_id == "review-agent"
    assert manifest.display_name == "Reviewer"
    assert manifest.runtime.core_api_version_range == ">=1.0.0 <2.0.0"
    assert manifest.runtime.profiles == (("codex-manager", "==1.0.0"), ("other", ">=3"))
    assert manifest.entrypoint == "events.py"
    assert manifest.capabilities == Capabilities(("turn.*",), ("*",))
    assert manifest.isolation is Isolation.PROCESS
    assert manifest.agents == ({"name": "reviewer-worker", "model": "gpt-5", "turn_timeout": 60.0},)


def test_a_minimal_manifest_takes_the_folder_name_and_declares_no_capabilities() -> None:
    manifest = parse_manifest({}, default_name="folder")
    assert (manifest.name, manifest.agent_id, manifest.version) == ("folder", "folder", "0.0.0")
    assert manifest.capabilities is None
    assert manifest.entrypoint == "extension.py"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"name": 3}, "name"),
        ({"agentId": ""}, "agentId"),
        ({"runtime": "1"}, "runtime"),
        ({"runtime": {"coreApiVersion": "1"}}, "runtime.coreApiVersion"),
        ({"runtime": {"profiles": [{"version": "1"}]}}, "runtime.profiles[0].name"),
        ({"entrypoints": {"events": 5}}, "entrypoints.events"),
        ({"capabilities": {"events": "turn.completed"}}, "capabilities.events"),
        ({"capabilities": {"actions": [1]}}, "capabilities.actions"),
        ({"isolation": "container"}, "isolation"),
        ({"agents": [{"name": "w", "sandbox": "everything"}]}, "agents"),
        ({"agents": {"name": "w"}}, "agents"),
    ],
)
def test_a_wrong_type_names_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(document, default_name="x")
    assert caught.value.field == field


def test_runtime_compatibility() -> None:
    ok = parse_manifest(
        {
            "runtime": {
                "coreApiVersionRange": ">=1.0.0 <2.0.0",
                "profiles": [{"name": "codex-manager"}],
            }
        },
        default_name="x",
    )
    assert runtime_problems(ok.runtime) == []
    for runtime, fragment in [
        ({"coreApiVersion": 2}, "coreApiVersion is 2"),
        ({"coreApiVersionRange": ">=2.0.0"}, "excludes this core's API 1.0.0"),
        ({"coreApiVersionRange": "^^1"}, "not a version range"),
        ({"profiles": [{"name": "other"}]}, "do not include codex-manager@1.0.0"),
        ({"profiles": [{"name": "codex-manager", "versionRange": "<1"}]}, "excludes 1.0.0"),
    ]:
        problems = runtime_problems(parse_manifest({"runtime": runtime}, default_name="x").runtime)
        assert len(problems) == 1, (runtime, problems)
        assert fragment in problems[0], (runtime, problems)


# ---------------------------------------------------------------- discovery


def test_precedence_lexicographic_order_and_one_origin_per_physical_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_extension(repo, "b")
    write_extension(repo, "a", code=None, manifest=named("a"))
    (repo / ".hidden").mkdir()
    write_extension(repo, ".dot")
    (repo / "__pycache__").mkdir()
    (repo / "not-an-extension").mkdir()
    other = tmp_path / "other"
    write_extension(other, "z")
    write_extension(other, "c")
    single = write_extension(tmp_path, "single")  # a root that is itself an extension
    candidates, problems = discover(repo_root=repo, roots=[single, other, repo], entry_points=None)
    assert problems == []
    assert [(c.origin.type, c.root.name) for c in candidates] == [
        (OriginType.REPO_LOCAL, "a"),
        (OriginType.REPO_LOCAL, "b"),
        (OriginType.CONFIGURED_ROOT, "c"),
        (OriginType.CONFIGURED_ROOT, "z"),
        (OriginType.CONFIGURED_ROOT, "single"),
    ]
    again, _ = discover(repo_root=repo, roots=[other, repo, single], entry_points=None)
    assert again == candidates


def test_roots_from_the_environment_use_the_os_path_separator(tmp_path: Path) -> None:
    import os

    value = os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")])
    roots = roots_from_env({"CODEX_MANAGER_EXTENSION_ROOTS": value})
    assert roots == (tmp_path / "a", tmp_path / "b")
    assert roots_from_env({}) == ()


async def test_installed_packages_come_from_entry_points(
    tmp_path: Path, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    one, two = f"cmx_one_{uuid.uuid4().hex[:8]}", f"cmx_two_{uuid.uuid4().hex[:8]}"
    package = write_extension(site, one, manifest=named("pkg-one"), code=None)
    (package / "helper.py").write_text("VALUE = 7\n")
    (package / "__init__.py").write_text(
        "from .helper import VALUE\n"
        "def register(registry):\n"
        "    registry.on('turn.completed', lambda e, t: None, priority=VALUE)\n"
    )
    sub = write_extension(site, two, manifest=named("pkg-two"), code=None)
    (sub / "__init__.py").write_text("")
    (sub / "helper.py").write_text("VALUE = 3\n")
    (sub / "ext.py").write_text(
        "from .helper import VALUE\n"
        "def register(registry):\n"
        "    registry.on('turn.completed', lambda e, t: None, priority=VALUE)\n"
    )
    monkeypatch.syspath_prepend(str(site))
    group = "codex_manager.extensions"
    points = [
        importlib.metadata.EntryPoint("two", f"{two}.ext:register", group),
        importlib.metadata.EntryPoint("one", one, group),
        importlib.metadata.EntryPoint("missing", "cmx_no_such_module:x", group),
    ]
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group=None: points if group else []
    )
    extensions = service(store, entry_points=default_entry_points)
    snapshot = await extensions.load_initial()
    package_ext, submodule_ext = snapshot.extensions  # by entry point name: one, two
    assert package_ext.module_name == "pkg-one"
    assert package_ext.origin.type is OriginType.INSTALLED_PACKAGE
    assert package_ext.origin.path == one
    assert package_ext.subscriptions[0].priority == 7
    assert package_ext.entrypoint_path == str(package / "__init__.py")
    assert (submodule_ext.module_name, submodule_ext.subscriptions[0].priority) == ("pkg-two", 3)
    assert submodule_ext.entrypoint_path == str(sub / "ext.py")
    assert [(name, d.code) for name, d in snapshot.skipped] == [("missing", "import_failed")]
    assert one not in sys.modules  # imported under a unique name, not its own


# ---------------------------------------------------------------- loading errors


def _isolated_unavailable(tmp: Path) -> None:
    write_extension(tmp, "x", manifest=named("x", 'isolation = "process"'))


ERROR_CASES: list[tuple[str, dict[str, Any], LoadErrorCode, str]] = [
    ("manifest", {"manifest": "name = 5\n"}, LoadErrorCode.INVALID_MANIFEST, "name:"),
    ("toml", {"manifest": "name = \n"}, LoadErrorCode.INVALID_MANIFEST, "not valid TOML"),
    (
        "entry",
        {"manifest": named("x", '[entrypoints]\nevents = "nope.py"'), "code": None},
        LoadErrorCode.MISSING_ENTRYPOINT,
        "nope.py",
    ),
    (
        "escape",
        {"manifest": named("x", '[entrypoints]\nevents = "../outside.py"')},
        LoadErrorCode.MISSING_ENTRYPOINT,
        "outside.py",
    ),
    (
        "runtime",
        {"manifest": named("x", "[runtime]\ncoreApiVersion = 9")},
        LoadErrorCode.INCOMPATIBLE_RUNTIME,
        "coreApiVersion is 9",
    ),
    (
        "syntax",
        {"manifest": named("x"), "code": "def register(:\n"},
        LoadErrorCode.IMPORT_FAILED,
        "SyntaxError",
    ),
    (
        "raises",
        {"manifest": named("x"), "code": "raise RuntimeError('boom at import')\n"},
        LoadErrorCode.IMPORT_FAILED,
        "boom at import",
    ),
    (
        "exit",
        {"manifest": named("x"), "code": "import sys\nsys.exit(3)\n"},
        LoadErrorCode.IMPORT_FAILED,
        "SystemExit",
    ),
    (
        "no-register",
        {"manifest": named("x"), "code": "register = 5\n"},
        LoadErrorCode.MISSING_REGISTER,
        "register",
    ),
    (
        "register-raises",
        {"manifest": named("x"), "code": "def register(r):\n    raise ValueError('bad setup')\n"},
        LoadErrorCode.REGISTRATION_FAILED,
        "bad setup",
    ),
    (
        "bad-on",
        {
            "manifest": named("x"),
            "code": "def register(r):\n    r.on('turn.completed', print, timeout=-1)\n",
        },
        LoadErrorCode.REGISTRATION_FAILED,
        "timeout",
    ),
    (
        "async-register",
        {"manifest": named("x"), "code": "async def register(r):\n    pass\n"},
        LoadErrorCode.REGISTRATION_FAILED,
        "not async",
    ),
    (
        "trust",
        {"manifest": named("x", caps='[capabilities]\nevents = ["other"]')},
        LoadErrorCode.TRUST_DENIED,
        "turn.completed",
    ),
    (
        "isolation",
        {"manifest": named("x", 'isolation = "process"')},
        LoadErrorCode.IMPORT_FAILED,
        "process isolation unavailable",
    ),
]


@pytest.mark.parametrize(
    ("case", "files", "code", "fragment"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES]
)
async def test_every_loading_error_code(
    tmp_path: Path,
    store: MemoryStore,
    case: str,
    files: dict[str, Any],
    code: LoadErrorCode,
    fragment: str,
) -> None:
    root = tmp_path / "roots"
    write_extension(root, "x", **files)
    write_extension(root, "y", manifest=named("good"))
    extensions = service(store, roots=(root,))
    snapshot = await extensions.load_initial()  # lenient: the bad one is skipped
    assert [e.module_name for e in snapshot.extensions] == ["good"]
    [(name, diagnostic)] = snapshot.skipped
    assert name == str(root / "x")
    assert diagnostic.code == code.value
    assert fragment in diagnostic.message
    with pytest.raises(ReloadFailed) as caught:  # strict: the whole reload fails
        await extensions.reload()
    assert caught.value.code == "reload_failed"
    assert [d["code"] for d in caught.value.diagnostics] == [code.value]
    assert extensions.snapshot() is snapshot


async def test_agent_id_conflict_refuses_the_later_in_precedence(
    tmp_path: Path, store: MemoryStore
) -> None:
    repo, other = tmp_path / "repo", tmp_path / "other"
    write_extension(repo, "first", manifest=named("first", 'agentId = "shared"'))
    write_extension(other, "second", manifest=named("second", 'agentId = "shared"'))
    write_extension(other, "third", manifest=named("first"))  # a name taken too
    snapshot = await service(store, repo=repo, roots=(other,)).load_initial()
    assert [e.module_name for e in snapshot.extensions] == ["first"]
    assert [(n, d.code) for n, d in snapshot.skipped] == [
        ("second", "agent_id_conflict"),
        ("first", "agent_id_conflict"),
    ]
    assert "already taken by first (repo_local" in snapshot.skipped[0][1].message


async def test_a_process_isolated_extension_loads_through_the_isolation_host(
    tmp_path: Path, store: MemoryStore
) -> None:
    root = write_extension(
        tmp_path, "iso", manifest=named("iso", 'isolation = "process"'), code="raise SystemExit"
    )
    calls: list[tuple[Manifest, Path, str]] = []

    async def load_isolated(manifest: Manifest, at: Path, module: str) -> tuple[Subscription, ...]:
        calls.append((manifest, at, module))
        return (Subscription("turn.completed", lambda e, t: None),)

    loaded = await service(store, isolated=load_isolated).load_path(root)
    assert loaded.subscriptions[0].event_type == "turn.completed"
    assert [(m.name, at, module) for m, at, module in calls] == [("iso", root.resolve(), "iso")]

    def broken(manifest: Manifest, at: Path, module: str) -> Any:
        return ["not a subscription"]

    with pytest.raises(ReloadFailed) as caught:
        await service(store, isolated=broken).load_path(root)
    assert caught.value.diagnostics[0]["code"] == "registration_failed"


# ---------------------------------------------------------------- snapshots and reloads


async def test_a_reload_reimports_and_swaps_the_snapshot_whole(
    tmp_path: Path, store: MemoryStore
) -> None:
    root = tmp_path / "roots"
    path = write_extension(root, "a", manifest=named("a"))
    extensions = service(store, roots=(root,))
    first = await extensions.load_initial()
    (path / "extension.py").write_text(
        "def register(r):\n    r.on('turn.completed', print, priority=5)\n"
    )
    second = await extensions.reload(actor="ada", role="admin")
    assert second.version != first.version
    assert second.extensions[0].subscriptions[0].priority == 5
    assert first.extensions[0].subscriptions[0].priority == 100
    write_extension(root, "b", manifest=named("b"), code="raise ImportError('nope')\n")
    with pytest.raises(ReloadFailed):
        await extensions.reload()
    assert extensions.snapshot() is second


async def test_reload_one_reloads_only_that_extension(tmp_path: Path, store: MemoryStore) -> None:
    root = tmp_path / "roots"
    a = write_extension(root, "a", manifest=named("a"))
    write_extension(root, "b", manifest=named("b"))
    extensions = service(store, roots=(root,))
    before = await extensions.load_initial()
    (a / "extension.py").write_text(
        "def register(r):\n    r.on('turn.completed', print, priority=1)\n"
    )
    after = await extensions.reload_one("a")
    assert [e.module_name for e in after.extensions] == ["a", "b"]
    assert after.extensions[0].subscriptions[0].priority == 1
    assert after.extensions[1] is before.extensions[1]
    (a / "extension.py").write_text("oops(\n")
    with pytest.raises(ReloadFailed):
        await extensions.reload_one("a")
    assert extensions.snapshot() is after
    with pytest.raises(NotFound) as caught:
        await extensions.reload_one("zzz")
    assert caught.value.code == "unknown_extension"


async def test_load_path_adds_an_embedded_extension_kept_by_reloads(
    tmp_path: Path, store: MemoryStore
) -> None:
    extensions = service(store)
    await extensions.load_initial()
    path = write_extension(tmp_path, "notebook", manifest=named("nb"))
    loaded = await extensions.load_path(path)
    assert loaded.origin.type is OriginType.EMBEDDED
    assert [e.module_name for e in extensions.snapshot().extensions] == ["nb"]
    again = await extensions.load_path(path)  # the same folder replaces its earlier load
    assert [e.module_name for e in extensions.snapshot().extensions] == ["nb"]
    assert again is not loaded
    reloaded = await extensions.reload()
    assert [e.origin.type for e in reloaded.extensions] == [OriginType.EMBEDDED]
    with pytest.raises(InvalidInput):
        await extensions.load_path(tmp_path / "nothing-here")


async def test_agents_of_a_manifest_are_registered_on_load(
    tmp_path: Path, store: MemoryStore
) -> None:
    agents = AgentRegistry()
    manifest = named(
        "withagents",
        '[[agents]]\nname = "ext-worker"\nmodel = "gpt-x"\n'
        '[[agents]]\nname = "default"\nturn_timeout = 12.0\n',
    )
    path = write_extension(tmp_path, "w", manifest=manifest)
    await service(store, agents=agents).load_path(path)
    assert agents.get("ext-worker").model == "gpt-x"
    assert agents.get("default").turn_timeout == 12.0  # replace=True


async def test_a_second_reload_while_one_runs_is_refused(
    tmp_path: Path, store: MemoryStore
) -> None:
    entered, release = anyio.Event(), anyio.Event()

    async def slow(manifest: Manifest, at: Path, module: str) -> tuple[Subscription, ...]:
        entered.set()
        await release.wait()
        return ()

    write_extension(tmp_path / "roots", "slow", manifest=named("slow", 'isolation = "process"'))
    extensions = service(store, roots=(tmp_path / "roots",), isolated=slow)
    results: list[Any] = []
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:

            async def first() -> None:
                results.append(await extensions.reload())

            group.start_soon(first)
            await entered.wait()
            with pytest.raises(Conflict) as caught:
                await extensions.reload()
            assert caught.value.code == "reload_in_progress"
            with pytest.raises(Conflict):
                await extensions.reload_one("slow")
            release.set()
    assert [e.module_name for e in results[0].extensions] == ["slow"]
    assert (await extensions.reload()).version != results[0].version  # free again


async def test_subscriptions_for_gives_dispatch_order(tmp_path: Path, store: MemoryStore) -> None:
    root = tmp_path / "roots"
    caps = '[capabilities]\nevents = ["*"]\n'
    write_extension(
        root,
        "b",
        manifest=named("b", caps=caps),
        code=(
            "def register(r):\n"
            "    r.on('app_server.*', print, priority=50)\n"
            "    r.on('app_server.item.started', print, priority=50)\n"
        ),
    )
    write_extension(
        root,
        "a",
        manifest=named("a", caps=caps),
        code=(
            "def register(r):\n"
            "    r.on('app_server.item.started', print, priority=50)\n"
            "    r.on('app_server.item.started', print, priority=10)\n"
            "    r.on('turn.completed', print)\n"
        ),
    )
    extensions = service(store, roots=(root,))
    await extensions.load_initial()
    order = [
        (ext.module_name, sub.priority, sub.index)
        for ext, sub in extensions.subscriptions_for("app_server.item.started")
    ]
    assert order == [("a", 10, 1), ("a", 50, 0), ("b", 50, 0), ("b", 50, 1)]
    assert extensions.subscriptions_for("nothing") == []


async def test_the_manager_loads_extensions_when_it_opens(tmp_path: Path) -> None:
    root = tmp_path / "roots"
    write_extension(root, "a", manifest=named("a", '[[agents]]\nname = "from-ext"\n'))
    write_extension(root, "bad", manifest=named("bad"), code="raise KeyError('x')\n")
    config = ManagerConfig(
        import_user_auth=False,
        delta_retention=None,
        extensions_repo_root=None,
        extension_roots=(root,),
        extension_roots_from_env=False,
        extension_entry_points=False,
    )
    with anyio.fail_after(WAIT):
        async with Manager.open(
            store=MemoryStore(), transport=MemoryRuntime({}), config=config, clock=FakeClock()
        ) as manager:
            snapshot = manager.extensions.snapshot()
            assert [e.module_name for e in snapshot.extensions] == ["a"]
            assert [d.code for _, d in snapshot.skipped] == ["import_failed"]
            assert "from-ext" in manager.agents.names()
            [record] = await manager.extensions.audit()
            assert record.result == "success"
            assert record.snapshot_after == snapshot.version
            assert "import_failed" in (record.error_summary or "")


def test_an_empty_capabilities_block_is_not_a_missing_one() -> None:
    assert parse_manifest({"capabilities": {}}, default_name="x").capabilities == Capabilities()
    assert parse_manifest({}, default_name="x").capabilities is None


async def test_an_import_that_hangs_is_refused_and_the_load_goes_on(
    tmp_path: Path, store: MemoryStore
) -> None:
    from tests.unit import extension_gate

    extension_gate.GATE.clear()  # closed (the other backend's run opened it)
    root = tmp_path / "roots"
    hanging = "from tests.unit.extension_gate import GATE\nGATE.wait(30)\n" + SUBSCRIBING
    write_extension(root, "x", manifest=named("hangs"), code=hanging)
    write_extension(root, "y", manifest=named("good"))
    config = ManagerConfig(
        extensions_repo_root=None,
        extension_roots=(root,),
        extension_roots_from_env=False,
        extension_import_timeout=0.2,
    )
    extensions = ExtensionsService(
        config, store, FakeClock(), AgentRegistry(), entry_points=None, isolated=None
    )
    try:
        with anyio.fail_after(10):
            snapshot = await extensions.load_initial()
    finally:
        extension_gate.GATE.set()  # the abandoned import thread ends
    assert [e.module_name for e in snapshot.extensions] == ["good"]
    [(name, diagnostic)] = snapshot.skipped
    assert name == str(root / "x")
    assert diagnostic.code == "import_failed"
    assert "did not finish within 0.2 s" in diagnostic.message

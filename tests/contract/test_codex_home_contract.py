"""The CODEX_HOME port: the same behaviour from `CodexHomeDir` (the real file system and the
real codex binary's schema) and `testing.MemoryCodexHome`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from codex_manager_core.ports.codex_home import CodexHome, SchemaMethods
from codex_manager_core.runtime.codex_home import CodexHomeDir
from codex_manager_core.testing import MemoryCodexHome

pytestmark = pytest.mark.anyio

FILES = (
    "sessions/2026/12/06/rollout-2026-12-06T08-00-00-thr_a.jsonl",
    "archived_sessions/rollout-2026-12-01T08-00-00-thr_a.jsonl",
    "shell_snapshots/thr_a.sh",
    "sessions/2026/12/06/rollout-2026-12-06T09-00-00-thr_b.jsonl",
    "log/codex-tui-thr_a.log",  # not a thread folder: never a thread's file
)


@attrs.define
class Home:
    port: CodexHome
    present: Any  # () -> set of relative paths still there
    relative: Any  # ThreadFile.path -> relative path


@pytest.fixture(params=["dir", "memory"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Home]:
    if request.param == "memory":
        memory = MemoryCodexHome(FILES)
        yield Home(memory, lambda: set(memory.files), lambda path: path)
        return
    root = tmp_path / "codex-home"
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}\n")

    def present() -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    yield Home(CodexHomeDir(root), present, lambda path: str(Path(path).relative_to(root)))


async def test_a_threads_files_are_found_by_its_id_in_the_thread_folders(home: Home) -> None:
    files = await home.port.thread_files("thr_a")
    assert sorted(home.relative(f.path) for f in files) == sorted(FILES[:3])
    history = {home.relative(f.path): f.history for f in files}
    assert history == {FILES[0]: True, FILES[1]: True, FILES[2]: False}
    assert await home.port.thread_files("thr_none") == []


async def test_removing_files_removes_those_and_only_those(home: Home) -> None:
    files = await home.port.thread_files("thr_a")
    assert await home.port.remove_files(files) == 3
    assert home.present() == {FILES[3], FILES[4]}
    assert await home.port.thread_files("thr_a") == []
    assert await home.port.remove_files(files) == 3  # already gone: fine


async def test_a_missing_codex_home_has_no_files(tmp_path: Path) -> None:
    for port in (CodexHomeDir(tmp_path / "nowhere"), CodexHomeDir(None), MemoryCodexHome()):
        assert await port.thread_files("thr_a") == []


async def test_the_schema_names_methods_or_says_why_not(tmp_path: Path) -> None:
    memory = MemoryCodexHome(stable={"thread/start"}, experimental={"thread/fork"})
    assert await memory.schema_methods("0.1") == SchemaMethods(
        frozenset({"thread/start"}), frozenset({"thread/start", "thread/fork"})
    )
    missing = CodexHomeDir(tmp_path, codex_bin=str(tmp_path / "no-codex"), cache_dir=tmp_path)
    refused = await missing.schema_methods("0.1")
    assert (refused.stable, refused.problem is not None) == (frozenset(), True)
    assert "no-codex" in str(refused.problem)


@pytest.mark.real_runtime
async def test_the_real_binarys_schema_is_read_once_per_version(tmp_path: Path) -> None:
    home = CodexHomeDir(tmp_path / "home", cache_dir=tmp_path, env={"PATH": ""})
    schema = await home.schema_methods("test-version")
    assert schema.problem is None, schema.problem
    assert {"thread/start", "turn/start"} <= schema.stable <= schema.experimental
    assert (tmp_path / "capabilities-test-version.json").is_file()
    # Cached: a second read does not run the binary (a bad binary path would fail it).
    cached = CodexHomeDir(tmp_path / "home", codex_bin="/nonexistent", cache_dir=tmp_path)
    assert (await cached.schema_methods("test-version")) == schema


async def test_a_login_is_an_auth_file_in_codex_home(tmp_path: Path) -> None:
    root = tmp_path / "codex-home"
    directory = CodexHomeDir(root)
    memory = MemoryCodexHome()
    assert (await directory.has_auth(), await memory.has_auth()) == (False, False)
    root.mkdir()
    (root / "auth.json").write_text("{}")
    memory.auth = True
    assert (await directory.has_auth(), await memory.has_auth()) == (True, True)
    assert await CodexHomeDir(None).has_auth() is False

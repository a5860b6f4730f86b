"""The benchmarks' Manager over the real codex, offline (imported by the bench scripts,
which run with `bench/` first on sys.path)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.testing import ScriptedModel, offline_env, write_offline_config


@contextlib.asynccontextmanager
async def open_manager(root: Path, model: ScriptedModel) -> AsyncIterator[Manager]:
    """A Manager on `root / "data"` over its own offline codex talking to `model` (its
    CODEX_HOME, HOME and working directory under `root`), once its runtime is ready."""
    codex_home, home, workdir = root / "codex-home", root / "home", root / "work"
    home.mkdir(parents=True)
    workdir.mkdir()
    write_offline_config(codex_home, base_url=model.base_url)
    env = offline_env(codex_home)
    env["HOME"] = str(home)
    config = ManagerConfig(
        codex_home=codex_home,
        runtime_env=env,
        import_user_auth=False,
        strict_config=True,
        default_cwd=workdir,
        call_timeout=30.0,
    )
    async with Manager.open(root / "data", config=config) as manager:
        await manager.runtime.wait_ready(30)
        yield manager

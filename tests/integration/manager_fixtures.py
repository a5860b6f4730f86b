"""A Manager on the real codex binary, driven by a ScriptedModel, isolated in tmp dirs.

    async with running_manager(tmp_path, script) as env:
        session = await env.manager.sessions.create()
        ...
        env.model.requests   # what codex sent to the model

Each use gets its own data dir, CODEX_HOME and HOME; nothing reads ~/.codex.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs

from codex_manager_core import Event, Lagged, Manager, ManagerConfig, Subscription
from codex_manager_core.ports import Store
from codex_manager_core.runtime.supervisor import RestartPolicy
from codex_manager_core.testing import ScriptedModel, offline_env, write_offline_config
from codex_manager_core.testing.scripted_model import ScriptFunction, Step
from codex_manager_core.tools import ToolRegistry

READY_TIMEOUT = 30.0


@attrs.define
class ManagerEnv:
    manager: Manager
    model: ScriptedModel
    root: Path
    data_dir: Path
    codex_home: Path
    workdir: Path
    config: ManagerConfig

    def stderr_tail(self) -> str:
        log = self.data_dir / "logs" / "app-server.stderr.log"
        if not log.exists():
            return "(no stderr log)"
        return log.read_text(errors="replace")[-2000:]


def manager_config(root: Path, model: ScriptedModel | str, **overrides: Any) -> ManagerConfig:
    """The config of a test Manager under `root`; `model` is the ScriptedModel, or its base
    URL (a child process that runs a Manager against the test's model)."""
    codex_home = root / "codex-home"
    if not (codex_home / "config.toml").exists():
        base_url = model if isinstance(model, str) else model.base_url
        write_offline_config(codex_home, base_url=base_url)
    env = offline_env(codex_home)
    env["HOME"] = str(root / "home")
    (root / "home").mkdir(exist_ok=True)
    workdir = root / "work"
    workdir.mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "codex_home": codex_home,
        "runtime_env": env,
        "import_user_auth": False,
        "strict_config": True,
        "default_cwd": workdir,
        "call_timeout": 30.0,
        "restart": RestartPolicy(initial_backoff=0.05, max_backoff=0.5),
    }
    values.update(overrides)
    return ManagerConfig(**values)


@asynccontextmanager
async def open_manager(
    root: Path,
    model: ScriptedModel,
    *,
    store: Store | None = None,
    tools: ToolRegistry | None = None,
    **config: Any,
) -> AsyncIterator[ManagerEnv]:
    """A Manager over an existing ScriptedModel (reopen it on the same root to test
    persistence)."""
    cfg = manager_config(root, model, **config)
    data_dir = root / "data"
    async with Manager.open(data_dir, store=store, config=cfg, tools=tools) as manager:
        env = ManagerEnv(manager, model, root, data_dir, cfg.codex_home or root, root / "work", cfg)
        try:
            await manager.runtime.wait_ready(READY_TIMEOUT)
        except Exception as exc:
            raise AssertionError(f"runtime did not get ready: {exc}\n{env.stderr_tail()}") from exc
        yield env


@asynccontextmanager
async def running_manager(
    root: Path,
    script: Iterable[Step] | ScriptFunction = (),
    **kwargs: Any,
) -> AsyncIterator[ManagerEnv]:
    """ScriptedModel + Manager, both stopped at the end."""
    async with ScriptedModel(script) as model, open_manager(root, model, **kwargs) as env:
        yield env


async def next_event(
    subscription: Subscription,
    predicate: Callable[[Event], Any],
    *,
    timeout: float = 20.0,
    message: str = "an event",
) -> Event:
    """The next event of `subscription` that satisfies `predicate`, within `timeout` seconds
    (an AssertionError naming what was seen otherwise). Event-driven: no polling."""
    seen: list[str] = []
    try:
        with anyio.fail_after(timeout):
            while True:
                item = await subscription.next()
                if isinstance(item, Lagged):
                    raise AssertionError(
                        f"subscription lagged at seq {item.seq} waiting for {message}"
                    )
                seen.append(item.type)
                if predicate(item):
                    return item
    except TimeoutError:
        raise AssertionError(
            f"no {message} within {timeout:g} s; saw {len(seen)} events: {seen[-30:]}"
        ) from None

"""Writing test extensions as folders under tmp_path, and a service over a store."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from codex_manager_core.config import ManagerConfig
from codex_manager_core.extensions.model import TrustMode
from codex_manager_core.ports import Store
from codex_manager_core.queue.agents import AgentRegistry
from codex_manager_core.services.extensions import ExtensionsService
from codex_manager_core.testing import FakeClock

SUBSCRIBING = """
def register(registry):
    registry.on("turn.completed", handle)

async def handle(event, tools):
    return None
"""

CAPS = '[capabilities]\nevents = ["turn.completed"]\nactions = ["approval.decide"]\n'


def write_extension(
    parent: Path,
    folder: str,
    *,
    manifest: str | None = None,
    code: str | None = SUBSCRIBING,
    entry: str = "extension.py",
) -> Path:
    root = parent / folder
    root.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        (root / "extension.toml").write_text(textwrap.dedent(manifest), encoding="utf-8")
    if code is not None:
        (root / entry).write_text(textwrap.dedent(code), encoding="utf-8")
    return root


def named(name: str, extra: str = "", caps: str = CAPS) -> str:
    return f'name = "{name}"\nversion = "1.2.3"\n{extra}\n{caps}'


def service(
    store: Store,
    *,
    repo: Path | None = None,
    roots: tuple[Path, ...] = (),
    trust: TrustMode = TrustMode.ENFORCED,
    agents: AgentRegistry | None = None,
    **kwargs: Any,
) -> ExtensionsService:
    config = ManagerConfig(
        extensions_repo_root=repo,
        extension_roots=roots,
        extension_roots_from_env=False,
        extension_trust=trust,
        extension_audit_keep=kwargs.pop("keep", 1000),
    )
    kwargs.setdefault("entry_points", None)
    kwargs.setdefault("isolated", None)
    return ExtensionsService(config, store, FakeClock(), agents or AgentRegistry(), **kwargs)

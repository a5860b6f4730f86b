"""Helpers of the extension dispatch tests: LoadedExtension records built by hand over an
`ExtensionRegistry`, a provider of their subscriptions (exact types and `prefix*`, in
dispatch order), and a Manager over MemoryRuntime (optionally on a FakeClock) with one job
type ("note", single-flight by its text, never finishing: enqueued jobs stay put)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs

from codex_manager_core import Manager, ManagerConfig
from codex_manager_core.extensions import ExtensionRegistry, Subscription
from codex_manager_core.extensions.model import (
    LoadedExtension,
    Manifest,
    Origin,
    OriginType,
    TrustMode,
    TrustReport,
)
from codex_manager_core.ports import Clock
from codex_manager_core.queue.policies import DedupeMode, DedupePolicy
from codex_manager_core.services.job_runner import JobContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import MemoryRuntime
from tests.unit.actions_fixtures import make_runtime

WAIT = 10.0


@attrs.frozen
class Note:
    text: str


def loaded(registry: ExtensionRegistry) -> LoadedExtension:
    module = registry.module
    return LoadedExtension(
        module_name=module,
        manifest=Manifest(module, "1.0.0", module, module),
        origin=Origin(OriginType.EMBEDDED, f"/test/{module}"),
        manifest_path=None,
        entrypoint_path=None,
        subscriptions=tuple(registry.subscriptions),
        trust=TrustReport(TrustMode.DISABLED, "accepted"),
    )


class Providers:
    """`subscriptions_for` and `action_allowed` over hand-built extensions."""

    def __init__(self, *registries: ExtensionRegistry) -> None:
        self.extensions = [loaded(registry) for registry in registries]
        self.refused: dict[tuple[str, str], str] = {}

    def subscriptions_for(self, event_type: str) -> Sequence[tuple[LoadedExtension, Subscription]]:
        found = []
        for extension in self.extensions:
            for sub in extension.subscriptions:
                pattern = sub.event_type
                if pattern == event_type or (
                    pattern.endswith("*") and event_type.startswith(pattern[:-1])
                ):
                    found.append((extension, sub))
        return sorted(
            found, key=lambda pair: (pair[1].priority, pair[0].module_name, pair[1].index)
        )

    def action_allowed(
        self, extension: LoadedExtension, action_type: str
    ) -> tuple[bool, str | None]:
        reason = self.refused.get((extension.module_name, action_type))
        return (reason is None, reason)

    def install(self, manager: Manager) -> None:
        manager.extension_dispatcher.set_providers(self.subscriptions_for, self.action_allowed)


@asynccontextmanager
async def open_manager(
    tmp_path: Path,
    runtime: MemoryRuntime | None = None,
    *,
    clock: Clock | None = None,
    **config: Any,
) -> AsyncIterator[Manager]:
    config.setdefault("queue_shutdown_drain", 0.0)
    settings = ManagerConfig(
        default_cwd=tmp_path, import_user_auth=False, delta_retention=None, **config
    )
    with anyio.fail_after(WAIT):
        async with Manager.open(
            None,
            store=MemoryStore(),
            transport=runtime or make_runtime(),
            config=settings,
            clock=clock,
        ) as manager:
            await manager.runtime.wait_ready(WAIT)

            @manager.jobs.job_type(
                "note",
                payload=Note,
                result=Note,
                dedupe=DedupePolicy(DedupeMode.SINGLE_FLIGHT, key=lambda note: note.text),
            )
            async def note(ctx: JobContext, payload: Note) -> Note:
                await anyio.Event().wait()
                raise AssertionError("unreachable")

            yield manager

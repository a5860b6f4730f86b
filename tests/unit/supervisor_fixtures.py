"""The supervisor extension (the repository's `extensions/supervisor/`) as every Manager of
this checkout loads it by default (`install_supervisor` checks that it did), and its module
imported on its own for the unit tests of its pure parts (`load_module`).
`stub_agent_instruction` replaces the built-in job type by one that never finishes, so a
test reads the enqueued jobs' payloads without a worker running them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

from codex_manager_core import Manager
from codex_manager_core.extensions.model import LoadedExtension
from codex_manager_core.queue.agent_instruction import (
    AGENT_INSTRUCTION,
    AgentInstruction,
    AgentInstructionResult,
    dedupe_key,
)
from codex_manager_core.queue.definitions import JobType
from codex_manager_core.queue.model import Job
from codex_manager_core.queue.policies import DedupeMode, DedupePolicy
from codex_manager_core.services.job_context import JobContext

EXTENSION = Path(__file__).resolve().parents[2] / "extensions" / "supervisor" / "extension.py"


def load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("codex_manager_ext_supervisor", EXTENSION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install_supervisor(manager: Manager) -> LoadedExtension:
    """The supervisor as the Manager loaded it at open (the repository's `extensions/`)."""
    snapshot = manager.extensions.snapshot()
    loaded = {extension.module_name: extension for extension in snapshot.extensions}
    supervisor = loaded.get("@codex-manager/supervisor")
    assert supervisor is not None, (
        f"the supervisor is not loaded by default: loaded {sorted(loaded)}, "
        f"skipped {snapshot.skipped}"
    )
    return supervisor


def stub_agent_instruction(manager: Manager) -> None:
    async def never(ctx: JobContext, payload: AgentInstruction) -> AgentInstructionResult:
        await anyio.Event().wait()
        raise AssertionError("unreachable")

    manager.jobs.register(
        JobType(
            type=AGENT_INSTRUCTION,
            payload=AgentInstruction,
            result=AgentInstructionResult,
            dedupe=DedupePolicy(mode=DedupeMode.SINGLE_FLIGHT, key=dedupe_key),
            run=never,
        ),
        replace=True,
    )


async def instruction_jobs(manager: Manager) -> list[Job]:
    page = await manager.jobs.list(types=[AGENT_INSTRUCTION], limit=100)
    return list(reversed(page.items))  # oldest first


def payload_of(job: Job) -> dict[str, Any]:
    assert isinstance(job.payload, dict)
    return job.payload

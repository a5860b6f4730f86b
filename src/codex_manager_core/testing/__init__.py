"""Test doubles for people testing their automations, and for our own tests.

- `ScriptedModel`: a local Responses-API server whose answers follow a script of steps
  (`Reply`, `CallTool`, `Fail`, ...), so the real `codex app-server` runs fully offline.
- `write_offline_config` / `offline_env`: the CODEX_HOME config.toml and the environment
  that point codex at such a model and nowhere else.
- `MemoryRuntime`: an in-process runtime (a handler answers requests; the test pushes
  notifications and server requests), for tests that need canned runtime answers.
- `MemoryCodexHome`: CODEX_HOME's files and the binary's schema in memory.
- `FakeClock`: manual time for retry backoffs and other waits (`Manager.open(clock=...)`).
- `QuotaVFS`, `FaultyStore`, `store_full`: storage faults (a full, read-only or failing
  disk) without root; see `testing.faults`.

A lazy facade like the package's own (PEP 562): `from codex_manager_core.testing import
FakeClock` imports the clock alone, not the model server, the fake app-server and the
storage faults (which load apsw).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codex_manager_core.testing.clock import FakeClock
    from codex_manager_core.testing.fake_app_server import FakeAppServer
    from codex_manager_core.testing.faults import FaultyStore, QuotaVFS, store_full
    from codex_manager_core.testing.memory_codex_home import MemoryCodexHome
    from codex_manager_core.testing.memory_runtime import (
        MemoryCall,
        MemoryRuntime,
        MemoryRuntimeError,
    )
    from codex_manager_core.testing.offline_config import offline_env, write_offline_config
    from codex_manager_core.testing.scripted_model import (
        CallTool,
        CutStream,
        Delay,
        Fail,
        FailResponse,
        RecordedRequest,
        Reply,
        ScriptedModel,
        ScriptFunction,
        Stall,
        Step,
        exec_command,
    )

# Every public name -> the module it is defined in (moving a name is one line here).
_EXPORTS: dict[str, str] = {
    "CallTool": "codex_manager_core.testing.scripted_model",
    "CutStream": "codex_manager_core.testing.scripted_model",
    "Delay": "codex_manager_core.testing.scripted_model",
    "Fail": "codex_manager_core.testing.scripted_model",
    "FailResponse": "codex_manager_core.testing.scripted_model",
    "FakeAppServer": "codex_manager_core.testing.fake_app_server",
    "FakeClock": "codex_manager_core.testing.clock",
    "MemoryCodexHome": "codex_manager_core.testing.memory_codex_home",
    "MemoryCall": "codex_manager_core.testing.memory_runtime",
    "MemoryRuntime": "codex_manager_core.testing.memory_runtime",
    "MemoryRuntimeError": "codex_manager_core.testing.memory_runtime",
    "FaultyStore": "codex_manager_core.testing.faults",
    "QuotaVFS": "codex_manager_core.testing.faults",
    "RecordedRequest": "codex_manager_core.testing.scripted_model",
    "Reply": "codex_manager_core.testing.scripted_model",
    "ScriptFunction": "codex_manager_core.testing.scripted_model",
    "ScriptedModel": "codex_manager_core.testing.scripted_model",
    "Stall": "codex_manager_core.testing.scripted_model",
    "Step": "codex_manager_core.testing.scripted_model",
    "exec_command": "codex_manager_core.testing.scripted_model",
    "offline_env": "codex_manager_core.testing.offline_config",
    "store_full": "codex_manager_core.testing.faults",
    "write_offline_config": "codex_manager_core.testing.offline_config",
}

__all__ = [
    "CallTool",
    "CutStream",
    "Delay",
    "Fail",
    "FailResponse",
    "FakeAppServer",
    "FakeClock",
    "FaultyStore",
    "MemoryCall",
    "MemoryCodexHome",
    "MemoryRuntime",
    "MemoryRuntimeError",
    "QuotaVFS",
    "RecordedRequest",
    "Reply",
    "ScriptFunction",
    "ScriptedModel",
    "Stall",
    "Step",
    "exec_command",
    "offline_env",
    "store_full",
    "write_offline_config",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

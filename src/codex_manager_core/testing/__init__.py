"""Test doubles for people testing their automations, and for our own tests.

- `ScriptedModel`: a local Responses-API server whose answers follow a script of steps
  (`Reply`, `CallTool`, `Fail`, ...), so the real `codex app-server` runs fully offline.
- `write_offline_config` / `offline_env`: the CODEX_HOME config.toml and the environment
  that point codex at such a model and nowhere else.
- `MemoryRuntime`: an in-process runtime (a handler answers requests; the test pushes
  notifications and server requests), for tests that need canned runtime answers.
- `FakeClock`: manual time for retry backoffs and other waits (`Manager.open(clock=...)`).
- `QuotaVFS`, `FaultyStore`, `store_full`: storage faults (a full, read-only or failing
  disk) without root; see `testing.faults`.
"""

from codex_manager_core.testing.clock import FakeClock
from codex_manager_core.testing.fake_app_server import FakeAppServer
from codex_manager_core.testing.faults import FaultyStore, QuotaVFS, store_full
from codex_manager_core.testing.memory_runtime import MemoryCall, MemoryRuntime, MemoryRuntimeError
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

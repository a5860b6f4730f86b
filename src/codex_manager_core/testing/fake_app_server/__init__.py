"""A fake `codex app-server` for FAULT-INJECTION tests (never a stand-in for the real runtime).

It speaks the same stdio protocol as the real app-server (one JSON object per line, no
`"jsonrpc"` field, notifications carrying `emittedAtMs`; see shared/runtime-notes.md) and can
be told to misbehave in ways the real one only does rarely: crash on a method or on the N-th
request (a few times only, across restarts), die of a signal, hang, answer slowly, report
overload, print garbage or huge lines, leave children behind, ignore SIGTERM or stdin EOF,
flood stderr.

Tests describe the fake with `FakeAppServer` and run `FakeAppServer.command()`:

    fake = FakeAppServer(crash_on="slow/thing", crash_times=1, state_dir=tmp_path)
    argv = fake.command()   # [sys.executable, ..., "-m", <this module>, "--config", <json>]

Methods (after `initialize`): `echo` (result = params), `thread/start`, `turn/start` (answers
at once, then streams turn/started, item/started, item/agentMessage/delta x `deltas`,
item/completed, turn/completed; the agent echoes the input text), `fake/notify {count,
size}` (`count` notifications `fake/tick {n, pad}`, then `{sent}`), `fake/serverRequest
{method, params}` (sends a server request with ids 0, 1, 2...; the client's reply is
reported as the notification `fake/serverRequestAnswered {requestId, result|error}`) and
`fake/exit {code}`.

Differences from the real app-server 0.163.0, on purpose:
- a line that is not JSON gets a -32700 error with id null, and JSON that is not a message a
  -32600 error (the real server only logs both to stderr and answers nothing);
- the unknown-variant message lists the fake's own methods.

The fake never kills or reaps the children it spawns: cleaning them up is the client's job.
It uses only the standard library and attrs, because it runs as a separate process.

The modules, all private (this package's names are the API): `_config` (`FakeAppServer`, the
options and their validation), `_wire` (line encoding, JSON-RPC errors), `_output` (stdout,
stderr, exiting), `_faults` (the fault switches and their shared state file), `_methods`
(the method table and thread state) and `_server` (the stdin loop and dispatch);
`__main__` runs one.
"""

from codex_manager_core.testing.fake_app_server._config import (
    DEFAULT_USER_AGENT,
    MODULE,
    FakeAppServer,
    FakeConfigError,
)
from codex_manager_core.testing.fake_app_server._faults import GARBAGE_LINES, STATE_FILE_NAME
from codex_manager_core.testing.fake_app_server._server import main
from codex_manager_core.testing.fake_app_server._wire import (
    INVALID_REQUEST,
    OVERLOADED_MESSAGE,
    PARSE_ERROR,
    SERVER_OVERLOADED,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "GARBAGE_LINES",
    "INVALID_REQUEST",
    "MODULE",
    "OVERLOADED_MESSAGE",
    "PARSE_ERROR",
    "SERVER_OVERLOADED",
    "STATE_FILE_NAME",
    "FakeAppServer",
    "FakeConfigError",
    "main",
]

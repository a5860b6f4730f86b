"""Bad input to the embedded Manager (acceptance 7), on the REAL codex binary.

Unknown ids, malformed ids, invalid controls, oversized and empty text, wrong types, bad
dynamic tool specs, bad cursors and limits: each call raises the right typed error with a
message that says what was wrong, and writes NOTHING (the store's figures, the whole event
ledger, the session, the defaults, the projects and the runtime's loaded threads are
compared before and after every call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from codex_manager_core import (
    Conflict,
    Gone,
    InvalidInput,
    Manager,
    ManagerError,
    NotFound,
)
from codex_manager_core.ports.store import Batch, SessionQuery
from codex_manager_core.testing import Reply
from tests.integration.manager_fixtures import next_event, running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

MAX_INPUT_BYTES = 1000
UNKNOWN = "01a21088-0000-7000-8000-000000000000"


@attrs.frozen
class Case:
    name: str
    call: Callable[[], Awaitable[Any]]
    error: type[ManagerError]
    says: str
    """A fragment the message must contain (what was wrong)."""
    path: str | None = None
    """For InvalidInput: the first element of one issue's path."""
    code: str | None = None


async def settle(manager: Manager) -> None:
    """Let everything the runtime already said reach the ledger: notifications sent before
    an answer are handed to the ledger before the caller wakes, and the ledger writes in
    order, so an empty write after a round trip returns once they are stored."""
    await manager.runtime.call("thread/loaded/list", {})
    await manager.ledger.write(Batch())


async def snapshot(manager: Manager, session_id: str) -> dict[str, Any]:
    stats = await manager.store.stats()
    events = await manager.events.read(limit=1000)
    assert len(events) < 1000, "the test expects a short ledger"
    loaded = await manager.runtime.call("thread/loaded/list", {})
    return {
        "stats": attrs.evolve(stats, size_bytes=None),
        "events": [(e.seq, e.type, e.thread_id, e.payload) for e in events],
        "session": await manager.store.get_session(session_id),
        "sessions": await manager.store.list_sessions(
            SessionQuery(archived=None, include_system_owned=True, limit=200)
        ),
        "defaults": await manager.store.get_default_controls(),
        "projects": await manager.store.list_projects(),
        "entries": await manager.store.list_transcript_entries(session_id),
        "loaded threads": sorted(loaded["data"]),
    }


def cases(manager: Manager, sid: str, project_id: str, turn_id: str) -> list[Case]:
    m = manager
    big = "x" * (MAX_INPUT_BYTES + 1)
    wide = "é" * (MAX_INPUT_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    return [
        # --- unknown ids: NotFound (or Gone for deleted sessions, tested below)
        Case("get unknown session", lambda: m.sessions.get(UNKNOWN), NotFound, UNKNOWN),
        Case("send to unknown", lambda: m.turns.send(UNKNOWN, "hi"), NotFound, UNKNOWN),
        Case("rename unknown", lambda: m.sessions.rename(UNKNOWN, "t"), NotFound, UNKNOWN),
        Case("archive unknown", lambda: m.sessions.archive(UNKNOWN), NotFound, UNKNOWN),
        Case("delete unknown", lambda: m.sessions.delete(UNKNOWN), NotFound, UNKNOWN),
        Case("fork unknown", lambda: m.sessions.fork(UNKNOWN), NotFound, UNKNOWN),
        Case(
            "controls of unknown",
            lambda: m.controls.apply(UNKNOWN, approval_policy="never"),
            NotFound,
            UNKNOWN,
        ),
        Case("setting of unknown", lambda: m.settings.set(UNKNOWN, "k", 1), NotFound, UNKNOWN),
        Case("transcript of unknown", lambda: m.transcript.get(UNKNOWN), NotFound, UNKNOWN),
        Case("unknown project", lambda: m.projects.get("no-such-project"), NotFound, "no-such"),
        Case(
            "session in unknown project",
            lambda: m.sessions.create(project_id="no-such-project"),
            NotFound,
            "no-such-project",
            code="project_not_found",
        ),
        Case(
            "assign to unknown project",
            lambda: m.projects.assign_session(sid, "no-such-project"),
            NotFound,
            "no-such-project",
        ),
        Case("unknown turn", lambda: m.turns.get("no-such-turn"), NotFound, "no-such-turn"),
        Case("unknown approval", lambda: m.approvals.decide("9-99", "accept"), NotFound, "9-99"),
        # --- malformed ids: InvalidInput
        Case(
            "path as id",
            lambda: m.sessions.get("../etc/passwd"),
            InvalidInput,
            "session_id",
            "session_id",
        ),
        Case("int as id", lambda: m.sessions.get(5), InvalidInput, "got 5", "session_id"),
        Case(
            "None as id", lambda: m.turns.send(None, "hi"), InvalidInput, "session_id", "session_id"
        ),
        Case(
            "spaces in project id",
            lambda: m.projects.get("a b"),
            InvalidInput,
            "project_id",
            "project_id",
        ),
        Case(
            "malformed project filter",
            lambda: m.sessions.list(project_id="a b"),
            InvalidInput,
            "project_id",
            "project_id",
        ),
        Case(
            "malformed project to assign",
            lambda: m.projects.assign_session(sid, "a/b"),
            InvalidInput,
            "project_id",
            "project_id",
        ),
        Case("int turn id", lambda: m.turns.get(5), InvalidInput, "turn_id", "turn_id"),
        Case(
            "int turn to interrupt",
            lambda: m.turns.interrupt(sid, 5),
            InvalidInput,
            "turn_id",
            "turn_id",
        ),
        Case(
            "malformed turn to steer",
            lambda: m.turns.steer(sid, "a b", "more"),
            InvalidInput,
            "turn_id",
            "turn_id",
        ),
        Case(
            "malformed turn to wait for",
            lambda: m.turns.wait(sid, "a b", timeout=1),
            InvalidInput,
            "turn_id",
            "turn_id",
        ),
        Case(
            "malformed approval id",
            lambda: m.approvals.decide("a b", "accept"),
            InvalidInput,
            "request_id",
            "request_id",
        ),
        Case(
            "malformed thread filter",
            lambda: m.events.read(thread_ids=["a b"]),
            InvalidInput,
            "thread_id",
            "thread_id",
        ),
        # --- controls
        Case(
            "unknown approval policy",
            lambda: m.controls.apply(sid, approval_policy="sometimes"),
            InvalidInput,
            "'sometimes'",
            "approval_policy",
        ),
        Case(
            "int model",
            lambda: m.controls.apply(sid, model=5),
            InvalidInput,
            "model",
            "model",
        ),
        Case(
            "blank model",
            lambda: m.controls.apply(sid, model="  "),
            InvalidInput,
            "model",
            "model",
        ),
        Case(
            "unknown sandbox",
            lambda: m.controls.apply(sid, filesystem_sandbox="none"),
            InvalidInput,
            "filesystem_sandbox",
            "filesystem_sandbox",
        ),
        Case(
            "unknown network access",
            lambda: m.controls.apply(sid, network_access="open"),
            InvalidInput,
            "network_access",
            "network_access",
        ),
        Case(
            "unknown scope",
            lambda: m.controls.apply(sid, scope="global", approval_policy="never"),
            InvalidInput,
            "scope",
            "scope",
        ),
        Case(
            "settings not an object",
            lambda: m.controls.apply(sid, settings=[1, 2]),
            InvalidInput,
            "settings",
            "settings",
        ),
        Case(
            "legacy setter, bad policy",
            lambda: m.controls.set_approval_policy(sid, "always"),
            InvalidInput,
            "approval_policy",
            "approval_policy",
        ),
        Case(
            "bad controls on create",
            lambda: m.sessions.create(approval_policy="maybe"),
            InvalidInput,
            "approval_policy",
            "approval_policy",
        ),
        Case(
            "bad per-turn override",
            lambda: m.turns.send(sid, "hi", filesystem_sandbox="all"),
            InvalidInput,
            "filesystem_sandbox",
            "filesystem_sandbox",
        ),
        # --- settings
        Case(
            "int setting key",
            lambda: m.settings.set(sid, 5, "v"),
            InvalidInput,
            "key",
            "key",
        ),
        Case(
            "value not JSON",
            lambda: m.settings.set(sid, "k", object()),
            InvalidInput,
            "JSON",
            "settings",
        ),
        Case(
            "NaN value",
            lambda: m.settings.set(sid, "k", float("nan")),
            InvalidInput,
            "JSON",
            "settings",
        ),
        Case(
            "settings update with a list",
            lambda: m.settings.update(sid, [("a", 1)]),
            InvalidInput,
            "object",
            "settings",
        ),
        Case(
            "unknown update mode",
            lambda: m.settings.update(sid, {"a": 1}, mode="append"),
            InvalidInput,
            "mode",
            "mode",
        ),
        Case(
            "empty key to delete",
            lambda: m.settings.unset(sid, ""),
            InvalidInput,
            "key",
            "key",
        ),
        # --- message input
        Case("empty text", lambda: m.turns.send(sid, ""), InvalidInput, "empty", "text"),
        Case("blank text", lambda: m.turns.send(sid, " \n\t"), InvalidInput, "empty", "text"),
        Case("no items", lambda: m.turns.send(sid, []), InvalidInput, "empty", "input"),
        Case(
            "oversized text",
            lambda: m.turns.send(sid, big),
            InvalidInput,
            f"limit is {MAX_INPUT_BYTES}",
            "text",
        ),
        Case(
            "oversized in bytes",
            lambda: m.turns.send(sid, wide),
            InvalidInput,
            f"{MAX_INPUT_BYTES + 2} bytes",
            "text",
        ),
        Case(
            "oversized across items",
            lambda: m.turns.send(
                sid, [{"type": "text", "text": big[:600]}, {"type": "text", "text": big[:600]}]
            ),
            InvalidInput,
            "1200 bytes",
            "text",
        ),
        Case("int input", lambda: m.turns.send(sid, 42), InvalidInput, "string or a list", "input"),
        Case(
            "bytes input",
            lambda: m.turns.send(sid, b"hi"),
            InvalidInput,
            "string or a list",
            "input",
        ),
        Case(
            "one item, not in a list",
            lambda: m.turns.send(sid, {"type": "text", "text": "hi"}),
            InvalidInput,
            "string or a list",
            "input",
        ),
        Case(
            "non-object items",
            lambda: m.turns.send(sid, ["hi"]),
            InvalidInput,
            "input[0]",
            "input",
        ),
        Case(
            "unknown item type",
            lambda: m.turns.send(sid, [{"type": "video", "url": "x"}]),
            InvalidInput,
            "type must be one of",
            "input",
        ),
        Case(
            "int text in item",
            lambda: m.turns.send(sid, [{"type": "text", "text": 5}]),
            InvalidInput,
            "text must be a string",
            "input",
        ),
        Case(
            "image without url",
            lambda: m.turns.send(sid, [{"type": "image"}]),
            InvalidInput,
            "url",
            "input",
        ),
        Case(
            "int effort",
            lambda: m.turns.send(sid, "hi", effort=3),
            InvalidInput,
            "effort",
            "effort",
        ),
        Case(
            "output schema not an object",
            lambda: m.turns.send(sid, "hi", output_schema=[1]),
            InvalidInput,
            "output_schema",
            "output_schema",
        ),
        Case(
            "collaboration mode not an object",
            lambda: m.turns.send(sid, "hi", collaboration_mode="plan"),
            InvalidInput,
            "collaboration_mode",
            "collaboration_mode",
        ),
        Case("empty steer", lambda: m.turns.steer(sid, turn_id, ""), InvalidInput, "empty", "text"),
        # --- sessions: titles, flags, cwd, dynamic tools
        Case("int title", lambda: m.sessions.create(title=5), InvalidInput, "title", "title"),
        Case("blank title", lambda: m.sessions.rename(sid, "   "), InvalidInput, "title", "title"),
        Case(
            "long title",
            lambda: m.sessions.rename(sid, "t" * 201),
            InvalidInput,
            "limit is 200",
            "title",
        ),
        Case(
            "int fork title", lambda: m.sessions.fork(sid, title=7), InvalidInput, "title", "title"
        ),
        Case(
            "string as system flag",
            lambda: m.sessions.create(system_owned="yes"),
            InvalidInput,
            "system_owned",
            "system_owned",
        ),
        Case("int cwd", lambda: m.sessions.create(cwd=5), InvalidInput, "cwd", "cwd"),
        Case(
            "relative cwd",
            lambda: m.sessions.create(cwd="some/relative/dir"),
            InvalidInput,
            "absolute path",
            "cwd",
        ),
        Case(
            "missing cwd",
            lambda: m.sessions.create(cwd="/no/such/directory"),
            InvalidInput,
            "existing directory",
            "cwd",
        ),
        Case(
            "dynamic tools not a list",
            lambda: m.sessions.create(dynamic_tools={"name": "x"}),
            InvalidInput,
            "must be a list",
            "dynamic_tools",
        ),
        Case(
            "dynamic tool without a name",
            lambda: m.sessions.create(dynamic_tools=[{"description": "x"}]),
            InvalidInput,
            "dynamic_tools[0]: name",
            "dynamic_tools",
        ),
        Case(
            "dynamic tool with a bad schema",
            lambda: m.sessions.create(
                dynamic_tools=[{"name": "a"}, {"name": "b", "inputSchema": "object"}]
            ),
            InvalidInput,
            "dynamic_tools[1]: inputSchema",
            "dynamic_tools",
        ),
        Case(
            "duplicate dynamic tools",
            lambda: m.sessions.create(dynamic_tools=[{"name": "a"}, {"name": "a"}]),
            InvalidInput,
            "duplicate name 'a'",
            "dynamic_tools",
        ),
        Case(
            "dynamic tool not an object",
            lambda: m.sessions.create(dynamic_tools=["lookup"]),
            InvalidInput,
            "must be an object",
            "dynamic_tools",
        ),
        Case(
            "unregistered tool",
            lambda: m.sessions.create(tools=["no_such_tool"]),
            InvalidInput,
            "no_such_tool",
            "tools",
        ),
        Case(
            "rollback 0",
            lambda: m.sessions.rollback(sid, 0),
            InvalidInput,
            "num_turns",
            "num_turns",
        ),
        Case(
            "rollback '1'",
            lambda: m.sessions.rollback(sid, "1"),
            InvalidInput,
            "num_turns",
            "num_turns",
        ),
        # --- projects
        Case("int project name", lambda: m.projects.create(5), InvalidInput, "name", "name"),
        Case("blank project name", lambda: m.projects.create("  "), InvalidInput, "name", "name"),
        Case(
            "long project name",
            lambda: m.projects.create("p" * 121),
            InvalidInput,
            "limit is 120",
            "name",
        ),
        Case(
            "int working directory",
            lambda: m.projects.create("ok", 5),
            InvalidInput,
            "working_directory",
            "working_directory",
        ),
        Case(
            "duplicate project name",
            lambda: m.projects.create("EXISTING"),
            Conflict,
            "already exists",
            code="duplicate_name",
        ),
        Case(
            "unknown bulk destination",
            lambda: m.projects.move_sessions(project_id, "trash"),
            InvalidInput,
            "destination",
            "destination",
        ),
        # --- cursors and limits
        Case("limit 0", lambda: m.sessions.list(limit=0), InvalidInput, "limit", "limit"),
        Case("limit 201", lambda: m.sessions.list(limit=201), InvalidInput, "limit", "limit"),
        Case("str limit", lambda: m.sessions.list(limit="5"), InvalidInput, "limit", "limit"),
        Case("bool limit", lambda: m.sessions.list(limit=True), InvalidInput, "limit", "limit"),
        Case(
            "garbage cursor",
            lambda: m.sessions.list(cursor="garbage"),
            InvalidInput,
            "cursor",
            "cursor",
        ),
        Case("int cursor", lambda: m.sessions.list(cursor=5), InvalidInput, "cursor", "cursor"),
        Case(
            "str archived filter",
            lambda: m.sessions.list(archived="yes"),
            InvalidInput,
            "archived",
            "archived",
        ),
        Case(
            "transcript cursor",
            lambda: m.transcript.get(sid, cursor="not-a-cursor"),
            InvalidInput,
            "cursor",
            "cursor",
        ),
        Case(
            "transcript limit",
            lambda: m.transcript.get(sid, limit=0),
            InvalidInput,
            "limit",
            "limit",
        ),
        Case("negative since", lambda: m.events.read(since=-1), InvalidInput, "since", "since"),
        Case("limit 1001", lambda: m.events.read(limit=1001), InvalidInput, "limit", "limit"),
        Case(
            "types as one string",
            lambda: m.events.read(types="session_"),
            InvalidInput,
            "list",
            "types",
        ),
        Case(
            "thread ids as one string",
            lambda: m.events.read(thread_ids=sid),
            InvalidInput,
            "list",
            "thread_ids",
        ),
        Case(
            "empty type filter",
            lambda: m.events.read(types=[""]),
            InvalidInput,
            "type filter",
            "types",
        ),
        Case(
            "unknown request kind",
            lambda: m.requests.list(sid, kind="question"),
            InvalidInput,
            "question",
            "kind",
        ),
        Case(
            "unknown request status",
            lambda: m.requests.list(sid, statuses=["done"]),
            InvalidInput,
            "done",
            "statuses",
        ),
        # --- states
        Case(
            "interrupt while idle",
            lambda: m.turns.interrupt(sid),
            Conflict,
            "no active turn",
            code="no_active_turn",
        ),
    ]


async def test_bad_input_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    async with running_manager(tmp_path, [Reply("hello")], max_input_bytes=MAX_INPUT_BYTES) as env:
        manager = env.manager
        project = await manager.projects.create("existing")
        async with manager.events.subscribe(types=["app_server.thread.started"]) as started:
            session = await manager.sessions.create(project_id=project.project_id)
            sid = session.session_id
            await next_event(started, lambda e: e.thread_id == sid, message="thread/started")
        result = await manager.turns.send_and_wait(sid, "hi", timeout=20)
        await settle(manager)
        before = await snapshot(manager, sid)

        problems: list[str] = []
        all_cases = cases(manager, sid, project.project_id, result.turn_id)
        assert len({case.name for case in all_cases}) == len(all_cases)
        for case in all_cases:
            try:
                outcome = await case.call()
            except ManagerError as exc:
                problem = _judge(case, exc)
            except Exception as exc:
                problem = f"raised {type(exc).__name__} (not a ManagerError): {exc}"
            else:
                problem = f"did not raise; returned {outcome!r:.200}"
            if problem is None:
                await settle(manager)
                after = await snapshot(manager, sid)
                changed = [key for key in before if before[key] != after[key]]
                if changed:
                    problem = f"wrote something: {changed}"
                    before = after
            if problem is not None:
                problems.append(f"{case.name}: {problem}")
        assert not problems, "\n".join(problems)

        # Several invalid controls: one error that lists each of them.
        with pytest.raises(InvalidInput) as several:
            await manager.controls.apply(
                sid, model=7, approval_policy="x", network_access="y", filesystem_sandbox="z"
            )
        assert [issue["path"][0] for issue in several.value.issues] == [
            "model",
            "approval_policy",
            "network_access",
            "filesystem_sandbox",
        ]
        for fragment in ("got 7", "got 'x'", "got 'y'", "got 'z'"):
            assert fragment in str(several.value)
        await settle(manager)
        assert await snapshot(manager, sid) == before

        # Gone, not NotFound, once deleted; and still nothing written by the refusals.
        await manager.sessions.delete(sid)
        await settle(manager)
        before = await snapshot(manager, sid)
        for call in (
            lambda: manager.sessions.get(sid),
            lambda: manager.turns.send(sid, "hi"),
            lambda: manager.controls.apply(sid, approval_policy="never"),
            lambda: manager.sessions.rename(sid, "new"),
        ):
            with pytest.raises(Gone) as gone:
                await call()
            assert gone.value.code == "deleted"
            assert sid in str(gone.value)
        await settle(manager)
        assert await snapshot(manager, sid) == before


def _judge(case: Case, exc: ManagerError) -> str | None:
    if not isinstance(exc, case.error):
        return f"raised {type(exc).__name__} ({exc}), expected {case.error.__name__}"
    if case.says not in str(exc):
        return f"message {str(exc)!r} does not mention {case.says!r}"
    if case.code is not None and exc.code != case.code:
        return f"code {exc.code!r}, expected {case.code!r}"
    if isinstance(exc, InvalidInput):
        paths = [issue.get("path") or [None] for issue in exc.issues]
        if case.path is not None and case.path not in [path[0] for path in paths]:
            return f"issues {exc.issues} do not name {case.path!r}"
    return None

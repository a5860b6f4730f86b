"""The Manager's pure parts, without a runtime: controls validation, input normalisation,
dynamic tool specs, ids, error mapping, transcript rows and merging, cursors, views."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from codex_manager_core import (
    Controls,
    Gone,
    InteractiveRequest,
    InvalidInput,
    InvalidState,
    MethodNotSupported,
    NotFound,
    Project,
    RequestKind,
    RequestStatus,
    RpcError,
    SessionRecord,
    Tombstone,
    TranscriptEntry,
)
from codex_manager_core.errors import CallTimeout
from codex_manager_core.events.payloads import (
    app_server_envelope,
    normalize_questions,
    project_view,
    request_view,
    session_view,
)
from codex_manager_core.models import TitleSource
from codex_manager_core.services.context import (
    RuntimeCallFailed,
    check_id,
    map_runtime_error,
)
from codex_manager_core.services.controls import (
    MAX_SETTINGS_BYTES,
    ControlsService,
    approval_wire,
    clean_settings,
    describe,
    sandbox_policy,
)
from codex_manager_core.services.records import SessionRecords
from codex_manager_core.services.session_rules import check_dynamic_tools, clean_title
from codex_manager_core.services.transcript import (
    decode_cursor,
    encode_cursor,
    entry_row,
    merge_rows,
    parse_entry,
    request_row,
    turns_to_rows,
)
from codex_manager_core.services.turns import normalize_input
from codex_manager_core.testing import FakeClock
from codex_manager_core.thread_ids import ThreadIds

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
resolve = ControlsService.resolve


def issue_paths(exc: pytest.ExceptionInfo[InvalidInput]) -> list[Any]:
    return [issue["path"] for issue in exc.value.issues]


# --------------------------------------------------------------------------- controls


def test_resolve_controls_overrides_only_what_is_given() -> None:
    base = Controls(model="m", approval_policy="untrusted", settings={"a": 1})
    assert resolve(base) is base
    changed = resolve(
        base,
        model="  other  ",
        approval_policy="never",
        network_access="enabled",
        filesystem_sandbox="workspace-write",
        settings={"b": [1, 2]},
    )
    assert changed == Controls(
        model="other",
        approval_policy="never",
        network_access="enabled",
        filesystem_sandbox="workspace-write",
        settings={"b": [1, 2]},
    )
    assert base.model == "m"  # frozen, untouched


@pytest.mark.parametrize(
    ("overrides", "path", "says"),
    [
        ({"model": 5}, ["model"], "got 5"),
        ({"model": ""}, ["model"], "model"),
        ({"model": "m" * 201}, ["model"], "1-200"),
        ({"approval_policy": "sometimes"}, ["approval_policy"], "'sometimes'"),
        ({"approval_policy": 1}, ["approval_policy"], "got 1"),
        ({"network_access": "open"}, ["network_access"], "'open'"),
        ({"filesystem_sandbox": "none"}, ["filesystem_sandbox"], "'none'"),
        ({"settings": [1]}, ["settings"], "JSON object"),
        ({"settings": {"k": object()}}, ["settings"], "JSON-serialisable"),
        ({"settings": {"k": float("inf")}}, ["settings"], "JSON-serialisable"),
    ],
)
def test_resolve_controls_refuses_invalid_values(
    overrides: dict[str, Any], path: list[str], says: str
) -> None:
    with pytest.raises(InvalidInput, match=says.replace("(", r"\(")) as info:
        resolve(Controls(), **overrides)
    assert issue_paths(info) == [path]


def test_settings_size_limit_and_copy() -> None:
    original = {"nested": {"list": [1, 2]}}
    copied = clean_settings(original)
    assert copied == original
    copied["nested"]["list"].append(3)
    assert original == {"nested": {"list": [1, 2]}}  # a deep copy, never shared
    with pytest.raises(InvalidInput, match=f"the limit is {MAX_SETTINGS_BYTES}"):
        clean_settings({"big": "x" * MAX_SETTINGS_BYTES})


def test_wire_forms_of_the_controls() -> None:
    assert approval_wire("on-failure") == "on-request"
    assert [approval_wire(p) for p in ("untrusted", "on-request", "never")] == [
        "untrusted",
        "on-request",
        "never",
    ]
    assert sandbox_policy(Controls(filesystem_sandbox="read-only")) == {
        "type": "readOnly",
        "networkAccess": False,
    }
    assert sandbox_policy(
        Controls(filesystem_sandbox="workspace-write", network_access="enabled")
    ) == {"type": "workspaceWrite", "networkAccess": True}
    assert sandbox_policy(
        Controls(filesystem_sandbox="danger-full-access", network_access="enabled")
    ) == {"type": "dangerFullAccess"}
    assert describe(Controls()) == (
        "model=default, approval=on-request, sandbox=read-only, network=restricted"
    )


# --------------------------------------------------------------------------- input


def test_normalize_input_accepts_text_and_items() -> None:
    assert normalize_input("hi", 10) == [{"type": "text", "text": "hi"}]
    items = [
        {"type": "text", "text": "look", "extra": "dropped"},
        {"type": "image", "imageUrl": "https://x/y.png"},
        {"type": "localImage", "path": "/tmp/a.png"},
    ]
    assert normalize_input(items, 10) == [
        {"type": "text", "text": "look"},
        {"type": "image", "url": "https://x/y.png"},
        {"type": "localImage", "path": "/tmp/a.png"},
    ]
    # Images alone are a message; the byte limit counts UTF-8 text only.
    assert normalize_input([{"type": "image", "url": "u"}], 1) == [{"type": "image", "url": "u"}]
    assert normalize_input("é" * 5, 10) == [{"type": "text", "text": "é" * 5}]


@pytest.mark.parametrize(
    ("value", "path", "says"),
    [
        (5, ["input"], "string or a list"),
        (b"hi", ["input"], "string or a list"),
        ({"type": "text", "text": "hi"}, ["input"], "string or a list"),
        ([], ["input"], "empty"),
        ("", ["text"], "empty"),
        ([{"type": "text", "text": " "}, {"type": "text", "text": "\n"}], ["text"], "empty"),
        (["hi"], ["input", 0], "must be an object"),
        ([{"type": "text", "text": "ok"}, {"type": "audio"}], ["input", 1], "type must be"),
        ([{"type": "text", "text": None}], ["input", 0], "text must be a string"),
        ([{"type": "image", "url": ""}], ["input", 0], "url"),
        ([{"type": "localImage", "path": "a\x00b"}], ["input", 0], "path"),
        ("é" * 6, ["text"], "12 bytes; the limit is 11"),
    ],
)
def test_normalize_input_refuses(value: Any, path: list[Any], says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as info:
        normalize_input(value, 11)
    assert issue_paths(info) == [path]


def test_dynamic_tool_specs() -> None:
    assert check_dynamic_tools(None) == ()
    assert check_dynamic_tools([{"name": "lookup"}]) == (
        {
            "type": "function",
            "name": "lookup",
            "description": "",
            "inputSchema": {"type": "object"},
        },
    )
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    [spec] = check_dynamic_tools([{"name": "q", "description": "d", "inputSchema": schema}])
    assert (spec["description"], spec["inputSchema"]) == ("d", schema)
    with pytest.raises(InvalidInput, match="at most 128"):
        check_dynamic_tools([{"name": f"t{i}"} for i in range(129)])
    for specs, says in [
        ("lookup", "must be a list"),
        ([{"name": ""}], r"dynamic_tools\[0\]: name"),
        ([{"name": "a"}, {"name": "a"}], r"dynamic_tools\[1\]: duplicate name 'a'"),
        ([{"name": "a", "inputSchema": []}], "inputSchema"),
        ([{"name": "a", "description": 3}], "description"),
        ([3], "must be an object"),
    ]:
        with pytest.raises(InvalidInput, match=says):
            check_dynamic_tools(specs)


def test_titles_and_ids() -> None:
    assert clean_title("  a \t b\n c ") == "a b c"
    for bad in ("", "   ", 5, None, "x" * 201):
        with pytest.raises(InvalidInput, match="title"):
            clean_title(bad)
    assert check_id("01a2-b_c.d:e", "session_id") == "01a2-b_c.d:e"
    for bad_id in ("", "a b", "../x", "a/b", "x" * 201, 5, None, "é"):
        with pytest.raises(InvalidInput, match="session_id must be") as info:
            check_id(bad_id, "session_id")
        assert issue_paths(info) == [["session_id"]]


def test_runtime_errors_map_to_typed_errors() -> None:
    def mapped(code: int, message: str) -> Any:
        return map_runtime_error("thread/x", RpcError("thread/x", code, message))

    assert isinstance(mapped(-32601, "Method not found"), MethodNotSupported)
    assert isinstance(mapped(-32600, "unknown variant `thread/x`"), MethodNotSupported)
    invalid = mapped(-32602, "missing field `threadId`")
    assert isinstance(invalid, InvalidInput)
    assert invalid.code == "invalid_params"
    assert isinstance(mapped(-32600, "no rollout found for thread id t"), NotFound)
    assert isinstance(mapped(-32600, "thread t already has an active writer"), InvalidState)
    assert mapped(-32000, "not logged in").code == "codex_auth_required"
    # codex 0.163's words for rate limits without a login (a -32600).
    auth = mapped(-32600, "codex account authentication required to read rate limits")
    assert auth.code == "codex_auth_required"
    other = mapped(-32603, "boom")
    assert isinstance(other, RuntimeCallFailed)
    assert "boom" in str(other)
    timeout = CallTimeout("m", 1.0)
    assert map_runtime_error("m", timeout) is timeout


def test_runtime_internal_errors_caused_by_the_request_are_4xx() -> None:
    """codex answers -32603 ("internal error") also for bad values and for a running turn:
    the words tell them apart from real failures of the runtime (observed with 0.163)."""

    def mapped(method: str, message: str) -> Any:
        return map_runtime_error(method, RpcError(method, -32603, message))

    for message in (
        "failed to spawn command: No such file or directory (os error 2)",
        "failed to spawn command: nul byte found in provided data",
    ):
        refused = mapped("command/exec", message)
        assert isinstance(refused, InvalidInput), message
        assert refused.code == "invalid_params"
        assert message in refused.message
    busy = mapped("turn/start", "failed to submit turn input: ActiveTurnOutputSchemaMismatch")
    assert isinstance(busy, InvalidState)
    assert busy.code == "invalid_state"
    upstream = mapped(
        "feedback/upload",
        "failed to upload feedback: failed to upload feedback to Sentry: error sending request "
        "for url (https://o33249.ingest.us.sentry.io/api/1/envelope/): client error (Connect): "
        "dns error: failed to lookup address information: Try again",
    )
    assert isinstance(upstream, RuntimeCallFailed)
    assert upstream.code == "codex_error"


# --------------------------------------------------------------------------- transcript


def _turns() -> list[dict[str, Any]]:
    return [
        {
            "id": "turn-1",
            "status": "completed",
            "startedAt": 1_767_323_045,
            "completedAt": 1_767_323_046,
            "items": [
                {
                    "type": "userMessage",
                    "id": "u1",
                    "content": [
                        {"type": "text", "text": "hello"},
                        {"type": "localImage", "path": "/tmp/p.png"},
                    ],
                },
                {"type": "commandExecution", "id": "c1", "command": "ls", "status": "completed"},
                {"type": "agentMessage", "id": "a1", "text": "hi there"},
            ],
        },
        {
            "id": "turn-2",
            "status": "interrupted",
            "items": [
                {"type": "userMessage", "id": "u2", "content": [{"type": "text", "text": "more"}]},
                {
                    "type": "commandExecution",
                    "id": "c2",
                    "command": "sleep",
                    "status": "inProgress",
                },
                {"type": "fileChange", "id": "f2", "changes": [1, 2], "status": "declined"},
            ],
        },
        "not a turn",
    ]


def test_turns_to_rows() -> None:
    rows = turns_to_rows(_turns())
    assert [(r["turnId"], r["messageId"], r["role"], r["status"]) for r in rows] == [
        ("turn-1", "u1", "user", "complete"),
        ("turn-1", "c1", "system", "complete"),
        ("turn-1", "a1", "assistant", "complete"),
        ("turn-2", "u2", "user", "complete"),
        ("turn-2", "c2", "system", "canceled"),
        ("turn-2", "f2", "system", "error"),
    ]
    assert rows[0]["content"] == "hello\n[image /tmp/p.png]"
    assert rows[1]["content"] == "$ ls"
    # The original's TranscriptEntry: details is the item as JSON text (system rows only),
    # times are epoch milliseconds, and a row without one has no such key.
    assert json.loads(rows[1]["details"])["command"] == "ls"
    assert "details" not in rows[2]
    assert rows[5]["content"] == "Edited 2 file(s)"
    assert (rows[0]["startedAt"], rows[0]["completedAt"]) == (1_767_323_045_000, 1_767_323_046_000)
    assert "startedAt" not in rows[3]
    assert "completedAt" not in rows[3]
    assert {r["source"] for r in rows} == {"runtime"}


def _extra(turn: str, message: str, **fields: Any) -> dict[str, Any]:
    row = {
        "turnId": turn,
        "messageId": message,
        "role": "system",
        "type": "note",
        "content": message,
        "status": "complete",
        "details": None,
        "startedAt": None,
        "anchorItemId": None,
    }
    row.update(fields)
    return row


def test_merge_rows_places_supplemental_rows() -> None:
    runtime = turns_to_rows(_turns())
    twin_poorer = _extra("turn-1", "a1", role="assistant", content="hi", status="streaming")
    twin_richer = _extra("turn-2", "c2", content="$ sleep (killed)", status="error")
    anchored = _extra("turn-1", "approval-1", anchorItemId="c1")
    unanchored = _extra("turn-1", "note-1")
    no_assistant = _extra("turn-2", "note-2")
    orphan_late = _extra("turn-x", "late", startedAt=1_767_312_002_000)
    orphan_early = _extra("turn-y", "early", startedAt=1_767_312_001_000)
    merged = merge_rows(
        runtime,
        [
            twin_poorer,
            twin_richer,
            anchored,
            unanchored,
            no_assistant,
            orphan_late,
            orphan_early,
        ],
    )
    assert [(r["turnId"], r["messageId"]) for r in merged] == [
        ("turn-1", "u1"),
        ("turn-1", "c1"),
        ("turn-1", "approval-1"),  # right after its anchor
        ("turn-1", "note-1"),  # before the turn's last assistant row
        ("turn-1", "a1"),
        ("turn-2", "u2"),
        ("turn-2", "c2"),
        ("turn-2", "f2"),
        ("turn-2", "note-2"),  # no assistant row: at the end of its turn
        ("turn-y", "early"),  # turns the runtime does not know: last, by time
        ("turn-x", "late"),
    ]
    assert merged[4]["content"] == "hi there"  # the runtime's complete row wins
    assert merged[6] == twin_richer  # the supplemental error row says more
    assert runtime == turns_to_rows(_turns())  # inputs untouched


def test_transcript_cursors() -> None:
    for offset in (0, 1, 99, 10**6):
        assert decode_cursor(encode_cursor(offset)) == offset
    for bad in ("garbage", "", "b29vcHM", encode_cursor(1) + "!!", "bzotMQ"):
        with pytest.raises(InvalidInput, match="cursor") as info:
            decode_cursor(bad)
        assert issue_paths(info) == [["cursor"]]


def test_parse_entry_round_trips_and_lists_every_problem() -> None:
    raw = {
        "messageId": "m1",
        "turnId": "t1",
        "role": "system",
        "type": "note",
        "content": "text",
        "status": "streaming",
        "details": {"k": 1},
        "startedAt": "2026-01-02T03:04:05.678Z",
        "anchorItemId": "i1",
    }
    entry = parse_entry(raw)
    assert entry == TranscriptEntry(
        message_id="m1",
        turn_id="t1",
        role="system",
        type="note",
        content="text",
        status="streaming",
        details={"k": 1},
        started_at=T0,
        anchor_item_id="i1",
    )
    row = entry_row(entry)
    # Epoch milliseconds and JSON text on the wire (the original's TranscriptEntry).
    assert (row["startedAt"], row.get("completedAt"), row["source"]) == (
        1_767_323_045_678,
        None,
        "manager",
    )
    assert "completedAt" not in row
    assert json.loads(row["details"]) == {"k": 1}
    # The original's form of input: epoch milliseconds, details JSON text holding the anchor.
    original = parse_entry(
        {
            **raw,
            "startedAt": 1_767_323_045_678,
            "details": '{"anchorItemId": "i2"}',
            "anchorItemId": None,
        }
    )
    assert (original.started_at, original.anchor_item_id) == (T0, "i2")
    assert entry_row(original)["details"] == '{"anchorItemId": "i2"}'
    with pytest.raises(InvalidInput) as info:
        parse_entry(
            {"messageId": 5, "turnId": "", "role": "bot", "status": "done", "startedAt": "x"}
        )
    assert sorted(path[0] for path in issue_paths(info)) == [
        "content",
        "messageId",
        "role",
        "startedAt",
        "status",
        "turnId",
        "type",
    ]
    assert "role" in str(info.value)
    with pytest.raises(InvalidInput, match="object"):
        parse_entry([1])  # type: ignore[arg-type]


# --------------------------------------------------------------------------- views


def _record(**changes: Any) -> SessionRecord:
    values: dict[str, Any] = {
        "session_id": "s1",
        "title": "Title",
        "title_source": TitleSource.USER,
        "cwd": "/w",
        "project_id": "p1",
        "archived": False,
        "system_owned": False,
        "materialized": True,
        "status": "idle",
        "model": "mock-model",
        "preview": "hello",
        "created_at": T0,
        "updated_at": T0,
        "controls": Controls(),
        "active_turn_id": "t2",
        "last_turn_id": "t1",
    }
    values.update(changes)
    return SessionRecord(**values)


def test_session_and_project_views() -> None:
    assert session_view(_record()) == {
        # The original's SessionSummary: unix seconds, the controls tuple, provider, source.
        "sessionId": "s1",
        "title": "Title",
        "materialized": True,
        "modelProvider": "openai",
        "approvalPolicy": "on-request",
        "sessionControls": {
            "model": None,
            "approvalPolicy": "on-request",
            "networkAccess": "restricted",
            "filesystemSandbox": "read-only",
            "settings": {},
        },
        "createdAt": 1_767_323_045,
        "updatedAt": 1_767_323_045,
        "cwd": "/w",
        "source": "vscode",
        "projectId": "p1",
        # Ours.
        "threadId": "s1",
        "preview": "hello",
        "archived": False,
        "systemOwned": False,
        "status": "idle",
        "model": "mock-model",
        "activeTurnId": "t2",
        "lastTurnId": "t1",
    }
    # The runtime's thread, when at hand, says which provider and source.
    from_thread = session_view(
        _record(cwd=None), {"modelProvider": "scripted", "source": {"subAgent": "review"}}
    )
    assert (from_thread["modelProvider"], from_thread["source"], from_thread["cwd"]) == (
        "scripted",
        "subAgent",
        "",
    )
    assert project_view(Project("p1", "Name", None, T0, T0)) == {
        "projectId": "p1",
        "name": "Name",
        "workingDirectory": None,
        "createdAt": "2026-01-02T03:04:05.678Z",
        "updatedAt": "2026-01-02T03:04:05.678Z",
    }
    envelope = app_server_envelope(
        signal_type="notification",
        event_type="app_server.turn.started",
        method="turn/started",
        received_at=T0,
        params={"x": 1},
        session=_record(),
        thread_id="s1",
        turn_id="t2",
        emitted_at_ms=5,
    )
    assert envelope["session"] == {"id": "s1", "title": "Title", "projectId": "p1"}
    assert envelope["context"] == {"threadId": "s1", "turnId": "t2"}
    assert envelope["emittedAtMs"] == 5
    assert "requestId" not in envelope


def _request(kind: RequestKind, method: str, params: dict[str, Any], **changes: Any) -> Any:
    values: dict[str, Any] = {
        "request_id": "3-7",
        "kind": kind,
        "method": method,
        "generation": 3,
        "rpc_id": 7,
        "thread_id": "s1",
        "turn_id": "t1",
        "item_id": "i1",
        "params": params,
        "status": RequestStatus.PENDING,
        "created_at": T0,
    }
    values.update(changes)
    return InteractiveRequest(**values)


def test_request_views_by_kind() -> None:
    approval = _request(
        RequestKind.APPROVAL,
        "item/commandExecution/requestApproval",
        {"command": ["ls", "-l"]},
    )
    view = request_view(approval)
    assert (view["approvalId"], view["summary"], view["status"]) == (
        "3-7",
        "Run command: ls -l",
        "pending",
    )
    assert "expiresAt" not in view
    patch = _request(RequestKind.APPROVAL, "item/fileChange/requestApproval", {})
    assert request_view(patch)["summary"] == "Apply file changes"

    questions = {
        "questions": [
            {"id": "q1", "header": "H", "question": "Which?", "options": [{"label": "A"}]},
            "junk",
        ]
    }
    asked = request_view(_request(RequestKind.USER_INPUT, "item/tool/requestUserInput", questions))
    assert (asked["requestId"], asked["summary"]) == ("3-7", "Which?")
    assert asked["questions"] == [
        {
            "id": "q1",
            "header": "H",
            "question": "Which?",
            "options": [{"label": "A", "description": ""}],  # strings, as the original has them
            "isOther": False,
            "isSecret": False,
        }
    ]
    assert normalize_questions(None) == []

    call = request_view(
        _request(
            RequestKind.TOOL_CALL,
            "item/tool/call",
            {"tool": "lookup", "callId": "c1", "arguments": {"q": 1}},
            expires_at=T0,
        )
    )
    assert (call["tool"], call["callId"], call["arguments"], call["summary"]) == (
        "lookup",
        "c1",
        {"q": 1},
        "Call tool lookup",
    )
    assert call["expiresAt"] == "2026-01-02T03:04:05.678Z"


def test_request_rows_in_the_transcript() -> None:
    pending = _request(
        RequestKind.APPROVAL, "item/commandExecution/requestApproval", {"command": "ls"}
    )
    row = request_row(pending)
    assert (row["messageId"], row["type"], row["status"], row["anchorItemId"]) == (
        "approval-3-7",
        "approval.request",
        "complete",
        "i1",
    )
    assert row["content"] == "Run command: ls"
    assert json.loads(row["details"])["approvalId"] == "3-7"
    assert "completedAt" not in row
    resolved = request_row(
        _request(
            RequestKind.APPROVAL,
            "item/commandExecution/requestApproval",
            {"command": "ls"},
            status=RequestStatus.RESOLVED,
            resolution={"decision": "decline"},
            resolved_at=T0,
        )
    )
    assert (resolved["content"], resolved["status"], resolved["type"]) == (
        "Approval resolved (decline)",
        "complete",
        "approval.resolved",
    )
    assert resolved["completedAt"] == 1_767_323_045_678
    expired = request_row(
        _request(
            RequestKind.USER_INPUT,
            "item/tool/requestUserInput",
            {},
            status=RequestStatus.EXPIRED,
            turn_id=None,
        )
    )
    assert (expired["messageId"], expired["turnId"], expired["status"], expired["type"]) == (
        "tool-input-3-7",
        "tool-input",
        "complete",
        "tool_input.resolved",
    )
    assert expired["content"] == "Tool input expired"


# --------------------------------------------------------------------------- session cache


class _OneSessionStore:
    """Store stand-in: still has the row (a delete's write is queued, not applied)."""

    def __init__(self, record: SessionRecord) -> None:
        self.record = record

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self.record if session_id == self.record.session_id else None


@pytest.mark.anyio
async def test_a_session_being_deleted_is_not_cached_again() -> None:
    """A notification handled between the delete's tombstone and its store write looked the
    session up and put the stale row back into the cache: the deleted session came back."""
    record = _record()
    store: Any = _OneSessionStore(record)
    records = SessionRecords(store, ledger=cast(Any, None), threads=ThreadIds(), clock=FakeClock())
    assert await records.find("s1") == record
    assert records.cache == {"s1": record}

    records.cache = {}
    records.tombstones = {"s1": Tombstone("s1", "Title", T0)}
    assert await records.find("s1") is None
    assert records.cache == {}
    with pytest.raises(Gone) as gone:
        await records.get("s1")
    assert gone.value.title == "Title"

"""Wire compatibility: our real responses and WebSocket frames against the original Codex
Manager's schemas (tests/acceptance/original_schemas.json: its OpenAPI components, plus the
shapes its server code and web UI use that its OpenAPI document left out).

Real uvicorn, the real codex binary and a ScriptedModel (http_fixtures.running_host). The
check is structural, like a client of the original reads a body: every required key is there
and every value has the type (and enum value) the original's schema says. Our extra fields
are allowed (the original's schemas are open, and its clients ignore what they do not know).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from codex_manager_core import TurnStatus
from codex_manager_core.testing import Reply
from codex_manager_core.testing.scripted_model import CallTool, RecordedRequest, Step, exec_command
from tests.acceptance.http_fixtures import Host, recv_json, recv_until, running_host
from tests.user_input import PLAN_MODE, QUESTIONS

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0
DOCUMENT = json.loads((Path(__file__).parent / "original_schemas.json").read_text())
SCHEMAS: dict[str, Any] = {
    **DOCUMENT["components"]["schemas"],
    **DOCUMENT["fromCode"]["schemas"],
}
DECLARED_TOOL = {
    "name": "ask_operator",
    "description": "Ask the operator.",
    "inputSchema": {"type": "object", "properties": {"topic": {"type": "string"}}},
}


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


# ---------------------------------------------------------------------- the checker

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = SCHEMAS[name]
    return schema


def _is_date_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def problems(value: Any, schema: dict[str, Any], path: str = "$") -> Iterator[str]:
    """Where `value` does not fit `schema`: missing required keys, wrong types, values
    outside an enum (the parts of JSON Schema the original's document uses)."""
    schema = _resolve(schema)
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            branches = [list(problems(value, branch, path)) for branch in schema[keyword]]
            if all(branches):
                yield f"{path}: fits no {keyword} branch: {min(branches, key=len)}"
            return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_TYPES[kind](value) for kind in kinds):
            yield f"{path}: expected {'|'.join(kinds)}, got {type(value).__name__} {value!r:.80}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} is not one of {schema['enum']}"
    if schema.get("format") == "date-time" and isinstance(value, str) and not _is_date_time(value):
        yield f"{path}: {value!r} is not a date-time"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                yield f"{path}: missing required key {key!r}"
        for key, item in value.items():
            if key in properties:
                yield from problems(item, properties[key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from problems(item, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from problems(item, schema["items"], f"{path}[{index}]")


def check(value: Any, schema_name: str) -> Any:
    """`value`, after asserting it fits the original's schema `schema_name`."""
    found = list(problems(value, {"$ref": f"#/components/schemas/{schema_name}"}))
    assert not found, f"not the original's {schema_name}:\n" + "\n".join(found[:20])
    return value


def test_the_checker_catches_what_an_original_client_would_trip_on() -> None:
    entry = {
        "messageId": "m",
        "turnId": "t",
        "role": "system",
        "type": "x",
        "content": "c",
        "status": "complete",
    }
    assert not list(problems(entry, SCHEMAS["TranscriptEntry"]))
    assert list(problems({**entry, "details": {"a": 1}}, SCHEMAS["TranscriptEntry"]))
    assert list(
        problems({**entry, "startedAt": "2026-01-01T00:00:00Z"}, SCHEMAS["TranscriptEntry"])
    )
    assert list(problems({**entry, "status": "done"}, SCHEMAS["TranscriptEntry"]))
    missing = dict(entry)
    del missing["role"]
    assert list(problems(missing, SCHEMAS["TranscriptEntry"]))
    assert list(problems({"data": [1]}, SCHEMAS["ListProjectsResponse"]))
    listing = {"status": "ok", "sessionId": "s", "scope": "session", "settings": {}, "x": 1}
    assert not list(problems(listing, SCHEMAS["SessionSettingsGetResponse"]))  # oneOf
    assert list(problems({"status": "ok"}, SCHEMAS["SessionSettingsGetResponse"]))

    # Every reference in the document resolves.
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"].rsplit("/", 1)[-1]
            for child in node.values():
                yield from refs(child)
        elif isinstance(node, list):
            for child in node:
                yield from refs(child)

    assert set(refs(SCHEMAS)) <= set(SCHEMAS)


# ---------------------------------------------------------------------- helpers


def body(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, got "
        f"{response.status_code}: {response.text}"
    )
    return response.json()


def echo(request: RecordedRequest) -> Step:
    return Reply(f"echo: {request.last_user_text}")


@asynccontextmanager
async def stream(host: Host, thread_id: str | None = None) -> AsyncIterator[ClientConnection]:
    """/api/stream as the original's web UI opens it (`?threadId=` optional)."""
    path = "/api/stream" + (f"?threadId={thread_id}" if thread_id else "")
    async with connect(host.server.ws_url + path, max_queue=None) as ws:
        check(await recv_json(ws), "ReadyFrame")
        yield ws


def of_type(type_: str, **payload: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: (
        frame.get("type") == type_
        and all(
            isinstance(frame.get("payload"), dict) and frame["payload"].get(key) == value
            for key, value in payload.items()
        )
    )


async def turn_done(host: Host, sid: str, turn_id: str) -> None:
    result = await host.manager.turns.wait(sid, turn_id, timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED, result


def check_frames(frames: list[dict[str, Any]]) -> None:
    """Every event frame has the original's envelope; the payloads of the events the
    original's clients read have its shapes."""
    payloads = {
        "approval": "PendingApproval",
        "approval_resolved": "ApprovalResolvedPayload",
        "tool_user_input_requested": "PendingToolUserInput",
        "tool_user_input_resolved": "ToolUserInputResolvedPayload",
        "tool_call_requested": "PendingToolCall",
        "tool_call_resolved": "ToolCallResolvedPayload",
        "transcript_updated": "TranscriptUpdatedPayload",
        "project_upserted": "ProjectUpsertedPayload",
        "project_deleted": "ProjectDeletedPayload",
        "session_project_updated": "SessionProjectUpdatedPayload",
        "session_deleted": "DeletedSessionPayload",
        "notification": "NotificationPayload",
    }
    for frame in frames:
        check(frame, "EventFrame")
        name = payloads.get(frame["type"])
        if frame["type"].startswith("app_server."):
            name = "AppServerSignalEnvelope"
        if name is not None:
            check(frame["payload"], name)


# ---------------------------------------------------------------------- sessions, projects


async def test_sessions_and_projects_have_the_original_shapes(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo) as host:
        http = host.http
        async with stream(host) as ws:
            check(body(await http.get("/api/health")), "GetHealthResponse")
            capabilities = check(body(await http.get("/api/capabilities")), "CapabilitiesResponse")
            assert capabilities["features"]["threadFork"] is True

            # Projects.
            project = check(
                body(await http.post("/api/projects", json={"name": "Alpha"})),
                "CreateProjectResponse",
            )["project"]
            pid = project["projectId"]
            duplicate = body(await http.post("/api/projects", json={"name": "ALPHA"}), 409)
            assert check(duplicate, "DuplicateProjectResponse")["projectId"] == pid
            listed = check(body(await http.get("/api/projects")), "ListProjectsResponse")
            assert [p["projectId"] for p in listed["data"]] == [pid]
            check(
                body(await http.get(f"/api/projects/{pid}/agent-sessions")),
                "ProjectAgentSessionsResponse",
            )

            # A session before its first message: materialized false, no transcript.
            created = check(
                body(await http.post("/api/sessions", json={})), "CreateSessionResponse"
            )
            sid = created["session"]["sessionId"]
            assert created["session"]["materialized"] is False
            fresh = check(body(await http.get(f"/api/sessions/{sid}")), "ReadSessionResponse")
            assert (fresh["session"]["materialized"], fresh["transcript"]) == (False, [])

            # A turn; the original's Python client waits on thread.turns[].status and the
            # transcript's complete assistant row.
            accepted = check(
                body(await http.post(f"/api/sessions/{sid}/messages", json={"text": "hi"}), 202),
                "SendSessionMessageAcceptedResponse",
            )
            await turn_done(host, sid, accepted["turnId"])
            detail = check(body(await http.get(f"/api/sessions/{sid}")), "ReadSessionResponse")
            assert detail["session"]["materialized"] is True
            assert [t["status"] for t in detail["thread"]["turns"]] == ["completed"]
            replies = [
                row["content"]
                for row in detail["transcript"]
                if row["turnId"] == accepted["turnId"]
                and row["role"] == "assistant"
                and row["status"] == "complete"
            ]
            assert replies == ["echo: hi"]
            listed_sessions = check(body(await http.get("/api/sessions")), "ListSessionsResponse")
            assert [s["sessionId"] for s in listed_sessions["data"]] == [sid]

            check(
                body(await http.post(f"/api/sessions/{sid}/rename", json={"title": "Named"})),
                "RenameSessionResponse",
            )
            check(
                body(await http.post(f"/api/sessions/{sid}/project", json={"projectId": pid})),
                "SetSessionProjectResponse",
            )
            in_use = body(await http.delete(f"/api/projects/{pid}"), 409)
            assert check(in_use, "ProjectNotEmptyResponse")["sessionCount"] == 1

            # Controls and settings.
            check(
                body(await http.get(f"/api/sessions/{sid}/session-controls")),
                "SessionControlsResponse",
            )
            controls = {
                "model": None,
                "approvalPolicy": "never",
                "networkAccess": "restricted",
                "filesystemSandbox": "read-only",
            }
            check(
                body(
                    await http.post(
                        f"/api/sessions/{sid}/session-controls",
                        json={"scope": "session", "controls": controls},
                    )
                ),
                "ApplySessionControlsResponse",
            )
            check(
                body(
                    await http.post(
                        f"/api/sessions/{sid}/settings",
                        json={"scope": "session", "key": "theme", "value": {"dark": True}},
                    )
                ),
                "SessionSettingsSetResponse",
            )
            check(
                body(await http.get(f"/api/sessions/{sid}/settings")), "SessionSettingsListResponse"
            )
            check(
                body(await http.get(f"/api/sessions/{sid}/settings", params={"key": "theme"})),
                "SessionSettingsKeyResponse",
            )
            check(
                body(await http.delete(f"/api/sessions/{sid}/settings/theme")),
                "SessionSettingsDeleteResponse",
            )
            check(
                body(
                    await http.post(
                        f"/api/sessions/{sid}/approval-policy", json={"approvalPolicy": "untrusted"}
                    )
                ),
                "SessionApprovalPolicyResponse",
            )

            # A supplemental row in the original's form (details JSON text, epoch ms).
            row = {
                "messageId": "note-1",
                "turnId": accepted["turnId"],
                "role": "system",
                "type": "reviewer.note",
                "content": "looks fine",
                "details": json.dumps({"anchorItemId": "none", "score": 3}),
                "status": "complete",
                "startedAt": 1_764_000_000_000,
                "completedAt": 1_764_000_001_000,
            }
            upserted = check(
                body(await http.post(f"/api/sessions/{sid}/transcript/upsert", json=row)),
                "UpsertTranscriptEntryResponse",
            )
            assert {key: upserted["entry"][key] for key in row} == row
            after = check(body(await http.get(f"/api/sessions/{sid}")), "ReadSessionResponse")
            note = next(r for r in after["transcript"] if r["messageId"] == "note-1")
            assert note["details"] == row["details"]

            fork = check(
                body(await http.post(f"/api/sessions/{sid}/fork", json={})), "ForkSessionResponse"
            )

            # The original's error bodies.
            check(
                body(await http.post(f"/api/sessions/{sid}/messages", json={"text": 5}), 400),
                "ApiValidationError",
            )
            check(body(await http.get("/api/sessions/nope"), 404), "SessionNotFoundPayload")
            check(
                body(await http.post(f"/api/sessions/{sid}/interrupt", json={}), 409),
                "NoActiveTurnResponse",
            )
            worker = await host.manager.sessions.create(system_owned=True)
            check(
                body(
                    await http.post(
                        f"/api/sessions/{worker.session_id}/messages", json={"text": "x"}
                    ),
                    403,
                ),
                "SystemSessionError",
            )

            # Emptying and deleting the project, deleting the sessions.
            check(
                body(
                    await http.post(
                        f"/api/projects/{pid}/chats/move-all", json={"destination": "unassigned"}
                    )
                ),
                "MoveProjectChatsResponse",
            )
            check(body(await http.delete(f"/api/projects/{pid}")), "DeleteProjectResponse")
            check(body(await http.delete(f"/api/sessions/{sid}")), "DeleteSessionResponse")
            check(body(await http.get(f"/api/sessions/{sid}"), 410), "DeletedSessionPayload")
            check(
                body(await http.delete(f"/api/sessions/{fork['session']['sessionId']}")),
                "DeleteSessionResponse",
            )

            _, frames = await recv_until(
                ws,
                of_type("session_deleted", sessionId=fork["session"]["sessionId"]),
                message="the last session_deleted",
            )
        types = {frame["type"] for frame in frames}
        for expected in (
            "project_upserted",
            "project_deleted",
            "session_project_updated",
            "session_deleted",
            "transcript_updated",
            "notification",
            "app_server.turn.completed",
        ):
            assert expected in types, expected
        check_frames(frames)


# ---------------------------------------------------------------------- interactive requests


async def test_interactive_requests_have_the_original_shapes(tmp_path: Path) -> None:
    marker = tmp_path / "work" / "approved"
    script: list[Step] = [
        exec_command(f"touch {marker}", call_id="call_touch"),
        Reply("touched"),
        CallTool("ask_operator", {"topic": "deploy"}, call_id="call_op"),
        Reply("thanks"),
        CallTool("request_user_input", QUESTIONS, call_id="call_ask"),
        Reply("blue it is"),
    ]
    async with running_host(tmp_path, script) as host:
        http = host.http
        created = body(
            await http.post(
                "/api/sessions",
                json={"approvalPolicy": "on-request", "dynamicTools": [DECLARED_TOOL]},
            )
        )
        sid = created["session"]["sessionId"]
        seen: list[dict[str, Any]] = []  # every frame, for check_frames
        async with stream(host, sid) as ws:

            async def until(predicate: Callable[[dict[str, Any]], bool], what: str) -> Any:
                frame, frames = await recv_until(ws, predicate, message=what)
                seen.extend(frames)
                return frame, frames

            # An approval.
            turn = body(
                await http.post(f"/api/sessions/{sid}/messages", json={"text": "touch"}), 202
            )["turnId"]
            asked, _ = await until(of_type("approval"), "the approval")
            approval_id = check(asked["payload"], "PendingApproval")["approvalId"]
            listed = check(
                body(await http.get(f"/api/sessions/{sid}/approvals")),
                "ListSessionApprovalsResponse",
            )
            assert [a["approvalId"] for a in listed["data"]] == [approval_id]
            decided = body(
                await http.post(
                    f"/api/approvals/{approval_id}/decision", json={"decision": "accept"}
                )
            )
            check(decided, "ApprovalDecisionSuccessResponse")
            again = body(
                await http.post(
                    f"/api/approvals/{approval_id}/decision", json={"decision": "decline"}
                ),
                409,
            )
            check(again, "ApprovalDecisionReconciledResponse")
            check(
                body(
                    await http.post("/api/approvals/0-999/decision", json={"decision": "accept"}),
                    404,
                ),
                "ApprovalDecisionNotFoundResponse",
            )
            await turn_done(host, sid, turn)
            assert marker.exists()

            # A dynamic tool call. The original's Python client sends the session's catalog
            # with every message: the same catalog again is accepted.
            turn = body(
                await http.post(
                    f"/api/sessions/{sid}/messages",
                    json={"text": "ask", "dynamicTools": [DECLARED_TOOL]},
                ),
                202,
            )["turnId"]
            asked, frames = await until(of_type("tool_call_requested"), "the call")
            call = check(asked["payload"], "PendingToolCall")
            request_id = call["requestId"]
            # The app_server request signal names the same id (the original's Python client
            # answers with it).
            signals = [f for f in frames if f["type"] == "app_server.request.item.tool.call"]
            assert [s["payload"]["requestId"] for s in signals] == [request_id]
            listed_calls = check(
                body(await http.get(f"/api/sessions/{sid}/tool-calls")),
                "ListSessionToolCallsResponse",
            )
            assert [c["requestId"] for c in listed_calls["data"]] == [request_id]
            check(
                body(
                    await http.post(
                        f"/api/tool-calls/{request_id}/response",
                        json={
                            "success": True,
                            "contentItems": [{"type": "inputText", "text": "go"}],
                        },
                    )
                ),
                "ToolCallResponseSuccessResponse",
            )
            check(
                body(
                    await http.post(f"/api/tool-calls/{request_id}/response", json={"text": "x"}),
                    404,
                ),
                "ToolCallResponseNotFoundResponse",
            )
            await turn_done(host, sid, turn)

            # A question of the model (request_user_input, plan mode).
            turn = body(
                await http.post(
                    f"/api/sessions/{sid}/messages",
                    json={"text": "ask me", "collaborationMode": PLAN_MODE},
                ),
                202,
            )["turnId"]
            asked, _ = await until(of_type("tool_user_input_requested"), "the question")
            question_id = check(asked["payload"], "PendingToolUserInput")["requestId"]
            check(
                body(await http.get(f"/api/sessions/{sid}/tool-input")),
                "ListSessionToolInputResponse",
            )
            check(
                body(
                    await http.post(
                        f"/api/tool-input/{question_id}/decision",
                        json={"decision": "accept", "answers": {"color": {"answers": ["Blue"]}}},
                    )
                ),
                "ToolInputDecisionSuccessResponse",
            )
            check(
                body(
                    await http.post(
                        f"/api/tool-input/{question_id}/decision", json={"decision": "cancel"}
                    ),
                    404,
                ),
                "ToolInputDecisionNotFoundResponse",
            )
            await turn_done(host, sid, turn)
            await until(of_type("tool_user_input_resolved"), "the answer's event")

            # The transcript keeps a row per request, in the original's form.
            detail = check(body(await http.get(f"/api/sessions/{sid}")), "ReadSessionResponse")
            request_rows = {
                row["messageId"]: row["type"]
                for row in detail["transcript"]
                if row["type"].endswith((".request", ".resolved"))
            }
            assert request_rows == {
                f"approval-{approval_id}": "approval.resolved",
                f"tool-call-{request_id}": "tool_call.resolved",
                f"tool-input-{question_id}": "tool_input.resolved",
            }
        assert host.model.errors == []
    types = {frame["type"] for frame in seen}
    for expected in ("approval_resolved", "tool_call_resolved", "tool_user_input_resolved"):
        assert expected in types, expected
    check_frames(seen)

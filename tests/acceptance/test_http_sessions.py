"""Sessions, turns, controls and settings over HTTP: real uvicorn, the real codex binary and a
ScriptedModel (tests/acceptance/http_fixtures.py).

Each test walks one area through the wire, the way a client of the original would, and
checks the bodies and status codes of the original (plus ours: 400 for bad input, the
paginated transcript). Turns are awaited through the Manager's events (`wait_for_turn`,
`next_event`), never by polling, and every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from codex_manager_core import Event, TurnStatus
from codex_manager_core.testing import Reply, Stall
from codex_manager_core.testing.scripted_model import RecordedRequest, Step
from tests.acceptance.http_fixtures import Host, running_host
from tests.integration.manager_fixtures import next_event

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0  # bound for anything the runtime does in well under a second


@pytest.fixture
def anyio_backend() -> str:
    """uvicorn runs on asyncio only."""
    return "asyncio"


def echo(request: RecordedRequest) -> Step:
    return Reply(f"echo: {request.last_user_text}")


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    """The JSON body, after checking the status code (the body is in the message if not)."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}: expected {status}, got "
        f"{response.status_code}: {response.text}"
    )
    body: dict[str, Any] = response.json()
    return body


async def send_and_wait(host: Host, sid: str, text: str, **extra: Any) -> str:
    """POST a message (202), wait for its turn to end; the final assistant text."""
    accepted = ok(
        await host.http.post(f"/api/sessions/{sid}/messages", json={"text": text, **extra}), 202
    )
    assert accepted["status"] == "accepted"
    assert accepted["sessionId"] == sid
    result = await host.manager.turns.wait(sid, accepted["turnId"], timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED, result
    assert result.final_text is not None
    return result.final_text


async def all_pages(
    http: httpx.AsyncClient, path: str, key: str, *, limit: int, **params: Any
) -> list[dict[str, Any]]:
    """Every item of a cursor-paginated list."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        page = ok(await http.get(path, params=query))
        assert len(page[key]) <= limit
        items.extend(page[key])
        cursor = page["nextCursor"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} kept returning a nextCursor")


def of_type(type_: str, sid: str) -> Callable[[Event], bool]:
    return lambda event: event.type == type_ and event.thread_id == sid


def delta_of(turn_id: str) -> Callable[[Event], bool]:
    return lambda event: (
        event.type == "app_server.item.agent_message.delta"
        and event.payload["params"]["turnId"] == turn_id
    )


# --------------------------------------------------------------------------- lifecycle


async def test_session_lifecycle(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo) as host:
        http = host.http
        created = ok(await http.post("/api/sessions", json={"title": "HTTP chat"}))
        session = created["session"]
        sid = session["sessionId"]
        assert created["status"] == "ok"
        assert created["thread"]["id"] == sid == session["threadId"]
        assert (session["title"], session["materialized"], session["archived"]) == (
            "HTTP chat",
            False,
            False,
        )

        # Before the first message: readable, empty, and codex has nothing to archive.
        detail = ok(await http.get(f"/api/sessions/{sid}"))
        assert detail["session"]["materialized"] is False
        assert detail["transcript"] == []
        assert detail["thread"]["id"] == sid
        refused = ok(await http.post(f"/api/sessions/{sid}/archive"), 409)
        assert (refused["status"], refused["code"], refused["sessionId"]) == (
            "not_materialized",
            "not_materialized",
            sid,
        )
        idle = ok(await http.post(f"/api/sessions/{sid}/interrupt", json={}), 409)
        assert (idle["status"], idle["code"], idle["sessionId"]) == (
            "no_active_turn",
            "no_active_turn",
            sid,
        )

        assert await send_and_wait(host, sid, "hello there") == "echo: hello there"
        detail = ok(await http.get(f"/api/sessions/{sid}"))
        assert detail["session"]["materialized"] is True
        assert detail["session"]["preview"] == "hello there"
        said = [(row["role"], row["content"]) for row in detail["transcript"]]
        assert said == [("user", "hello there"), ("assistant", "echo: hello there")]

        renamed = ok(await http.post(f"/api/sessions/{sid}/rename", json={"title": "Renamed"}))
        assert renamed["session"]["title"] == "Renamed"
        bad = ok(await http.post(f"/api/sessions/{sid}/rename", json={"title": "  "}), 400)
        assert (bad["status"], bad["code"]) == ("error", "invalid_request")

        # Listing: pages with a cursor, workers hidden unless asked for.
        others = [
            ok(await http.post("/api/sessions", json={"title": f"other {i}"}))["session"]
            for i in range(3)
        ]
        worker = await host.manager.sessions.create(title="worker", system_owned=True)
        users = {sid, *(other["sessionId"] for other in others)}
        listed = await all_pages(http, "/api/sessions", "sessions", limit=2)
        assert [s["sessionId"] for s in listed if s["sessionId"] in users] == [
            s["sessionId"] for s in listed
        ]
        assert len(listed) == 4
        assert {s["sessionId"] for s in listed} == users
        page = ok(await http.get("/api/sessions", params={"limit": 200}))
        assert page["data"] == page["sessions"]  # the original's key too
        assert page["nextCursor"] is None
        with_workers = await all_pages(
            http, "/api/sessions", "sessions", limit=3, includeSystemOwned="true"
        )
        assert {s["sessionId"] for s in with_workers} == {*users, worker.session_id}
        assert ok(await http.get("/api/sessions", params={"limit": 0}), 400)["code"] == (
            "invalid_request"
        )
        assert ok(await http.get("/api/sessions", params={"limit": 201}), 400)["code"] == (
            "invalid_request"
        )
        assert ok(await http.get("/api/sessions", params={"cursor": "garbage"}), 400)["code"] == (
            "invalid_request"
        )

        # A worker session can be read, never changed.
        assert ok(await http.get(f"/api/sessions/{worker.session_id}"))["session"]["systemOwned"]
        forbidden = ok(
            await http.post(f"/api/sessions/{worker.session_id}/rename", json={"title": "x"}), 403
        )
        assert (forbidden["code"], forbidden["sessionId"]) == ("system_session", worker.session_id)
        forbidden = ok(
            await http.post(f"/api/sessions/{worker.session_id}/messages", json={"text": "x"}), 403
        )
        assert forbidden["code"] == "system_session"

        # Archive (now that there is a rollout) and back.
        archived = ok(await http.post(f"/api/sessions/{sid}/archive"))
        assert (archived["status"], archived["session"]["archived"]) == ("ok", True)
        live = await all_pages(http, "/api/sessions", "sessions", limit=200)
        assert sid not in {s["sessionId"] for s in live}
        gone_by = await all_pages(http, "/api/sessions", "sessions", limit=200, archived="true")
        assert [s["sessionId"] for s in gone_by] == [sid]
        unarchived = ok(await http.post(f"/api/sessions/{sid}/unarchive"))
        assert unarchived["session"]["archived"] is False
        assert unarchived["thread"]["id"] == sid
        resumed = ok(await http.post(f"/api/sessions/{sid}/resume", json={}))
        assert resumed["thread"]["id"] == sid == resumed["session"]["sessionId"]
        assert await send_and_wait(host, sid, "back again") == "echo: back again"

        # Projects: assign, unknown project, unassign.
        project = ok(await http.post("/api/projects", json={"name": "Alpha"}))["project"]
        assigned = ok(
            await http.post(
                f"/api/sessions/{sid}/project", json={"projectId": project["projectId"]}
            )
        )
        assert assigned == {
            "status": "ok",
            "sessionId": sid,
            "projectId": project["projectId"],
            "previousProjectId": None,
        }
        in_project = ok(await http.get("/api/sessions", params={"projectId": project["projectId"]}))
        assert [s["sessionId"] for s in in_project["sessions"]] == [sid]
        missing = ok(
            await http.post(f"/api/sessions/{sid}/project", json={"projectId": "no-such"}), 404
        )
        assert (missing["status"], missing["code"], missing["projectId"]) == (
            "project_not_found",
            "project_not_found",
            "no-such",
        )
        unassigned = ok(await http.post(f"/api/sessions/{sid}/project", json={"projectId": None}))
        assert (unassigned["projectId"], unassigned["previousProjectId"]) == (
            None,
            project["projectId"],
        )

        # Fork: a new session with the history.
        fork = ok(await http.post(f"/api/sessions/{sid}/fork", json={}))
        fork_id = fork["session"]["sessionId"]
        assert fork_id != sid
        assert (fork["sourceSessionId"], fork["session"]["title"]) == (sid, "Renamed (fork)")
        assert fork["thread"]["id"] == fork_id
        assert await send_and_wait(host, fork_id, "in the fork") == "echo: in the fork"
        history = str(host.model.requests[-1].input)
        assert "hello there" in history
        assert "back again" in history

        # Rollback drops the last turn from the runtime's history.
        before = len((await host.manager.sessions.read_thread(sid))["turns"])
        rolled = ok(await http.post(f"/api/sessions/{sid}/rollback", json={}))
        assert (rolled["status"], rolled["numTurns"]) == ("ok", 1)
        assert len((await host.manager.sessions.read_thread(sid))["turns"]) == before - 1
        too_far = ok(await http.post(f"/api/sessions/{sid}/rollback", json={"numTurns": 99}), 400)
        assert too_far["code"] == "invalid_request"
        zero = ok(await http.post(f"/api/sessions/{sid}/rollback", json={"numTurns": 0}), 400)
        assert zero["code"] == "invalid_request"

        # A supplemental row (the original's epoch-millisecond times are accepted).
        upserted = ok(
            await http.post(
                f"/api/sessions/{sid}/transcript/upsert",
                json={
                    "messageId": "note-1",
                    "turnId": "notes",
                    "role": "system",
                    "type": "reviewer.note",
                    "content": "looks fine",
                    "status": "complete",
                    "startedAt": 1_764_000_000_000,
                },
            )
        )
        assert upserted["entry"]["startedAt"] == 1_764_000_000_000
        rows = ok(await http.get(f"/api/sessions/{sid}"))["transcript"]
        assert [row["content"] for row in rows if row["messageId"] == "note-1"] == ["looks fine"]
        bad_row = ok(
            await http.post(
                f"/api/sessions/{sid}/transcript/upsert",
                json={"messageId": "x", "turnId": "t", "role": "robot", "type": "t", "content": ""},
            ),
            400,
        )
        assert bad_row["code"] == "invalid_request"

        # Hard delete: 200 once, then 410 with the original's body, everywhere.
        deleted = ok(await http.delete(f"/api/sessions/{sid}"))
        assert (deleted["status"], deleted["sessionId"], deleted["title"]) == ("ok", sid, "Renamed")
        # Its rollout stays while the fork reads its history from it (codex forks by
        # reference; see test_http_wire_defects.py), so nothing was removed yet.
        assert deleted["deletedFileCount"] == 0
        for response in (
            await http.get(f"/api/sessions/{sid}"),
            await http.post(f"/api/sessions/{sid}/messages", json={"text": "anyone?"}),
            await http.delete(f"/api/sessions/{sid}"),
        ):
            gone = ok(response, 410)
            assert gone["status"] == "deleted"
            assert (gone["sessionId"], gone["title"]) == (sid, "Renamed")
            assert gone["deletedAt"].endswith("Z")
            assert "deleted" in gone["message"]
        assert ok(await http.get("/api/sessions/no-such-session"), 404) == {
            "status": "not_found",
            "code": "not_found",
            "message": "no session 'no-such-session'; list sessions to see the ids",
            "sessionId": "no-such-session",
        }
        # The fork does not depend on the deleted original being a session; deleting it
        # removes what was kept.
        assert await send_and_wait(host, fork_id, "still here") == "echo: still here"
        assert ok(await http.delete(f"/api/sessions/{fork_id}"))["deletedFileCount"] >= 1
        assert not [p for p in (host.root / "codex-home").rglob(f"*{sid}*") if p.is_file()]
        assert host.model.errors == []


async def test_messages_bad_input_and_dynamic_tool_limit(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo) as host:
        http = host.http
        sid = ok(await http.post("/api/sessions", json={}))["session"]["sessionId"]
        for body, field in (
            ({}, "text"),
            ({"text": "   "}, "text"),
            ({"text": "x", "approvalPolicy": "sometimes"}, "approvalPolicy"),
            ({"text": "x", "effort": "extreme"}, "effort"),
            ({"input": [{"type": "video", "url": "x"}]}, "input"),
            ({"text": "x", "dynamicTools": [{"name": "late"}]}, "dynamicTools"),
        ):
            refused = ok(await http.post(f"/api/sessions/{sid}/messages", json=body), 400)
            assert refused["code"] == "invalid_request", refused
            assert field in {issue["path"][0] for issue in refused["issues"]}, refused
        malformed = await http.post(
            f"/api/sessions/{sid}/messages",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert ok(malformed, 400)["code"] == "invalid_request"
        too_many = [{"name": f"tool_{i}", "inputSchema": {"type": "object"}} for i in range(129)]
        refused = ok(await http.post("/api/sessions", json={"dynamicTools": too_many}), 400)
        assert refused["issues"][0]["path"] == ["dynamicTools"]
        refused = ok(await http.post("/api/sessions", json={"cwd": "relative/dir"}), 400)
        assert refused["issues"][0]["path"] == ["cwd"]

        # Text plus input items make one message; nothing was sent for the refusals above.
        text = await send_and_wait(
            host, sid, "first part", input=[{"type": "text", "text": "second part"}]
        )
        assert text == "echo: first partsecond part"  # one user message of two text parts
        assert len(host.model.requests) == 1


async def test_steer_interrupt_and_transcript_pages(tmp_path: Path) -> None:
    script = [Stall("thinking"), Reply("after steer"), Stall("again"), Reply("fine")]
    async with running_host(tmp_path, script) as host:
        http, manager = host.http, host.manager
        sid = ok(await http.post("/api/sessions", json={}))["session"]["sessionId"]
        events = manager.events.subscribe(thread_ids=[sid])

        turn = ok(await http.post(f"/api/sessions/{sid}/messages", json={"text": "start"}), 202)
        turn_id = turn["turnId"]
        await next_event(events, delta_of(turn_id), timeout=WAIT, message="the stalled reply")
        busy = ok(await http.post(f"/api/sessions/{sid}/rollback", json={}), 409)
        assert busy["code"] == "invalid_state"
        steered = ok(
            await http.post(
                f"/api/sessions/{sid}/turns/{turn_id}/steer", json={"input": "steered text"}
            )
        )
        assert (steered["status"], steered["turnId"]) == ("ok", turn_id)
        result = await manager.turns.wait(sid, turn_id, timeout=WAIT)
        assert (result.status, result.final_text) == (TurnStatus.COMPLETED, "after steer")
        assert host.model.requests[-1].last_user_text == "steered text"

        turn = ok(await http.post(f"/api/sessions/{sid}/messages", json={"text": "stall"}), 202)
        turn_id = turn["turnId"]
        await next_event(events, delta_of(turn_id), timeout=WAIT, message="the second stall")
        interrupted = ok(await http.post(f"/api/sessions/{sid}/interrupt"))
        assert interrupted == {"status": "ok", "sessionId": sid, "turnId": turn_id}
        result = await manager.turns.wait(sid, turn_id, timeout=WAIT)
        assert result.status is TurnStatus.INTERRUPTED
        assert ok(await http.post(f"/api/sessions/{sid}/interrupt", json={}), 409)["status"] == (
            "no_active_turn"
        )
        assert await send_and_wait(host, sid, "go on") == "fine"

        # The whole transcript (GET session) equals the concatenated pages.
        whole = ok(await http.get(f"/api/sessions/{sid}"))["transcript"]
        assert len(whole) >= 6
        for limit in (1, 2, 5):
            pages = await all_pages(http, f"/api/sessions/{sid}/transcript", "entries", limit=limit)
            assert pages == whole
        first = ok(await http.get(f"/api/sessions/{sid}/transcript", params={"limit": 2}))
        assert (first["total"], first["sessionId"], len(first["entries"])) == (len(whole), sid, 2)
        for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 1001}):
            refused = ok(await http.get(f"/api/sessions/{sid}/transcript", params=params), 400)
            assert refused["code"] == "invalid_request"
        assert host.model.errors == []


# --------------------------------------------------------------------------- controls


async def test_controls_and_settings(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo, defaults_locked=True) as host:
        http = host.http
        sid = ok(await http.post("/api/sessions", json={"approvalPolicy": "on-request"}))[
            "session"
        ]["sessionId"]
        base = f"/api/sessions/{sid}"

        state = ok(await http.get(f"{base}/session-controls"))
        assert state["controls"] == {
            "model": None,
            "approvalPolicy": "on-request",
            "networkAccess": "restricted",
            "filesystemSandbox": "read-only",
            "settings": {},
        }
        assert state["defaults"]["approvalPolicy"] == "untrusted"
        assert (state["defaultsEditable"], state["defaultLockReason"]) == (
            False,
            "Managed by harness configuration",
        )

        # The session scope: apply, then the same again is "unchanged".
        tuple_ = {"approvalPolicy": "never", "filesystemSandbox": "workspace-write"}
        body = {"scope": "session", "controls": tuple_, "actor": "tester", "source": "test"}
        applied = ok(await http.post(f"{base}/session-controls", json=body))
        assert applied["status"] == "ok"
        assert applied["applied"]["approvalPolicy"] == "never"
        assert applied["previous"]["approvalPolicy"] == "on-request"
        assert applied["controls"] == applied["applied"]
        assert "by tester via test" in applied["summary"]
        again = ok(await http.post(f"{base}/session-controls", json=body))
        assert again["status"] == "unchanged"
        invalid = {"scope": "session", "controls": {"approvalPolicy": "sometimes"}}
        refused = ok(await http.post(f"{base}/session-controls", json=invalid), 400)
        assert refused["code"] == "invalid_request"

        # The default scope is locked by the host's configuration.
        locked = ok(
            await http.post(
                f"{base}/session-controls",
                json={"scope": "default", "controls": {"approvalPolicy": "never"}},
            ),
            423,
        )
        assert (locked["status"], locked["scope"], locked["sessionId"]) == (
            "locked",
            "default",
            sid,
        )
        assert locked["defaults"]["approvalPolicy"] == "untrusted"

        # The legacy single-field setter.
        policy = ok(
            await http.post(f"{base}/approval-policy", json={"approvalPolicy": "untrusted"})
        )
        change = policy.pop("change")  # ours: the whole change, for the remote client
        assert (change["status"], change["applied"]["approvalPolicy"]) == ("ok", "untrusted")
        assert policy == {
            "status": "ok",
            "sessionId": sid,
            "approvalPolicy": "untrusted",
            "changed": True,
        }
        assert ok(await http.post(f"{base}/approval-policy", json={"approvalPolicy": "x"}), 400)

        # Settings: one key, merge, replace, delete.
        value = {"diffExplainability": True, "threshold": "med"}
        set_one = ok(
            await http.post(f"{base}/settings", json={"key": "supervisor", "value": value})
        )
        assert (set_one["status"], set_one["key"], set_one["settings"]) == (
            "ok",
            "supervisor",
            {"supervisor": value},
        )
        assert ok(await http.get(f"{base}/settings", params={"key": "supervisor"})) == {
            "status": "ok",
            "sessionId": sid,
            "scope": "session",
            "key": "supervisor",
            "found": True,
            "value": value,
        }
        absent = ok(await http.get(f"{base}/settings", params={"key": "nope"}))
        assert (absent["found"], absent["value"]) == (False, None)
        merged = ok(await http.post(f"{base}/settings", json={"settings": {"a": 1, "b": None}}))
        assert merged["settings"] == {"supervisor": value, "a": 1, "b": None}
        replaced = ok(
            await http.post(f"{base}/settings", json={"settings": {"c": [1]}, "mode": "replace"})
        )
        assert replaced["settings"] == {"c": [1]}
        assert ok(await http.get(f"{base}/settings"))["settings"] == {"c": [1]}
        for bad in (
            {"key": "a", "value": 1, "settings": {"b": 2}},
            {"key": "a"},
            {},
            {"settings": {"a": 1}, "mode": "sideways"},
        ):
            assert ok(await http.post(f"{base}/settings", json=bad), 400)["code"] == (
                "invalid_request"
            )
        removed = ok(await http.delete(f"{base}/settings/c", params={"actor": "tester"}))
        assert (removed["status"], removed["removed"], removed["settings"]) == ("ok", True, {})
        again_removed = ok(await http.delete(f"{base}/settings/c"))
        assert (again_removed["status"], again_removed["removed"]) == ("unchanged", False)
        for response in (
            await http.post(f"{base}/settings", json={"scope": "default", "key": "k", "value": 1}),
            await http.delete(f"{base}/settings/k", params={"scope": "default"}),
        ):
            denied = ok(response, 423)
            assert (denied["status"], denied["scope"], denied["settings"]) == (
                "locked",
                "default",
                {},
            )

        # The next turn runs with the session's controls; every change is in the transcript.
        assert await send_and_wait(host, sid, "hello") == "echo: hello"
        transcript = ok(await http.get(base))["transcript"]
        audits = [row for row in transcript if row["type"] == "session.controls.updated"]
        assert len(audits) == 6  # controls, policy, set, merge, replace, delete
        assert host.model.errors == []


async def test_controls_of_unknown_and_deleted_sessions(tmp_path: Path) -> None:
    async with running_host(tmp_path, echo) as host:
        http = host.http
        sid = ok(await http.post("/api/sessions", json={}))["session"]["sessionId"]
        ok(await http.delete(f"/api/sessions/{sid}"))
        for method, path, body in (
            ("GET", "session-controls", None),
            ("POST", "session-controls", {"controls": {"approvalPolicy": "never"}}),
            ("GET", "settings", None),
            ("POST", "settings", {"key": "a", "value": 1}),
            ("DELETE", "settings/a", None),
            ("POST", "approval-policy", {"approvalPolicy": "never"}),
        ):
            gone = ok(await http.request(method, f"/api/sessions/{sid}/{path}", json=body), 410)
            assert (gone["status"], gone["sessionId"]) == ("deleted", sid)
            missing = ok(
                await http.request(method, f"/api/sessions/unknown/{path}", json=body), 404
            )
            assert (missing["status"], missing["sessionId"]) == ("not_found", "unknown")

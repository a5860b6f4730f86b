"""The Store contract: one suite, run against every adapter (MemoryStore, SqliteStore).

Each test runs four times: {memory, sqlite} x {asyncio, trio}. Anything an adapter does
differently from the others is a bug in that adapter (or a gap in this suite).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core.models import (
    Controls,
    Event,
    EventDraft,
    InteractiveRequest,
    Project,
    RequestKind,
    RequestStatus,
    SessionRecord,
    TitleSource,
    Tombstone,
    TranscriptEntry,
    TurnRecord,
    TurnStatus,
)
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    Batch,
    CompactDeltas,
    DeleteProject,
    DeleteSession,
    EventQuery,
    Mutation,
    PatchSession,
    PatchTurn,
    PutDefaultControls,
    PutProject,
    PutRequest,
    PutSession,
    PutTranscriptEntry,
    PutTurn,
    RequestQuery,
    SessionQuery,
    SetMeta,
    StoreConflict,
    TransitionRequest,
)
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    adapter: Store = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    await adapter.open()
    try:
        yield adapter
    finally:
        await adapter.close()


# ---------------------------------------------------------------------- builders


def session(session_id: str, updated: float = 0.0, **changes: Any) -> SessionRecord:
    record = SessionRecord(
        session_id=session_id,
        title=f"title of {session_id}",
        title_source=TitleSource.DEFAULT,
        cwd="/work",
        project_id=None,
        archived=False,
        system_owned=False,
        materialized=True,
        status="idle",
        model="gpt-test",
        preview="hello",
        created_at=at(0),
        updated_at=at(updated),
        controls=Controls(model="m", settings={"theme": {"dark": True}, "n": [1, 2]}),
        dynamic_tools=({"name": "lookup", "inputSchema": {"type": "object"}},),
    )
    return attrs.evolve(record, **changes)


def request(request_id: str, **changes: Any) -> InteractiveRequest:
    record = InteractiveRequest(
        request_id=request_id,
        kind=RequestKind.APPROVAL,
        method="item/commandExecution/requestApproval",
        generation=1,
        rpc_id=7,
        thread_id="t1",
        turn_id="turn1",
        item_id="item1",
        params={"command": ["ls", "-la"], "cwd": "/work"},
        status=RequestStatus.PENDING,
        created_at=at(0),
    )
    return attrs.evolve(record, **changes)


def turn(turn_id: str, thread_id: str = "t1", started: float = 0.0, **changes: Any) -> TurnRecord:
    record = TurnRecord(
        turn_id=turn_id, thread_id=thread_id, status=TurnStatus.IN_PROGRESS, started_at=at(started)
    )
    return attrs.evolve(record, **changes)


def entry(message_id: str, content: str = "text", **changes: Any) -> TranscriptEntry:
    record = TranscriptEntry(
        message_id=message_id,
        turn_id="turn1",
        role="assistant",
        type="agentMessage",
        content=content,
        details={"k": [1, "two"]},
        started_at=at(1),
    )
    return attrs.evolve(record, **changes)


def project(project_id: str, name: str, created: float = 0.0) -> Project:
    return Project(
        project_id=project_id,
        name=name,
        working_directory=f"/p/{project_id}",
        created_at=at(created),
        updated_at=at(created + 1),
    )


def draft(
    type_: str = "app_server.item.started",
    thread_id: str | None = "t1",
    payload: Any = None,
    **changes: Any,
) -> EventDraft:
    return EventDraft(
        type=type_,
        thread_id=thread_id,
        payload={"n": 1} if payload is None else payload,
        at=changes.pop("at_", at(0)),
        **changes,
    )


def events(count: int, type_: str = "test.event", thread_id: str | None = "t1") -> Batch:
    return Batch(events=tuple(draft(type_, thread_id, {"i": i}) for i in range(count)))


async def all_events(store: Store, **query: Any) -> list[Event]:
    return await store.read_events(EventQuery(limit=1_000_000, **query))


async def seqs(store: Store, **query: Any) -> list[int]:
    return [event.seq for event in await all_events(store, **query)]


# ---------------------------------------------------------------------- basics


async def test_a_new_store_is_empty(store: Store) -> None:
    assert await store.last_seq() == 0
    assert await all_events(store) == []
    assert await store.get_meta("generation") is None
    assert await store.get_session("s1") is None
    assert await store.get_project("p1") is None
    assert await store.find_project_by_name("x") is None
    assert await store.list_projects() == []
    assert await store.get_tombstone("s1") is None
    assert await store.get_default_controls() is None
    assert await store.get_turn("turn1") is None
    assert await store.list_turns("t1") == []
    assert await store.get_request("r1") is None
    assert await store.list_requests(RequestQuery()) == []
    assert await store.list_transcript_entries("t1") == []
    page = await store.list_sessions(SessionQuery())
    assert (page.items, page.next_cursor) == ((), None)
    assert await store.count_sessions(SessionQuery(archived=None)) == 0
    stats = await store.stats()
    assert (stats.events, stats.last_seq, stats.sessions, stats.projects) == (0, 0, 0, 0)
    assert stats.open_requests == 0
    assert await store.apply(Batch()) == []
    assert await store.last_seq() == 0


async def test_store_satisfies_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


# ---------------------------------------------------------------------- the ledger


async def test_seqs_are_consecutive_across_batches(store: Store) -> None:
    returned: list[Event] = []
    for size in (1, 5, 0, 3, 200, 1):
        batch = events(size)
        if size == 0:  # a batch of mutations only consumes no seq
            batch = Batch(mutations=(SetMeta("k", "v"),))
        stored = await store.apply(batch)
        assert len(stored) == size
        if returned and stored:
            assert stored[0].seq == returned[-1].seq + 1
        returned += stored
    assert [e.seq for e in returned] == list(range(1, 211))
    assert await store.last_seq() == 210
    assert await all_events(store) == returned


async def test_stored_events_keep_every_field(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    drafts = (
        EventDraft(
            type="app_server.item.agent_message.delta",
            thread_id="t1",
            payload={"delta": "héllo \u2603 \U0001f600", "nested": {"list": [1, 2.5, None, True]}},
            at=datetime(2026, 1, 1, 14, 0, 0, 123456, tzinfo=plus_two),
            item_id="item-1",
            delta=True,
        ),
        EventDraft(type="session.created", thread_id=None, payload=None, at=at(5), system=False),
        EventDraft(type="worker.note", thread_id="sys", payload=["a", 1], at=at(6), system=True),
        EventDraft(type="x", thread_id="t1", payload="just a string", at=at(7)),
    )
    stored = await store.apply(Batch(events=drafts))
    assert [e.seq for e in stored] == [1, 2, 3, 4]
    first = stored[0]
    assert first.at == datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert first.at.tzinfo is UTC
    assert (first.type, first.thread_id, first.item_id, first.delta, first.system) == (
        "app_server.item.agent_message.delta",
        "t1",
        "item-1",
        True,
        False,
    )
    assert first.payload == drafts[0].payload
    assert stored[1].payload is None
    assert stored[2].system is True
    read = await all_events(store, thread_ids=frozenset({"t1", "sys"}))
    read_all = await all_events(store)
    assert read == [stored[0], stored[2], stored[3]]
    assert read_all == [stored[0], stored[1], stored[3]]
    assert all(event.at.tzinfo is UTC for event in read)


async def test_read_events_since_until_limit(store: Store) -> None:
    await store.apply(events(30))
    assert await seqs(store, since=0) == list(range(1, 31))
    assert await seqs(store, since=10) == list(range(11, 31))
    assert await seqs(store, since=10, until=15) == [11, 12, 13, 14, 15]
    assert await seqs(store, since=30) == []
    assert await seqs(store, since=99) == []
    page = await store.read_events(EventQuery(since=3, limit=4))
    assert [e.seq for e in page] == [4, 5, 6, 7]
    assert await store.read_events(EventQuery(limit=0)) == []
    # Paging with `since = last seq of the previous page` visits everything exactly once.
    cursor, visited = 0, []
    while chunk := await store.read_events(EventQuery(since=cursor, limit=7)):
        visited += [e.seq for e in chunk]
        cursor = chunk[-1].seq
    assert visited == list(range(1, 31))


async def test_read_events_thread_filters_and_the_system_rule(store: Store) -> None:
    threads = [f"t{i}" for i in range(20)]
    drafts: list[EventDraft] = []
    rng = random.Random(7)
    for i in range(300):
        thread = rng.choice([*threads, None])
        system = thread is not None and thread in ("t3", "t4") and i % 2 == 0
        drafts.append(draft("test.e", thread, {"i": i}, system=system))
    stored = await store.apply(Batch(events=tuple(drafts)))

    def expected(thread_ids: Iterable[str] | None, since: int = 0, limit: int = 10**6) -> list[int]:
        wanted = None if thread_ids is None else set(thread_ids)
        out = [
            e.seq
            for e in stored
            if e.seq > since
            and (
                (wanted is None and not e.system) or (wanted is not None and e.thread_id in wanted)
            )
        ]
        return out[:limit]

    # Without a thread filter: every event but the system ones (thread-less ones included).
    assert await seqs(store) == expected(None)
    assert any(e.system for e in stored)
    assert any(e.thread_id is None for e in stored)
    # One, a few, and many threads (the adapters may use different plans for each).
    for chosen in (["t3"], ["t1"], ["t1", "t3", "t9"], threads[:17], threads):
        ids = frozenset(chosen)
        assert await seqs(store, thread_ids=ids) == expected(chosen), chosen
        assert await seqs(store, thread_ids=ids, since=150) == expected(chosen, 150), chosen
        got = await store.read_events(EventQuery(thread_ids=ids, since=20, limit=5))
        assert [e.seq for e in got] == expected(chosen, 20, 5), chosen
    # System events of t3 come only to subscribers naming t3.
    t3_system = [e.seq for e in stored if e.system and e.thread_id == "t3"]
    assert t3_system
    assert set(t3_system) <= set(await seqs(store, thread_ids=frozenset({"t3"})))
    assert not set(t3_system) & set(await seqs(store, thread_ids=frozenset({"t1"})))
    assert await seqs(store, thread_ids=frozenset({"unknown"})) == []
    assert await seqs(store, thread_ids=frozenset()) == []


async def test_read_events_type_prefixes_are_exact_and_case_sensitive(store: Store) -> None:
    types = [
        "app_server.item.started",
        "app_server.item.completed",
        "app_server.items_x",
        "app_serverXitem",
        "App_server.item.started",
        "approval.resolved",
        "a%b.c",
        "a_b.c",
        "axb.c",
        "queue.job.done",
        "session.ünïcode",
    ]
    stored = await store.apply(Batch(events=tuple(draft(t, "t1") for t in types)))
    by_type = {e.type: e.seq for e in stored}

    async def matching(*prefixes: str, **query: Any) -> set[str]:
        found = await all_events(store, type_prefixes=prefixes, **query)
        return {e.type for e in found}

    assert await matching("app_server.item.") == {
        "app_server.item.started",
        "app_server.item.completed",
    }
    assert await matching("app_server.item") == {
        "app_server.item.started",
        "app_server.item.completed",
        "app_server.items_x",
    }
    assert await matching("a_b") == {"a_b.c"}  # `_` is not a wildcard
    assert await matching("a%") == {"a%b.c"}  # nor is `%`
    assert await matching("app") == {t for t in types if t.startswith("app")}
    assert await matching("App") == {"App_server.item.started"}
    assert await matching("session.ün") == {"session.ünïcode"}
    assert await matching("queue.", "approval.") == {"queue.job.done", "approval.resolved"}
    assert await matching("") == set(types)
    assert await matching() == set()
    assert await matching("nothing") == set()
    got = await matching("app_server.", thread_ids=frozenset({"t1"}), since=1)
    assert got == {"app_server.item.completed", "app_server.items_x"}
    assert by_type["app_server.item.started"] == 1


async def test_an_event_payload_that_is_not_json_writes_nothing(store: Store) -> None:
    await store.apply(events(2))
    bad = Batch(
        mutations=(PutSession(session("s1")), SetMeta("k", "v")),
        events=(draft("ok"), draft("bad", payload={"when": datetime.now(UTC)})),
    )
    with pytest.raises(TypeError, match="JSON"):
        await store.apply(bad)
    with pytest.raises(TypeError, match="JSON"):
        await store.apply(Batch(events=(draft(payload={"n": float("nan")}),)))
    with pytest.raises(ValueError, match="timezone"):
        await store.apply(Batch(events=(draft(at_=datetime(2026, 1, 1)),)))
    assert await store.get_session("s1") is None
    assert await store.get_meta("k") is None
    assert await store.last_seq() == 2
    assert [e.seq for e in await store.apply(events(1))] == [3]


# ---------------------------------------------------------------------- atomicity


async def test_a_failed_transition_writes_nothing_and_consumes_no_seq(store: Store) -> None:
    await store.apply(
        Batch(
            mutations=(
                PutSession(session("keep")),
                PutRequest(request("r1", thread_id="keep")),
                PutTranscriptEntry("keep", entry("m1", "original")),
                PutTurn(turn("turn-keep", "keep")),
                SetMeta("k", "before"),
            ),
            events=(draft("setup"), draft("setup")),
        )
    )
    await store.apply(Batch(events=(draft("item.delta", item_id="i1", delta=True, at_=at(0)),)))
    await store.apply(Batch(events=(draft("app_server.item.completed", item_id="i1", at_=at(1)),)))
    snapshot = await everything(store)

    failing = Batch(
        mutations=(
            PutSession(session("new")),
            PatchSession("keep", {"title": "changed"}),
            PutTranscriptEntry("keep", entry("m1", "replaced")),
            PutTranscriptEntry("keep", entry("m2")),
            PatchTurn("turn-keep", {"status": TurnStatus.COMPLETED}),
            PutProject(project("p1", "Project")),
            PutDefaultControls(Controls(model="x")),
            SetMeta("k", "after"),
            CompactDeltas(before=at(100)),
            TransitionRequest("r1", (RequestStatus.PENDING,), RequestStatus.RESOLVING),
            DeleteSession(Tombstone("keep", "keep", at(9))),
            # r1 was just invalidated by DeleteSession: this one conflicts.
            TransitionRequest("r1", (RequestStatus.RESOLVING,), RequestStatus.RESOLVED),
        ),
        events=tuple(draft("lost") for _ in range(5)),
    )
    with pytest.raises(StoreConflict) as caught:
        await store.apply(failing)
    assert caught.value.current == "invalidated"
    assert caught.value.expected == ("resolving",)
    assert "r1" in caught.value.key
    assert await everything(store) == snapshot
    assert [e.seq for e in await store.apply(events(2))] == [5, 6]


async def test_a_transition_of_a_missing_request_conflicts(store: Store) -> None:
    with pytest.raises(StoreConflict) as caught:
        await store.apply(
            Batch(
                mutations=(
                    PutSession(session("s1")),
                    TransitionRequest("nope", (RequestStatus.PENDING,), RequestStatus.RESOLVED),
                ),
                events=(draft(),),
            )
        )
    assert caught.value.current is None
    assert "missing" in str(caught.value)
    assert await store.get_session("s1") is None
    assert await store.last_seq() == 0


async def test_mutations_apply_in_order(store: Store) -> None:
    """A later mutation sees the earlier ones of the same batch."""
    await store.apply(
        Batch(
            mutations=(
                PutRequest(request("r1")),
                TransitionRequest("r1", (RequestStatus.PENDING,), RequestStatus.RESOLVING),
                TransitionRequest(
                    "r1",
                    (RequestStatus.RESOLVING,),
                    RequestStatus.RESOLVED,
                    {"resolution": {"decision": "accept"}, "resolved_at": at(3)},
                ),
                PutSession(session("s1")),
                PatchSession("s1", {"title": "patched"}),
            )
        )
    )
    got = await store.get_request("r1")
    assert got is not None
    assert got.status is RequestStatus.RESOLVED
    assert got.resolution == {"decision": "accept"}
    assert (await store.get_session("s1")) == session("s1", title="patched")


# ---------------------------------------------------------------------- requests


async def test_request_lifecycle_and_exactly_one_winner(store: Store) -> None:
    original = request("1-7", rpc_id=7, expires_at=at(60))
    await store.apply(Batch(mutations=(PutRequest(original),)))
    assert await store.get_request("1-7") == original
    assert (await store.stats()).open_requests == 1

    outcomes: list[str] = []

    async def answer(who: str) -> None:
        try:
            await store.apply(
                Batch(
                    mutations=(
                        TransitionRequest(
                            "1-7",
                            (RequestStatus.PENDING,),
                            RequestStatus.RESOLVING,
                            {"reason": who},
                        ),
                    ),
                    events=(draft("approval.resolving", payload={"by": who}),),
                )
            )
            outcomes.append(f"won:{who}")
        except StoreConflict as exc:
            outcomes.append(f"conflict:{exc.current}")

    async with anyio.create_task_group() as tg:
        for who in ("a", "b", "c", "d", "e"):
            tg.start_soon(answer, who)
    assert sorted(outcomes)[:4] == ["conflict:resolving"] * 4
    winner = next(o for o in outcomes if o.startswith("won:")).removeprefix("won:")
    assert await store.last_seq() == 1
    resolving = await store.get_request("1-7")
    assert resolving is not None
    assert (resolving.status, resolving.reason) == (RequestStatus.RESOLVING, winner)

    await store.apply(
        Batch(
            mutations=(
                TransitionRequest(
                    "1-7",
                    (RequestStatus.PENDING, RequestStatus.RESOLVING),
                    RequestStatus.RESOLVED,
                    {"resolved_at": at(5), "resolution": {"decision": "accept", "by": winner}},
                ),
            )
        )
    )
    resolved = await store.get_request("1-7")
    assert resolved == attrs.evolve(
        original,
        status=RequestStatus.RESOLVED,
        reason=winner,
        resolved_at=at(5),
        resolution={"decision": "accept", "by": winner},
    )
    assert (await store.stats()).open_requests == 0
    with pytest.raises(StoreConflict, match="resolved"):
        await store.apply(
            Batch(
                mutations=(
                    TransitionRequest("1-7", (RequestStatus.PENDING,), RequestStatus.EXPIRED),
                )
            )
        )


async def test_transition_rejects_unknown_or_fixed_fields(store: Store) -> None:
    await store.apply(Batch(mutations=(PutRequest(request("r1")),)))
    for changes in ({"decision": "x"}, {"status": RequestStatus.RESOLVED}, {"request_id": "r2"}):
        with pytest.raises(ValueError, match="request"):
            await store.apply(
                Batch(
                    mutations=(
                        TransitionRequest(
                            "r1", (RequestStatus.PENDING,), RequestStatus.RESOLVED, changes
                        ),
                    ),
                    events=(draft(),),
                )
            )
    assert await store.get_request("r1") == request("r1")
    assert await store.last_seq() == 0


async def test_list_requests_filters_and_order(store: Store) -> None:
    rows = [
        request("1-1", thread_id="t1", turn_id="a", created_at=at(3), generation=1),
        request("1-2", thread_id="t1", turn_id="b", created_at=at(1), generation=1),
        request(
            "2-1",
            thread_id="t2",
            turn_id="c",
            created_at=at(2),
            generation=2,
            kind=RequestKind.USER_INPUT,
            rpc_id="abc",
        ),
        request(
            "2-2",
            thread_id=None,
            turn_id=None,
            item_id=None,
            created_at=at(2),
            generation=2,
            kind=RequestKind.TOOL_CALL,
            status=RequestStatus.RESOLVED,
            resolved_at=at(4),
            resolution={"ok": True},
            rpc_id="5",
        ),
        request("3-1", thread_id="t1", created_at=at(1), generation=3, rpc_id=0),
    ]
    await store.apply(Batch(mutations=tuple(PutRequest(r) for r in rows)))

    async def ids(**query: Any) -> list[str]:
        return [r.request_id for r in await store.list_requests(RequestQuery(**query))]

    # Oldest first; ties keep insertion order.
    assert await ids() == ["1-2", "3-1", "2-1", "2-2", "1-1"]
    assert await ids(thread_id="t1") == ["1-2", "3-1", "1-1"]
    assert await ids(thread_id="t1", turn_id="a") == ["1-1"]
    assert await ids(statuses=(RequestStatus.RESOLVED,)) == ["2-2"]
    assert await ids(statuses=(RequestStatus.PENDING, RequestStatus.RESOLVING)) == [
        "1-2",
        "3-1",
        "2-1",
        "1-1",
    ]
    assert await ids(statuses=()) == []
    assert await ids(kinds=("user_input", "tool_call")) == ["2-1", "2-2"]
    assert await ids(kinds=(RequestKind.APPROVAL,)) == ["1-2", "3-1", "1-1"]
    assert await ids(generation=2) == ["2-1", "2-2"]
    assert await ids(generation_below=3, statuses=(RequestStatus.PENDING,)) == [
        "1-2",
        "2-1",
        "1-1",
    ]
    # JSON-RPC ids keep their type: "5" is not 5.
    by_id = {r.request_id: r for r in await store.list_requests(RequestQuery())}
    assert by_id["2-2"].rpc_id == "5"
    assert by_id["3-1"].rpc_id == 0
    assert by_id["2-1"].rpc_id == "abc"
    assert by_id["2-2"] == rows[3]
    # A replaced request keeps its place among equal created_at.
    await store.apply(Batch(mutations=(PutRequest(attrs.evolve(rows[2], method="m2")),)))
    assert await ids() == ["1-2", "3-1", "2-1", "2-2", "1-1"]


# ---------------------------------------------------------------------- sessions


async def test_put_and_patch_session(store: Store) -> None:
    original = session("s1", project_id="p1", active_turn_id="turn1")
    await store.apply(Batch(mutations=(PutSession(original),)))
    assert await store.get_session("s1") == original

    new_controls = Controls(
        model="other", approval_policy="never", network_access="enabled", settings={"a": 1}
    )
    changes: dict[str, Any] = {
        "title": "Renamed",
        "title_source": TitleSource.USER,
        "updated_at": at(50),
        "archived": True,
        "controls": new_controls,
        "active_turn_id": None,
        "last_turn_id": "turn1",
        "dynamic_tools": (),
        "project_id": None,
        "runtime_thread_id": "t-replacement",
    }
    await store.apply(Batch(mutations=(PatchSession("s1", changes),)))
    assert await store.get_session("s1") == attrs.evolve(original, **changes)
    # Enum fields accept their value too, and come back as the enum.
    await store.apply(Batch(mutations=(PatchSession("s1", {"title_source": "runtime"}),)))
    got = await store.get_session("s1")
    assert got is not None
    assert got.title_source is TitleSource.RUNTIME

    # A patch of a missing session does not create it.
    await store.apply(Batch(mutations=(PatchSession("ghost", {"title": "x"}),)))
    assert await store.get_session("ghost") is None
    # An empty patch is fine.
    await store.apply(Batch(mutations=(PatchSession("s1", {}),)))
    # Replacing the whole record.
    await store.apply(Batch(mutations=(PutSession(original),)))
    assert await store.get_session("s1") == original


async def test_patch_with_unknown_fields_is_a_programming_error(store: Store) -> None:
    await store.apply(Batch(mutations=(PutSession(session("s1")), PutTurn(turn("u1")))))
    bad: list[Mutation] = [
        PatchSession("s1", {"titel": "typo"}),
        PatchSession("ghost", {"titel": "typo"}),
        PatchSession("s1", {"session_id": "s2"}),
        PatchTurn("u1", {"state": "completed"}),
        PatchTurn("ghost", {"state": "completed"}),
        PatchTurn("u1", {"turn_id": "u2"}),
    ]
    for mutation in bad:
        with pytest.raises(ValueError, match=r"titel|state|session_id|turn_id"):
            await store.apply(Batch(mutations=(mutation,), events=(draft(),)))
    with pytest.raises(TypeError):
        await store.apply(Batch(mutations=(PatchSession("s1", {"archived": "yes"}),)))
    with pytest.raises(ValueError, match="TitleSource"):
        await store.apply(Batch(mutations=(PatchSession("s1", {"title_source": "bogus"}),)))
    with pytest.raises(ValueError, match="timezone"):
        await store.apply(Batch(mutations=(PatchSession("s1", {"updated_at": datetime.now()}),)))
    assert await store.get_session("s1") == session("s1")
    assert await store.last_seq() == 0


async def test_session_listing_order_keyset_paging_and_filters(store: Store) -> None:
    rng = random.Random(1234)
    rows: list[SessionRecord] = []
    for i in range(230):
        rows.append(
            session(
                f"s{rng.randrange(10**6):06d}-{i}",
                updated=float(rng.randrange(12)),  # many equal updated_at values
                archived=rng.random() < 0.25,
                system_owned=rng.random() < 0.2,
                project_id=rng.choice([None, None, "p1", "p2"]),
            )
        )
    rng.shuffle(rows)
    for start in range(0, len(rows), 50):
        await store.apply(Batch(mutations=tuple(PutSession(r) for r in rows[start : start + 50])))

    def expected(query: SessionQuery) -> list[str]:
        chosen = [
            r
            for r in rows
            if (query.archived is None or r.archived == query.archived)
            and (query.include_system_owned or not r.system_owned)
            and (query.project_id is None or r.project_id == (query.project_id or None))
        ]
        chosen.sort(key=lambda r: (r.updated_at, r.session_id), reverse=True)
        return [r.session_id for r in chosen]

    queries = [
        SessionQuery(archived=archived, include_system_owned=system, project_id=project_id)
        for archived in (False, True, None)
        for system in (False, True)
        for project_id in (None, "", "p1")
    ]
    for query in queries:
        want = expected(query)
        assert await store.count_sessions(query) == len(want), query
        assert await store.count_sessions(attrs.evolve(query, limit=3)) == len(want), query
        for limit in (7, 100, 1000):
            got: list[str] = []
            cursor: str | None = None
            pages = 0
            while True:
                page = await store.list_sessions(attrs.evolve(query, cursor=cursor, limit=limit))
                assert len(page.items) <= limit
                got += [s.session_id for s in page.items]
                pages += 1
                if page.next_cursor is None:
                    break
                assert len(page.items) == limit
                cursor = page.next_cursor
                assert pages < 1000, "paging does not terminate"
            assert got == want, (query, limit)
    first = await store.list_sessions(SessionQuery(limit=1000))
    assert first.items == tuple(
        sorted(
            (r for r in rows if not r.archived and not r.system_owned),
            key=lambda r: (r.updated_at, r.session_id),
            reverse=True,
        )
    )


async def test_keyset_paging_is_stable_while_sessions_change(store: Store) -> None:
    await store.apply(
        Batch(mutations=tuple(PutSession(session(f"s{i:03d}", updated=i)) for i in range(20)))
    )
    page1 = await store.list_sessions(SessionQuery(limit=5))
    assert [s.session_id for s in page1.items] == ["s019", "s018", "s017", "s016", "s015"]
    # New activity bumps sessions to the top: pages after the cursor neither repeat rows
    # nor skip the ones that did not move.
    await store.apply(
        Batch(
            mutations=(
                PutSession(session("s100", updated=100)),
                PatchSession("s002", {"updated_at": at(101)}),
            )
        )
    )
    page2 = await store.list_sessions(SessionQuery(limit=5, cursor=page1.next_cursor))
    assert [s.session_id for s in page2.items] == ["s014", "s013", "s012", "s011", "s010"]


async def test_an_invalid_cursor_or_limit_is_rejected(store: Store) -> None:
    for cursor in ("garbage!", "", "bm90IGpzb24", "WzEsMl0"):
        with pytest.raises(ValueError, match="cursor"):
            await store.list_sessions(SessionQuery(cursor=cursor))
    with pytest.raises(ValueError, match="limit"):
        await store.list_sessions(SessionQuery(limit=0))


async def test_delete_session(store: Store) -> None:
    await store.apply(
        Batch(
            mutations=(
                PutSession(session("s1")),
                PutSession(session("s2")),
                PutTurn(turn("u1", "s1")),
                PutTurn(turn("u2", "s1", started=1)),
                PutTurn(turn("u3", "s2")),
                PutTranscriptEntry("s1", entry("m1")),
                PutTranscriptEntry("s2", entry("m1")),
                PutRequest(request("r-pending", thread_id="s1")),
                PutRequest(request("r-resolving", thread_id="s1", status=RequestStatus.RESOLVING)),
                PutRequest(
                    request(
                        "r-resolved",
                        thread_id="s1",
                        status=RequestStatus.RESOLVED,
                        resolved_at=at(2),
                        reason="user",
                    )
                ),
                PutRequest(request("r-other", thread_id="s2")),
            ),
            events=(draft("session.created", "s1"), draft("session.created", "s2")),
        )
    )
    tombstone = Tombstone("s1", "title of s1", at(30))
    stored = await store.apply(
        Batch(
            mutations=(DeleteSession(tombstone, reason="deleted by user"),),
            events=(draft("session.deleted", "s1"),),
        )
    )
    assert [e.seq for e in stored] == [3]
    assert await store.get_session("s1") is None
    assert await store.get_tombstone("s1") == tombstone
    assert await store.list_turns("s1") == []
    assert await store.get_turn("u1") is None
    assert await store.list_transcript_entries("s1") == []
    for request_id in ("r-pending", "r-resolving"):
        got = await store.get_request(request_id)
        assert got is not None
        assert (got.status, got.reason, got.resolved_at) == (
            RequestStatus.INVALIDATED,
            "deleted by user",
            at(30),
        )
    assert await store.get_request("r-resolved") == request(
        "r-resolved",
        thread_id="s1",
        status=RequestStatus.RESOLVED,
        resolved_at=at(2),
        reason="user",
    )
    # Other sessions are untouched; the ledger keeps the deleted session's events.
    assert await store.get_session("s2") == session("s2")
    assert [t.turn_id for t in await store.list_turns("s2")] == ["u3"]
    assert len(await store.list_transcript_entries("s2")) == 1
    assert await store.get_request("r-other") == request("r-other", thread_id="s2")
    assert await seqs(store, thread_ids=frozenset({"s1"})) == [1, 3]
    stats = await store.stats()
    assert (stats.sessions, stats.open_requests) == (1, 1)
    # Deleting again (or a session that never existed) just leaves a tombstone.
    await store.apply(Batch(mutations=(DeleteSession(Tombstone("never", "?", at(31))),)))
    assert await store.get_tombstone("never") == Tombstone("never", "?", at(31))


async def test_default_controls_and_meta(store: Store) -> None:
    controls = Controls(
        model="gpt",
        approval_policy="untrusted",
        network_access="enabled",
        filesystem_sandbox="workspace-write",
        settings={"nested": {"list": [1, {"x": None}]}},
    )
    await store.apply(Batch(mutations=(PutDefaultControls(controls), SetMeta("generation", "1"))))
    assert await store.get_default_controls() == controls
    assert await store.get_meta("generation") == "1"
    await store.apply(Batch(mutations=(PutDefaultControls(Controls()), SetMeta("generation", "2"))))
    assert await store.get_default_controls() == Controls()
    assert await store.get_meta("generation") == "2"
    assert await store.get_meta("other") is None


# ---------------------------------------------------------------------- projects


async def test_projects(store: Store) -> None:
    rows = [
        project("p1", "beta"),
        project("p2", "Alpha"),
        project("p3", "Straße"),
        project("p4", "gamma"),
    ]
    await store.apply(Batch(mutations=tuple(PutProject(p) for p in rows)))
    assert await store.get_project("p2") == rows[1]
    assert [p.name for p in await store.list_projects()] == ["Alpha", "beta", "gamma", "Straße"]
    assert await store.find_project_by_name("ALPHA") == rows[1]
    assert await store.find_project_by_name("alpha") == rows[1]
    assert await store.find_project_by_name("STRASSE") == rows[2]  # casefold, not lower
    assert await store.find_project_by_name("alph") is None
    renamed = attrs.evolve(rows[1], name="Zeta", updated_at=at(9))
    await store.apply(Batch(mutations=(PutProject(renamed),)))
    assert await store.find_project_by_name("alpha") is None
    assert await store.find_project_by_name("zeta") == renamed
    assert [p.project_id for p in await store.list_projects()] == ["p1", "p4", "p3", "p2"]
    await store.apply(Batch(mutations=(DeleteProject("p1"), DeleteProject("missing"))))
    assert await store.get_project("p1") is None
    assert (await store.stats()).projects == 3


# ---------------------------------------------------------------------- turns


async def test_turns(store: Store) -> None:
    await store.apply(
        Batch(
            mutations=(
                PutTurn(turn("u3", started=5)),
                PutTurn(turn("u1", started=1)),
                PutTurn(turn("u2b", started=3)),
                PutTurn(turn("u2a", started=3)),  # same start: insertion order
                PutTurn(turn("x1", "t2")),
            )
        )
    )
    assert [t.turn_id for t in await store.list_turns("t1")] == ["u1", "u2b", "u2a", "u3"]
    changes: dict[str, Any] = {
        "status": TurnStatus.COMPLETED,
        "completed_at": at(9),
        "final_text": "done",
    }
    await store.apply(Batch(mutations=(PatchTurn("u1", changes), PatchTurn("ghost", changes))))
    assert await store.get_turn("u1") == turn("u1", started=1, **changes)
    assert await store.get_turn("ghost") is None
    await store.apply(Batch(mutations=(PatchTurn("u1", {"status": "failed", "error": "boom"}),)))
    failed = await store.get_turn("u1")
    assert failed is not None
    assert (failed.status, failed.error) == (TurnStatus.FAILED, "boom")
    assert [t.turn_id for t in await store.list_turns("t2")] == ["x1"]


# ---------------------------------------------------------------------- transcript


async def test_transcript_entries_keep_their_position_when_replaced(store: Store) -> None:
    await store.apply(
        Batch(
            mutations=(
                PutTranscriptEntry("t1", entry("m1", "one")),
                PutTranscriptEntry("t1", entry("m2", "two", status="streaming")),
                PutTranscriptEntry("t2", entry("m1", "other thread")),
                PutTranscriptEntry("t1", entry("m3", "three")),
            )
        )
    )
    await store.apply(
        Batch(
            mutations=(
                PutTranscriptEntry(
                    "t1",
                    entry("m2", "two, complete", completed_at=at(4), anchor_item_id="i9"),
                ),
                PutTranscriptEntry("t1", entry("m4", "four", details=None, started_at=None)),
            )
        )
    )
    got = await store.list_transcript_entries("t1")
    assert [(e.message_id, e.content) for e in got] == [
        ("m1", "one"),
        ("m2", "two, complete"),
        ("m3", "three"),
        ("m4", "four"),
    ]
    assert got[1] == entry("m2", "two, complete", completed_at=at(4), anchor_item_id="i9")
    assert (got[3].details, got[3].started_at) == (None, None)
    assert [e.content for e in await store.list_transcript_entries("t2")] == ["other thread"]


# ---------------------------------------------------------------------- compaction


async def test_compact_deltas(store: Store) -> None:
    def delta(item: str, when: float) -> EventDraft:
        return draft(
            "app_server.item.agent_message.delta", "t1", item_id=item, delta=True, at_=at(when)
        )

    stored = await store.apply(
        Batch(
            events=(
                delta("done", 1),  # 1: dropped
                delta("open", 1),  # 2: kept, item not completed
                draft("app_server.item.started", "t1", item_id="done", at_=at(1)),  # 3: kept
                delta("done", 2),  # 4: dropped
                draft("app_server.item.completed", "t1", item_id="done", at_=at(3)),  # 5
                delta("done", 50),  # 6: kept, too recent
                delta("other", 1),  # 7: kept, its completion has another type
                draft("custom.completed", "t1", item_id="other", at_=at(3)),  # 8
                delta("late", 1),  # 9: dropped (the newest dropped rows)
                draft("app_server.item.completed", "t1", item_id="late", at_=at(3)),  # 10
                delta("late", 2),  # 11: dropped
            )
        )
    )
    assert [e.seq for e in stored] == list(range(1, 12))
    assert await store.apply(Batch(mutations=(CompactDeltas(before=at(10)),))) == []
    assert await seqs(store) == [2, 3, 5, 6, 7, 8, 10]
    # A seq is never handed out twice, even though compaction removed the newest row (11).
    assert await store.last_seq() == 11
    assert [e.seq for e in await store.apply(events(1))] == [12]
    await store.apply(Batch(mutations=(CompactDeltas(before=at(100)),)))
    assert await seqs(store) == [2, 3, 5, 7, 8, 10, 12]
    assert await store.last_seq() == 12
    assert [e.seq for e in await store.apply(events(1))] == [13]
    await store.apply(
        Batch(mutations=(CompactDeltas(before=at(100), completed_type="custom.completed"),))
    )
    assert await seqs(store) == [2, 3, 5, 8, 10, 12, 13]
    stats = await store.stats()
    assert (stats.events, stats.last_seq) == (7, 13)


# ---------------------------------------------------------------------- everything


async def test_stats(store: Store) -> None:
    await store.apply(
        Batch(
            mutations=(
                PutSession(session("s1")),
                PutSession(session("s2", system_owned=True, archived=True)),
                PutProject(project("p1", "P")),
                PutRequest(request("r1")),
                PutRequest(request("r2", status=RequestStatus.RESOLVING)),
                PutRequest(request("r3", status=RequestStatus.EXPIRED)),
            ),
            events=tuple(draft() for _ in range(4)),
        )
    )
    stats = await store.stats()
    assert (stats.events, stats.last_seq, stats.sessions, stats.projects) == (4, 4, 2, 1)
    assert stats.open_requests == 2
    if isinstance(store, SqliteStore):
        assert stats.size_bytes is not None
        assert stats.size_bytes > 0
    else:
        assert stats.size_bytes is None


async def test_a_closed_store_refuses_calls(store: Store) -> None:
    await store.close()
    with pytest.raises(RuntimeError, match="closed"):
        await store.apply(events(1))
    with pytest.raises(RuntimeError, match="closed"):
        await store.get_session("s1")
    with pytest.raises(RuntimeError, match="closed"):
        await store.read_events(EventQuery())
    await store.close()  # idempotent


@pytest.mark.parametrize("adapter", ["memory", "sqlite"])
async def test_a_store_must_be_opened_first(adapter: str, tmp_path: Path) -> None:
    store: Store = MemoryStore() if adapter == "memory" else SqliteStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.apply(events(1))
    with pytest.raises(RuntimeError, match="not open"):
        await store.get_meta("k")
    await store.close()


async def everything(store: Store) -> dict[str, Any]:
    """Every observable piece of state, for before/after comparisons."""
    sessions = await store.list_sessions(
        SessionQuery(archived=None, include_system_owned=True, limit=10_000)
    )
    thread_ids = {s.session_id for s in sessions.items} | {"t1", "t2", "keep", "new"}
    return {
        "events": await all_events(store, thread_ids=None),
        "system": await all_events(store, thread_ids=frozenset(thread_ids)),
        "last_seq": await store.last_seq(),
        "sessions": sessions.items,
        "projects": await store.list_projects(),
        "requests": await store.list_requests(RequestQuery()),
        "turns": {t: await store.list_turns(t) for t in sorted(thread_ids)},
        "transcripts": {t: await store.list_transcript_entries(t) for t in sorted(thread_ids)},
        "tombstones": {t: await store.get_tombstone(t) for t in sorted(thread_ids)},
        "controls": await store.get_default_controls(),
        "meta": await store.get_meta("k"),
        "stats": attrs.evolve(await store.stats(), size_bytes=None),
    }

"""SqliteStore beyond the shared contract: persistence across reopen, schema versioning,
unusable files, the single-writer discipline under concurrency, query plans, and a
differential test against MemoryStore."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import apsw
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_manager_core.models import Controls, RequestStatus, Tombstone, TurnStatus
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
    SessionQuery,
    SetMeta,
    StoreConflict,
    StoreCorrupt,
    TransitionRequest,
)
from codex_manager_core.store import codec
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SqliteStore,
    events_sql,
    sessions_sql,
)
from tests.contract.test_store_contract import (
    at,
    draft,
    entry,
    everything,
    project,
    request,
    session,
    turn,
)

anyio_mark = pytest.mark.anyio


def populated_batches() -> list[Batch]:
    return [
        Batch(
            mutations=(
                PutProject(project("p1", "Alpha")),
                PutSession(session("s1", project_id="p1")),
                PutSession(session("s2", updated=3, archived=True)),
                PutTurn(turn("u1", "s1")),
                PutRequest(request("r1", thread_id="s1")),
                PutRequest(request("r2", thread_id="s1", rpc_id="x")),
                PutTranscriptEntry("s1", entry("m1")),
                PutTranscriptEntry("s1", entry("m2")),
                PutDefaultControls(Controls(model="default")),
                SetMeta("k", "v"),
                SetMeta("generation", "3"),
            ),
            events=tuple(draft("setup", "s1", {"i": i}) for i in range(10)),
        ),
        Batch(
            mutations=(
                TransitionRequest(
                    "r1",
                    (RequestStatus.PENDING,),
                    RequestStatus.RESOLVED,
                    {"resolved_at": at(4), "resolution": {"decision": "decline"}},
                ),
                PutTranscriptEntry("s1", entry("m1", "replaced")),
                DeleteSession(Tombstone("gone", "Gone", at(5))),
            ),
            events=(draft("worker", "sys", system=True), draft("x", None)),
        ),
    ]


@anyio_mark
async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "data" / "store.db"  # parent directories are created
    first = SqliteStore(path)
    await first.open()
    for batch in populated_batches():
        await first.apply(batch)
    before = await everything(first)
    await first.close()

    second = SqliteStore(path)
    await second.open()
    try:
        assert await everything(second) == before
        assert await second.get_meta("generation") == "3"
        assert await second.get_tombstone("gone") == Tombstone("gone", "Gone", at(5))
        assert [e.seq for e in await second.apply(Batch(events=(draft(),)))] == [13]
    finally:
        await second.close()


@anyio_mark
async def test_schema_version_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()

    conn = apsw.Connection(str(path))
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert conn.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    # Reopening an up-to-date store changes nothing.
    again = SqliteStore(path)
    await again.open()
    await again.close()
    assert conn.execute("SELECT count(*) FROM schema_version").fetchall() == [(1,)]
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()

    newer = SqliteStore(path)
    with pytest.raises(StoreCorrupt, match=rf"newer.*\({SCHEMA_VERSION}\)") as caught:
        await newer.open()
    assert str(path) in str(caught.value)
    await newer.close()


@anyio_mark
async def test_a_store_of_schema_1_is_migrated_in_place(tmp_path: Path) -> None:
    """A data dir written before migration 2 opens; its sessions keep their threads."""
    path = tmp_path / "store.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL) STRICT")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute(MIGRATIONS[1])
    old = session("s1")
    # The columns of migration 1 (later migrations add theirs at the end).
    first = codec.SESSIONS.columns.index("dynamic_tools") + 1
    conn.execute(
        f"INSERT INTO sessions ({', '.join(codec.SESSIONS.columns[:first])}) "
        f"VALUES ({', '.join('?' * first)})",
        codec.SESSIONS.encode(old)[:first],
    )
    conn.close()

    store = SqliteStore(path)
    await store.open()
    try:
        assert await store.get_session("s1") == old
        assert old.runtime_thread == "s1"
        await store.apply(Batch(mutations=(PatchSession("s1", {"runtime_thread_id": "t2"}),)))
        moved = await store.get_session("s1")
        assert moved is not None
        assert (moved.runtime_thread_id, moved.runtime_thread) == ("t2", "t2")
    finally:
        await store.close()
    check = apsw.Connection(str(path))
    assert check.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    check.close()


@anyio_mark
async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(random.Random(3).randbytes(64 * 1024))
    store = SqliteStore(path)
    with pytest.raises(StoreCorrupt) as caught:
        await store.open()
    assert str(path) in str(caught.value)
    assert "not a usable SQLite database" in str(caught.value)
    assert path.read_bytes() == random.Random(3).randbytes(64 * 1024)  # left untouched


@anyio_mark
async def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = apsw.Connection(str(path))
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(StoreCorrupt, match="not a codex-manager store") as caught:
        await SqliteStore(path).open()
    assert str(path) in str(caught.value)


@anyio_mark
async def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    store = SqliteStore(path)
    await store.open()
    try:
        assert [e.seq for e in await store.apply(Batch(events=(draft(),)))] == [1]
    finally:
        await store.close()


@anyio_mark
async def test_concurrent_applies_get_unique_consecutive_seqs(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    rng = random.Random(11)
    results: list[list[int]] = []
    sizes = [[rng.randrange(0, 40) for _ in range(5)] for _ in range(40)]

    async def writer(task: int) -> None:
        for number, size in enumerate(sizes[task]):
            batch = Batch(
                mutations=(PutSession(session(f"s{task}", updated=number)),),
                events=tuple(draft("test.e", f"s{task}", {"n": number}) for _ in range(size)),
            )
            stored = await store.apply(batch)
            results.append([e.seq for e in stored])

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for task in range(len(sizes)):
                    tg.start_soon(writer, task)
        total = sum(map(sum, sizes))
        everything_seen = sorted(seq for seqs in results for seq in seqs)
        assert everything_seen == list(range(1, total + 1))
        for seqs in results:
            if seqs:
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert await store.last_seq() == total
        stored = await store.read_events(EventQuery(limit=10**6))
        assert [e.seq for e in stored] == list(range(1, total + 1))
        # Each task's events are in its own order (its batches were applied in sequence).
        for task in range(len(sizes)):
            numbers = [e.payload["n"] for e in stored if e.thread_id == f"s{task}"]
            assert numbers == sorted(numbers)
        assert await store.count_sessions(SessionQuery()) == len(sizes)
    finally:
        await store.close()


@anyio_mark
async def test_reads_run_concurrently_with_writes(tmp_path: Path) -> None:
    rounds = 60
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    done = anyio.Event()
    observations = {"ledger": 0, "sessions": 0}

    async def write() -> None:
        try:
            for number in range(rounds):
                await store.apply(
                    Batch(
                        mutations=(PutSession(session(f"s{number % 7}", updated=number)),),
                        events=tuple(draft("test.e", "t1", {"n": number}) for _ in range(20)),
                    )
                )
                # Let the readers in between batches: a worker thread does not yield the
                # event loop by itself under every backend, and the point is interleaving.
                await anyio.lowlevel.checkpoint()
        finally:
            done.set()

    async def read_ledger() -> None:
        seen = 0
        while not done.is_set():
            seqs = [e.seq for e in await store.read_events(EventQuery(limit=10**6))]
            # Always a gap-free prefix, ending at a batch boundary, never shrinking.
            assert seqs == list(range(1, len(seqs) + 1))
            assert len(seqs) % 20 == 0
            assert len(seqs) >= seen
            assert await store.last_seq() >= len(seqs)
            seen = len(seqs)
            observations["ledger"] += 1

    async def read_sessions() -> None:
        while not done.is_set():
            page = await store.list_sessions(SessionQuery(limit=3))
            stamps = [s.updated_at for s in page.items]
            assert stamps == sorted(stamps, reverse=True)
            got = await store.get_session("s0")
            assert got is None or got.session_id == "s0"
            observations["sessions"] += 1

    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                for _ in range(2):
                    tg.start_soon(read_ledger)
                tg.start_soon(read_sessions)
        assert observations["ledger"] > 0
        assert observations["sessions"] > 0
        assert await store.last_seq() == rounds * 20
    finally:
        await store.close()


@anyio_mark
async def test_point_reads_fall_back_to_a_thread_when_busy(tmp_path: Path) -> None:
    """The inline read connection never waits (busy_timeout 0); when SQLite reports busy,
    the read is retried on a worker thread with the normal timeout."""
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    await store.apply(Batch(mutations=(PutSession(session("s1")),)))

    class Busy:
        def execute(self, *args: Any) -> Any:
            raise apsw.BusyError("database is locked")

    try:
        real = store._inline
        store._inline = Busy()  # type: ignore[assignment]
        assert await store.get_session("s1") == session("s1")
        assert await store.last_seq() == 0
        store._inline = real
    finally:
        await store.close()


def plan(store: SqliteStore, sql: str, params: list[Any]) -> str:
    assert store._inline is not None
    rows = store._inline.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[3]) for row in rows)


@anyio_mark
async def test_listing_and_replay_read_a_page_without_sorting(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    try:
        cursor = (await store.list_sessions(SessionQuery())).next_cursor
        assert cursor is None
        shapes = [
            SessionQuery(archived=archived, include_system_owned=system, project_id=project_id)
            for archived in (False, True, None)
            for system in (False, True)
            for project_id in (None, "", "p1")
            # One project's list is short: only its usual shape is covered by an index.
            if project_id is None or (archived is not None and not system)
        ]
        for query in shapes:
            for paged in (query, attrs.evolve(query, cursor="WzEuMCwicyJd")):  # [1.0, "s"]
                sql, params = sessions_sql(paged)
                got = plan(store, sql, params)
                assert "TEMP B-TREE" not in got, (paged, got)
        for thread_ids in (None, frozenset({"t1"}), frozenset({f"t{i}" for i in range(40)})):
            sql, params = events_sql(EventQuery(since=5, thread_ids=thread_ids))
            got = plan(store, sql, params)
            assert "TEMP B-TREE" not in got, (thread_ids, got)
            assert "SCAN events" not in got, (thread_ids, got)
    finally:
        await store.close()


# ---------------------------------------------------------------------- differential

IDS = ["a", "b", "c"]
stamps = st.integers(min_value=0, max_value=5).map(float)
statuses = st.sampled_from(list(RequestStatus))

mutations: st.SearchStrategy[Mutation] = st.one_of(
    st.builds(
        lambda i, u, archived, system: PutSession(
            session(i, updated=u, archived=archived, system_owned=system)
        ),
        st.sampled_from(IDS),
        stamps,
        st.booleans(),
        st.booleans(),
    ),
    st.builds(
        lambda i, title, u: PatchSession(i, {"title": title, "updated_at": at(u)}),
        st.sampled_from(IDS),
        st.text(max_size=5),
        stamps,
    ),
    st.builds(lambda i, u: DeleteSession(Tombstone(i, "t", at(u))), st.sampled_from(IDS), stamps),
    st.builds(
        lambda i, thread, status, u: PutRequest(
            request(f"r{i}", thread_id=thread, status=status, created_at=at(u))
        ),
        st.integers(0, 3),
        st.sampled_from(IDS),
        statuses,
        stamps,
    ),
    st.builds(
        lambda i, frm, to: TransitionRequest(f"r{i}", tuple(frm), to, {"reason": "x"}),
        st.integers(0, 3),
        st.lists(statuses, max_size=2),
        statuses,
    ),
    st.builds(
        lambda i, thread, u: PutTurn(turn(f"u{i}", thread, started=u)),
        st.integers(0, 3),
        st.sampled_from(IDS),
        stamps,
    ),
    st.builds(
        lambda i: PatchTurn(f"u{i}", {"status": TurnStatus.COMPLETED, "completed_at": at(9)}),
        st.integers(0, 3),
    ),
    st.builds(
        lambda thread, m, text: PutTranscriptEntry(thread, entry(f"m{m}", text)),
        st.sampled_from(IDS),
        st.integers(0, 3),
        st.text(max_size=5),
    ),
    st.builds(
        lambda i, name: PutProject(project(f"p{i}", name)),
        st.integers(0, 2),
        st.sampled_from(["x", "X", "y", "Straße", "strasse"]),
    ),
    st.builds(lambda i: DeleteProject(f"p{i}"), st.integers(0, 2)),
    st.builds(lambda v: SetMeta("k", v), st.text(max_size=5)),
    st.builds(lambda m: PutDefaultControls(Controls(model=m)), st.none() | st.text(max_size=3)),
    st.builds(lambda u: CompactDeltas(before=at(u)), stamps),
)
event_drafts = st.builds(
    lambda thread, item, delta, system, u, completed: draft(
        "app_server.item.completed" if completed else "app_server.item.delta",
        thread,
        {"v": u},
        item_id=item,
        delta=delta,
        system=system,
        at_=at(u),
    ),
    st.sampled_from([*IDS, None]),
    st.sampled_from(["i1", "i2", None]),
    st.booleans(),
    st.booleans(),
    stamps,
    st.booleans(),
)
batches = st.lists(
    st.builds(
        Batch,
        st.lists(mutations, max_size=4).map(tuple),
        st.lists(event_drafts, max_size=4).map(tuple),
    ),
    min_size=1,
    max_size=12,
)


async def apply_all(store: Store, script: list[Batch]) -> list[Any]:
    outcomes: list[Any] = []
    for batch in script:
        try:
            outcomes.append([e.seq for e in await store.apply(batch)])
        except StoreConflict as exc:
            outcomes.append(("conflict", exc.key, exc.current, exc.expected))
    return outcomes


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=batches)
def test_sqlite_and_memory_agree_on_random_batches(script: list[Batch]) -> None:
    """Random batches (conflicts included) leave both adapters in the same state."""

    async def run() -> None:
        with tempfile.TemporaryDirectory() as directory:
            stores: list[Store] = [MemoryStore(), SqliteStore(Path(directory) / "s.db")]
            states: list[Any] = []
            for store in stores:
                await store.open()
                try:
                    outcomes = await apply_all(store, script)
                    states.append((outcomes, await everything(store)))
                    for thread in IDS:
                        states.append(await store.list_turns(thread))
                        states.append(await store.list_transcript_entries(thread))
                        states.append(await store.get_tombstone(thread))
                        states.append(await store.get_session(thread))
                    states.append(await store.read_events(EventQuery(thread_ids=frozenset(IDS))))
                    for query in (
                        SessionQuery(archived=None, include_system_owned=True, limit=2),
                        SessionQuery(project_id=""),
                    ):
                        states.append(await store.list_sessions(query))
                finally:
                    await store.close()
            half = len(states) // 2
            assert states[:half] == states[half:]

    anyio.run(run)

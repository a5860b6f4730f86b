"""The queue store contract: the jobs domain of the Store port, one suite for every adapter.

Each test runs four times: {memory, sqlite} x {asyncio, trio}. A PostgreSQL adapter joins
the `store` fixture's params and must pass the same cases. SQLite-only behaviour (the data
survives a reopen) is at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest

from codex_manager_core.models import EventDraft
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    Batch,
    DeleteJobs,
    EventQuery,
    JobQuery,
    PatchJob,
    PutJob,
    StoreConflict,
    TransitionJob,
)
from codex_manager_core.queue.model import Job, JobPriority, JobState, RunningContext
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
Q, R, C, F, X = (
    JobState.QUEUED,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELED,
)


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


def job(job_id: str, created: float = 0.0, **changes: Any) -> Job:
    record = Job(
        job_id=job_id,
        type="suggest_request",
        version=1,
        owner="p1",
        priority=JobPriority.BACKGROUND,
        state=JobState.QUEUED,
        payload={"sessionId": "s1"},
        created_at=at(created),
    )
    return attrs.evolve(record, **changes)


def full_job() -> Job:
    """Every field set, with nested JSON in each JSON column."""
    return Job(
        job_id="full",
        type="agent_instruction",
        version=3,
        owner="session:s9",
        priority=JobPriority.INTERACTIVE,
        state=JobState.RUNNING,
        payload={"instruction": "go", "nested": {"list": [1, 2.5, None, {"deep": True}]}},
        created_at=at(1),
        source_session_id="s9",
        dedupe_key="agent_instruction:s9",
        result={"text": "done", "items": [{"a": 1}, []]},
        error="an earlier attempt failed",
        attempts=2,
        max_attempts=5,
        started_at=at(2),
        completed_at=at(3),
        last_attempt_at=at(4),
        next_attempt_at=at(5),
        cancel_requested_at=at(6),
        running_context=RunningContext(thread_id="th1", turn_id="turn1"),
        progress={"phase": "oriented", "steps": [{"n": 1}]},
        steps={"provisioned": {"sessionId": "s9"}, "turn_started": {"turnId": "t1"}},
    )


def job_event(kind: str, job_id: str) -> EventDraft:
    return EventDraft(
        type=f"orchestrator_job_{kind}", thread_id=None, payload={"jobId": job_id}, at=at(0)
    )


async def put(store: Store, *jobs: Job) -> None:
    await store.apply(Batch(mutations=tuple(PutJob(j) for j in jobs)))


async def job_events(store: Store) -> list[tuple[str, Any]]:
    events = await store.read_events(EventQuery(since=0))
    return [(event.type, event.payload) for event in events]


# ---------------------------------------------------------------------- put / get


async def test_put_get_round_trips_every_field(store: Store) -> None:
    full = full_job()
    await put(store, full, job("bare"))
    assert await store.get_job("full") == full
    bare = await store.get_job("bare")
    assert bare == job("bare")
    assert bare is not None
    assert bare.result is None
    assert bare.running_context is None
    assert await store.get_job("missing") is None


async def test_put_normalizes_datetimes_to_utc_and_replaces(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    await put(store, job("j", created_at=at(0).astimezone(plus_two)))
    stored = await store.get_job("j")
    assert stored is not None
    assert stored.created_at == at(0)
    assert stored.created_at.tzinfo is UTC
    await put(store, job("j", error="replaced"))
    replaced = await store.get_job("j")
    assert replaced is not None
    assert replaced.error == "replaced"


async def test_put_refuses_values_it_cannot_store(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await put(store, job("j", created_at=datetime(2026, 1, 1)))
    with pytest.raises(TypeError, match="JSON"):
        await put(store, job("j", payload={"x": {1, 2}}))
    assert await store.get_job("j") is None


# ---------------------------------------------------------------------- transitions


async def test_transition_wins_once_and_a_loser_writes_nothing(store: Store) -> None:
    await put(store, job("j"))
    start = {"started_at": at(10), "attempts": 1, "running_context": RunningContext("th")}
    await store.apply(
        Batch(
            mutations=(TransitionJob("j", (Q,), R, start),),
            events=(job_event("started", "j"),),
        )
    )
    taken = await store.get_job("j")
    assert taken is not None
    assert taken.state is R
    assert taken.attempts == 1
    assert taken.started_at == at(10)
    assert taken.running_context == RunningContext("th")

    with pytest.raises(StoreConflict) as conflict:
        await store.apply(
            Batch(
                mutations=(TransitionJob("j", (Q,), R, {"attempts": 7}),),
                events=(job_event("started", "j"),),
            )
        )
    assert conflict.value.key == "job j"
    assert conflict.value.current == "running"
    assert conflict.value.expected == ("queued",)
    assert await store.get_job("j") == taken
    assert await job_events(store) == [("orchestrator_job_started", {"jobId": "j"})]


async def test_transition_of_a_missing_job_conflicts(store: Store) -> None:
    with pytest.raises(StoreConflict) as conflict:
        await store.apply(Batch(mutations=(TransitionJob("nope", (Q,), X),)))
    assert conflict.value.current is None
    assert await store.get_job("nope") is None


async def test_transition_accepts_any_of_its_from_states(store: Store) -> None:
    await put(store, job("q"), job("r", state=R))
    cancel = {"completed_at": at(5), "error": "canceled by user"}
    await store.apply(
        Batch(
            mutations=(
                TransitionJob("q", (Q, R), X, cancel),
                TransitionJob("r", (Q, R), X, cancel),
            )
        )
    )
    for job_id in ("q", "r"):
        ended = await store.get_job(job_id)
        assert ended is not None
        assert ended.state is X
        assert ended.error == "canceled by user"


async def test_transition_and_patch_refuse_bad_field_names(store: Store) -> None:
    await put(store, job("j"))
    with pytest.raises(ValueError, match="cannot be changed"):
        await store.apply(Batch(mutations=(TransitionJob("j", (Q,), R, {"state": C}),)))
    with pytest.raises(ValueError, match="cannot be changed"):
        await store.apply(Batch(mutations=(PatchJob("j", {"state": C}),)))
    with pytest.raises(ValueError, match="no field"):
        await store.apply(Batch(mutations=(PatchJob("j", {"colour": "red"}),)))
    assert await store.get_job("j") == job("j")


async def test_a_failing_cas_rolls_back_the_whole_batch(store: Store) -> None:
    """A batch that completes one job, enqueues another and emits their events is atomic:
    a CAS that fails at the end leaves every job as it was and no event written."""
    await put(store, job("a", state=R), job("b", state=C))
    before_a = await store.get_job("a")
    with pytest.raises(StoreConflict):
        await store.apply(
            Batch(
                mutations=(
                    TransitionJob("a", (R,), C, {"result": {"ok": True}}),
                    PatchJob("a", {"progress": {"pct": 100}}),
                    PutJob(job("c")),
                    DeleteJobs(("b",)),
                    TransitionJob("b", (R,), C),  # b is completed already
                ),
                events=(job_event("completed", "a"), job_event("queued", "c")),
            )
        )
    assert await store.get_job("a") == before_a
    assert await store.get_job("b") == job("b", state=C)
    assert await store.get_job("c") is None
    assert await job_events(store) == []
    assert await store.last_seq() == 0


# ---------------------------------------------------------------------- patch, delete


async def test_patch_changes_fields_of_an_existing_job(store: Store) -> None:
    await put(store, job("j", state=R))
    changes = {
        "progress": {"pct": 40, "notes": ["a", {"b": None}]},
        "running_context": RunningContext(thread_id="th", turn_id="tu"),
        "cancel_requested_at": at(7),
        "steps": {"oriented": None, "turn_started": {"turnId": "t1"}},
    }
    await store.apply(Batch(mutations=(PatchJob("j", changes),)))
    assert await store.get_job("j") == job("j", state=R, **changes)
    await store.apply(Batch(mutations=(PatchJob("j", {"running_context": None}),)))
    cleared = await store.get_job("j")
    assert cleared is not None
    assert cleared.running_context is None
    assert cleared.state is R


async def test_patch_of_a_missing_job_conflicts_and_writes_nothing(store: Store) -> None:
    await put(store, job("j"))
    with pytest.raises(StoreConflict) as conflict:
        await store.apply(
            Batch(
                mutations=(PatchJob("j", {"error": "x"}), PatchJob("gone", {"error": "x"})),
                events=(job_event("progress", "gone"),),
            )
        )
    assert conflict.value.key == "job gone"
    assert await store.get_job("j") == job("j")
    assert await store.last_seq() == 0


async def test_delete_removes_jobs_and_ignores_unknown_ids(store: Store) -> None:
    await put(store, job("a"), job("b"), job("c"))
    await store.apply(Batch(mutations=(DeleteJobs(("a", "c", "never")), DeleteJobs(()))))
    assert [await store.get_job(j) for j in ("a", "b", "c")] == [None, job("b"), None]
    assert (await store.count_jobs())[Q] == 1


# ---------------------------------------------------------------------- listing


def listing_jobs() -> list[Job]:
    owners = ("p1", "p2", "session:s1")
    types = ("suggest_request", "agent_instruction")
    states = (Q, R, C, F, X)
    # Equal created_at on purpose every third job: ties are broken by job_id.
    return [
        job(
            f"j{n:02d}",
            created=float(n // 3),
            owner=owners[n % 3],
            type=types[n % 2],
            state=states[n % 5],
            dedupe_key=None if n % 4 == 3 else f"k{n % 4}",
        )
        for n in range(30)
    ]


def newest_first(jobs: list[Job]) -> list[str]:
    return [j.job_id for j in sorted(jobs, key=lambda j: (j.created_at, j.job_id), reverse=True)]


async def all_pages(store: Store, query: JobQuery) -> list[str]:
    seen: list[str] = []
    for _ in range(100):  # bounded: 30 jobs in pages of at least 1
        page = await store.list_jobs(query)
        seen.extend(j.job_id for j in page.items)
        if page.next_cursor is None:
            return seen
        query = attrs.evolve(query, cursor=page.next_cursor)
    raise AssertionError("paging did not end")


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        (JobQuery(), lambda j: True),
        (JobQuery(states=(Q,)), lambda j: j.state is Q),
        (JobQuery(states=(C, F, X)), lambda j: j.state.terminal),
        (JobQuery(types=("agent_instruction",)), lambda j: j.type == "agent_instruction"),
        (JobQuery(owner="p2"), lambda j: j.owner == "p2"),
        (
            JobQuery(owner="p1", states=(Q, R), types=("suggest_request",)),
            lambda j: j.owner == "p1" and j.state in (Q, R) and j.type == "suggest_request",
        ),
        (JobQuery(owner="nobody"), lambda j: False),
        (JobQuery(dedupe_key="k1"), lambda j: j.dedupe_key == "k1"),
        (
            JobQuery(types=("suggest_request",), dedupe_key="k2"),
            lambda j: j.type == "suggest_request" and j.dedupe_key == "k2",
        ),
    ],
)
async def test_list_filters_newest_first(store: Store, query: JobQuery, keep: Any) -> None:
    jobs = listing_jobs()
    await put(store, *jobs)
    expected = newest_first([j for j in jobs if keep(j)])
    by_id = {j.job_id: j for j in jobs}
    page = await store.list_jobs(query)
    assert page.items == tuple(by_id[job_id] for job_id in expected)
    assert page.next_cursor is None


@pytest.mark.parametrize("limit", [1, 4, 7, 29, 30])
async def test_cursor_paging_has_no_duplicate_and_no_gap(store: Store, limit: int) -> None:
    jobs = listing_jobs()
    await put(store, *jobs)
    assert await all_pages(store, JobQuery(limit=limit)) == newest_first(jobs)
    owned = [j for j in jobs if j.owner == "p1"]
    assert await all_pages(store, JobQuery(owner="p1", limit=limit)) == newest_first(owned)


async def test_list_refuses_bad_limits_and_cursors(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.list_jobs(JobQuery(limit=0))
    with pytest.raises(ValueError, match="job cursor"):
        await store.list_jobs(JobQuery(cursor="not a cursor"))


# ---------------------------------------------------------------------- scheduler reads


async def test_counts_per_state_and_per_owner(store: Store) -> None:
    jobs = listing_jobs()
    await put(store, *jobs)
    assert await store.count_jobs() == {s: sum(j.state is s for j in jobs) for s in JobState}
    for owner in ("p1", "p2", "session:s1"):
        expected = {s: sum(j.state is s and j.owner == owner for j in jobs) for s in JobState}
        assert await store.count_jobs(owner) == expected
    assert await store.count_jobs("nobody") == dict.fromkeys(JobState, 0)


async def test_queued_oldest_first_and_running(store: Store) -> None:
    jobs = listing_jobs()
    await put(store, *reversed(jobs))  # insertion order must not matter
    queued = sorted((j for j in jobs if j.state is Q), key=lambda j: (j.created_at, j.job_id))
    assert await store.queued_jobs(100) == queued
    assert await store.queued_jobs(2) == queued[:2]
    assert await store.queued_jobs(0) == []
    running = sorted((j for j in jobs if j.state is R), key=lambda j: (j.created_at, j.job_id))
    assert await store.running_jobs() == running

    await store.apply(Batch(mutations=(TransitionJob(queued[0].job_id, (Q,), R),)))
    assert [j.job_id for j in await store.queued_jobs(100)] == [j.job_id for j in queued[1:]]
    assert queued[0].job_id in {j.job_id for j in await store.running_jobs()}


# ---------------------------------------------------------------------- SQLite only


async def test_sqlite_jobs_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    first = SqliteStore(path)
    await first.open()
    try:
        await put(first, full_job(), *listing_jobs())
        await first.apply(
            Batch(mutations=(TransitionJob("j00", (Q,), R),), events=(job_event("started", "j00"),))
        )
        before = (await first.list_jobs(JobQuery(limit=1000))).items
    finally:
        await first.close()

    second = SqliteStore(path)
    await second.open()
    try:
        assert (await second.list_jobs(JobQuery(limit=1000))).items == before
        assert await second.get_job("full") == full_job()
        assert await job_events(second) == [("orchestrator_job_started", {"jobId": "j00"})]
    finally:
        await second.close()

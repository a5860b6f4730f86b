"""EventBus, Subscription and Ledger against MemoryStore (no runtime).

What design.md section 3 promises: one gap-free seq assigned at write time, events published
only after they are durable and in seq order, subscribers that resume from a cursor (replay
from the store, then live, no gap, no duplicate), filters by thread and type, and a slow
subscriber that is cut off with `Lagged(seq)` instead of slowing anyone down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core.events import bus as bus_module
from codex_manager_core.events.bus import EventBus, EventFilter, Subscription
from codex_manager_core.events.ledger import Ledger
from codex_manager_core.models import Event, EventDraft, Lagged, RequestStatus, utcnow
from codex_manager_core.ports.store import (
    Batch,
    EventQuery,
    SetMeta,
    StoreConflict,
    TransitionRequest,
)
from codex_manager_core.store.memory import MemoryStore

pytestmark = pytest.mark.anyio

WAIT = 5.0  # bound for anything that should take milliseconds


def draft(
    type_: str = "test.event",
    thread_id: str | None = None,
    *,
    system: bool = False,
    payload: Any = None,
) -> EventDraft:
    return EventDraft(type_, thread_id, {"n": 0} if payload is None else payload, system=system)


class RecordingStore(MemoryStore):
    """MemoryStore that remembers the shape of every batch it was asked to apply, and can be
    held (to let writes pile up behind a transaction in progress)."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: list[tuple[int, int]] = []  # (mutations, events) of committed batches
        self.gate: anyio.Event | None = None
        self.entered = anyio.Event()

    async def apply(self, batch: Batch) -> list[Event]:
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        events = await super().apply(batch)
        self.applied.append((len(batch.mutations), len(batch.events)))
        return events


@attrs.define
class Env:
    store: MemoryStore
    bus: EventBus
    ledger: Ledger


@asynccontextmanager
async def ledger_env(store: MemoryStore | None = None, *, buffer: int = 1000) -> AsyncIterator[Env]:
    store = store if store is not None else MemoryStore()
    await store.open()
    bus = EventBus(store, last_seq=await store.last_seq(), buffer=buffer)
    ledger = Ledger(store, bus)
    async with anyio.create_task_group() as tg:
        await tg.start(ledger.run)
        with anyio.fail_after(WAIT):
            yield Env(store, bus, ledger)
            await ledger.close()
    await store.close()


async def take(subscription: Subscription, count: int) -> list[Event]:
    """The next `count` events (a Lagged fails the test)."""
    events = []
    with anyio.fail_after(WAIT):
        for _ in range(count):
            item = await subscription.next()
            assert not isinstance(item, Lagged), f"unexpected {item} after {len(events)} events"
            events.append(item)
    return events


async def nothing_pending(subscription: Subscription) -> None:
    """The subscription has nothing to yield right now."""
    with pytest.raises(TimeoutError):
        await subscription.next(timeout=0.05)


def seqs(events: Sequence[Event | Lagged]) -> list[int]:
    return [event.seq for event in events]


# ------------------------------------------------------------------ replay and live


async def test_live_only_subscriber_sees_events_published_after_it_subscribed() -> None:
    async with ledger_env() as env:
        await env.ledger.emit(draft(), draft())
        subscription = env.bus.subscribe()
        assert subscription.last_seq == 2
        await env.ledger.emit(draft("a"), draft("b"))
        events = await take(subscription, 2)
        assert seqs(events) == [3, 4]
        assert [event.type for event in events] == ["a", "b"]
        await nothing_pending(subscription)
        assert subscription.last_seq == 4


async def test_replay_then_live_has_no_gap_and_no_duplicate() -> None:
    async with ledger_env() as env:
        stored = await env.ledger.emit(*(draft(payload={"n": n}) for n in range(5)))
        subscription = env.bus.subscribe(since=2)
        # Published after the subscription registered, before anything was read from it.
        live = await env.ledger.emit(*(draft(payload={"n": n}) for n in range(5, 8)))
        events = await take(subscription, 6)
        assert seqs(events) == list(range(3, 9))
        assert events == [*stored[2:], *live]
        await nothing_pending(subscription)


async def test_replay_equals_what_a_live_subscriber_saw() -> None:
    async with ledger_env() as env:
        live_subscription = env.bus.subscribe()
        written = []
        for n in range(10):
            written += await env.ledger.emit(
                draft(f"t.{n % 3}", f"thread-{n % 2}", payload={"n": n, "nested": [1, {"x": n}]})
            )
        live = await take(live_subscription, 10)
        assert live == written
        for since in (0, 1, 5, 9):
            replayed = await take(env.bus.subscribe(since=since), 10 - since)
            assert replayed == live[since:], f"since={since}"


async def test_events_committed_but_not_yet_published_are_delivered_once() -> None:
    """The boundary: a subscriber registering while a commit is on its way to the bus reads
    the store only up to the bus head, and gets the rest live."""
    store = MemoryStore()
    await store.open()
    bus = EventBus(store)
    await store.apply(Batch(events=(draft(), draft())))
    published = await store.apply(Batch(events=(draft("late"),)))  # committed, unpublished
    bus.publish(await store.read_events(EventQuery(since=0, until=2)))
    subscription = bus.subscribe(since=0)
    bus.publish(published)
    events = await take(subscription, 3)
    assert seqs(events) == [1, 2, 3]
    await nothing_pending(subscription)


async def test_replay_pages_through_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_module, "REPLAY_PAGE", 4)
    async with ledger_env() as env:
        await env.ledger.emit(*(draft() for _ in range(13)))
        subscription = env.bus.subscribe(since=1)
        await env.ledger.emit(draft("live"))
        events = await take(subscription, 13)
        assert seqs(events) == list(range(2, 15))
        assert events[-1].type == "live"
        await nothing_pending(subscription)


async def test_replay_pages_of_a_threads_plus_thread_less_filter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """That filter takes two store queries per page (see EventFilter.store_queries); pages
    of both are merged without losing or repeating an event at a page boundary."""
    monkeypatch.setattr(bus_module, "REPLAY_PAGE", 3)
    shapes = [(None, False), ("sys", True), ("other", False), ("sys", True), ("t1", False)]
    event_filter = EventFilter.of(["sys", "t1"], include_thread_less=True)
    async with ledger_env() as env:
        live = env.bus.subscribe(event_filter)
        await env.ledger.emit(
            *(draft("x", shapes[n % 5][0], system=shapes[n % 5][1]) for n in range(41))
        )
        wanted = [n + 1 for n in range(41) if shapes[n % 5][0] != "other"]
        live_events = await take(live, len(wanted))
        assert seqs(live_events) == wanted
        for since in (0, 4, 17):
            replay = env.bus.subscribe(event_filter, since=since)
            tail = [event for event in live_events if event.seq > since]
            assert await take(replay, len(tail)) == tail, f"since={since}"
            await nothing_pending(replay)


async def test_since_at_or_beyond_the_head_is_live_only() -> None:
    async with ledger_env() as env:
        await env.ledger.emit(draft(), draft())
        at_head = env.bus.subscribe(since=2)
        beyond = env.bus.subscribe(since=3)
        await env.ledger.emit(draft(), draft())
        assert seqs(await take(at_head, 2)) == [3, 4]
        assert seqs(await take(beyond, 1)) == [4]  # seq 3 is at or before its cursor


async def test_negative_since_is_refused() -> None:
    async with ledger_env() as env:
        with pytest.raises(ValueError, match="since"):
            env.bus.subscribe(since=-1)


async def test_next_with_timeout_raises_timeout_error() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe()
        with pytest.raises(TimeoutError):
            await subscription.next(timeout=0.01)
        # The subscription is still usable after a timed-out wait.
        await env.ledger.emit(draft())
        assert seqs(await take(subscription, 1)) == [1]


# ------------------------------------------------------------------ filters

MIXED = (
    ("app_server.item.started", "t1", False),
    ("app_server.turn.started", "t2", False),
    ("project_created", None, False),
    ("approval", "t1", False),
    ("app_server.item.started", "sys", True),
    ("approval", "sys", True),
    ("app_server.item.completed", "t2", False),
    ("runtime_state_changed", None, False),
)


def expected(event_filter: EventFilter) -> list[tuple[str, str | None]]:
    return [
        (type_, thread)
        for type_, thread, system in MIXED
        if event_filter.matches(Event(0, type_, thread, None, draft().at, system=system))
    ]


@pytest.mark.parametrize(
    ("event_filter", "wanted"),
    [
        pytest.param(
            EventFilter(),
            [
                ("app_server.item.started", "t1"),
                ("app_server.turn.started", "t2"),
                ("project_created", None),
                ("approval", "t1"),
                ("app_server.item.completed", "t2"),
                ("runtime_state_changed", None),
            ],
            id="everything-but-system",
        ),
        pytest.param(
            EventFilter.of(["t1"]),
            [("app_server.item.started", "t1"), ("approval", "t1")],
            id="one-thread",
        ),
        pytest.param(
            EventFilter.of(["t1", "t2"], ["app_server.item."]),
            [("app_server.item.started", "t1"), ("app_server.item.completed", "t2")],
            id="threads-and-prefix",
        ),
        pytest.param(
            EventFilter.of(["sys"]),
            [("app_server.item.started", "sys"), ("approval", "sys")],
            id="system-thread-named",
        ),
        pytest.param(
            EventFilter.of(None, ["approval", "project"]),
            [("project_created", None), ("approval", "t1")],
            id="prefixes-only-no-system",
        ),
        pytest.param(
            EventFilter.of(["t2"], include_thread_less=True),
            [
                ("app_server.turn.started", "t2"),
                ("project_created", None),
                ("app_server.item.completed", "t2"),
                ("runtime_state_changed", None),
            ],
            id="thread-and-thread-less",
        ),
        pytest.param(
            EventFilter.of(["sys"], ["approval", "runtime"], include_thread_less=True),
            [("approval", "sys"), ("runtime_state_changed", None)],
            id="system-thread-and-thread-less",
        ),
        pytest.param(EventFilter.of([]), [], id="no-thread"),
    ],
)
async def test_filters_apply_equally_to_live_and_replayed_events(
    event_filter: EventFilter, wanted: list[tuple[str, str | None]]
) -> None:
    assert expected(event_filter) == wanted
    async with ledger_env() as env:
        live = env.bus.subscribe(event_filter)
        await env.ledger.emit(*(draft(t, thread, system=s) for t, thread, s in MIXED))
        got_live = await take(live, len(wanted))
        await nothing_pending(live)
        replay = env.bus.subscribe(event_filter, since=0)
        got_replayed = await take(replay, len(wanted))
        await nothing_pending(replay)
        assert [(e.type, e.thread_id) for e in got_live] == wanted
        assert got_replayed == got_live


async def test_filtered_subscription_resumes_after_filtered_out_events() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe(EventFilter.of(["t1"]))
        await env.ledger.emit(draft("x", "t1"), draft("x", "t2"), draft("x", "t2"))
        assert seqs(await take(subscription, 1)) == [1]
        assert subscription.last_seq == 1  # the cursor is the last event it yielded
        await env.ledger.emit(draft("y", "t1"))
        assert seqs(await take(subscription, 1)) == [4]


# ------------------------------------------------------------------ slow subscribers


async def test_a_full_buffer_gives_lagged_with_the_resume_cursor() -> None:
    async with ledger_env() as env:
        slow = env.bus.subscribe(buffer=3)
        fast = env.bus.subscribe()
        await env.ledger.emit(draft())
        assert seqs(await take(slow, 1)) == [1]
        # The writer never waits for the slow one: these all commit at once.
        with anyio.fail_after(WAIT):
            written = await env.ledger.emit(*(draft() for _ in range(10)))
        assert seqs(written) == list(range(2, 12))
        assert seqs(await take(fast, 11)) == list(range(1, 12))
        lagged = await slow.next(timeout=WAIT)
        assert lagged == Lagged(1)
        # A lagged subscription is over.
        with pytest.raises(StopAsyncIteration):
            await slow.next(timeout=WAIT)
        assert env.bus.subscriber_count == 1
        # Resuming from Lagged.seq gets the rest, no gap.
        resumed = env.bus.subscribe(since=lagged.seq, buffer=3)
        assert seqs(await take(resumed, 10)) == list(range(2, 12))


async def test_a_buffer_exactly_full_is_not_lagged() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe(buffer=3)
        await env.ledger.emit(draft(), draft(), draft())
        assert seqs(await take(subscription, 3)) == [1, 2, 3]


async def test_lagged_during_replay_delivers_the_replay_first() -> None:
    async with ledger_env() as env:
        await env.ledger.emit(*(draft() for _ in range(5)))
        subscription = env.bus.subscribe(since=0, buffer=2)
        await env.ledger.emit(*(draft() for _ in range(3)))  # live, overflows the buffer
        replayed = await take(subscription, 5)
        assert seqs(replayed) == [1, 2, 3, 4, 5]
        assert await subscription.next(timeout=WAIT) == Lagged(5)
        resumed = env.bus.subscribe(since=5)
        assert seqs(await take(resumed, 3)) == [6, 7, 8]


async def test_events_a_filter_rejects_do_not_fill_the_buffer() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe(EventFilter.of(["t1"]), buffer=2)
        await env.ledger.emit(*(draft("x", "t2") for _ in range(10)), draft("x", "t1"))
        assert seqs(await take(subscription, 1)) == [11]


# ------------------------------------------------------------------ closing


async def test_close_ends_a_waiting_reader_and_unsubscribes() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe()
        assert env.bus.subscriber_count == 1
        ended = anyio.Event()

        async def reader() -> None:
            with pytest.raises(StopAsyncIteration):
                await subscription.next()
            ended.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            subscription.close()
            with anyio.fail_after(WAIT):
                await ended.wait()
        assert env.bus.subscriber_count == 0
        await env.ledger.emit(draft())  # nothing is offered to a closed subscription
        with pytest.raises(StopAsyncIteration):
            await subscription.next()
        subscription.close()  # idempotent


async def test_aclose_and_async_with() -> None:
    async with ledger_env() as env:
        async with env.bus.subscribe() as subscription:
            assert env.bus.subscriber_count == 1
        assert env.bus.subscriber_count == 0
        other = env.bus.subscribe()
        await other.aclose()
        assert env.bus.subscriber_count == 0
        with pytest.raises(StopAsyncIteration):
            await subscription.next()


async def test_async_for_stops_when_closed() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe()
        await env.ledger.emit(draft(), draft(), draft())
        seen = []
        with anyio.fail_after(WAIT):
            async for item in subscription:
                assert isinstance(item, Event)
                seen.append(item.seq)
                if item.seq == 3:
                    subscription.close()
        assert seen == [1, 2, 3]


# ------------------------------------------------------------------ ledger


async def test_ledger_merges_queued_event_only_writes_into_one_transaction() -> None:
    store = RecordingStore()
    async with ledger_env(store) as env:
        store.gate = anyio.Event()
        results: list[list[Event]] = [[] for _ in range(6)]
        async with anyio.create_task_group() as tg:

            async def write(index: int) -> None:
                results[index] = await env.ledger.emit(draft(payload={"i": index}), draft())

            tg.start_soon(write, 0)
            await store.entered.wait()  # the first transaction is in progress: hold it
            for index in range(1, 6):
                tg.start_soon(write, index)
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
        # One transaction for the first write, one for the five that queued behind it.
        assert store.applied == [(0, 2), (0, 10)]
        assert env.ledger.stats.transactions == 2
        assert env.ledger.stats.largest_batch == 10
        # Each caller got its own events, with the seqs they were stored under.
        for index, events in enumerate(results):
            assert len(events) == 2
            assert events[0].payload == {"i": index}
            assert events[1].seq == events[0].seq + 1
        assert sorted(seq for events in results for seq in seqs(events)) == list(range(1, 13))


async def test_ledger_merges_plain_mutations_but_applies_compare_and_set_alone() -> None:
    store = RecordingStore()
    async with ledger_env(store) as env:
        subscription = env.bus.subscribe()
        store.gate = anyio.Event()
        await env.ledger.append([draft("first")])
        await store.entered.wait()
        await env.ledger.append([draft("e1")])
        await env.ledger.submit(Batch((SetMeta("k", "v"),), (draft("m"),)))
        await env.ledger.append([draft("e2")])
        await env.ledger.submit(Batch((SetMeta("k2", "v2"), _transition("r1")), (draft("cas"),)))
        await env.ledger.append([draft("e3")])
        store.gate.set()
        events = await take(subscription, 5)
        assert [event.type for event in events] == ["first", "e1", "m", "e2", "e3"]
        assert seqs(events) == list(range(1, 6))
        # first alone (it was in flight); e1 + m + e2 merged (a plain mutation may share a
        # transaction); the compare-and-set alone, and it fails (no such request: nothing
        # committed); e3 after it.
        assert store.applied == [(0, 1), (1, 3), (0, 1)]
        assert await store.get_meta("k") == "v"
        assert await store.get_meta("k2") is None  # the failed CAS batch wrote nothing


def _transition(request_id: str) -> TransitionRequest:
    return TransitionRequest(request_id, (RequestStatus.PENDING,), RequestStatus.RESOLVED)


async def test_store_conflict_fails_only_its_own_write() -> None:
    store = RecordingStore()
    async with ledger_env(store) as env:
        subscription = env.bus.subscribe()
        store.gate = anyio.Event()
        outcomes: dict[str, Any] = {}

        async def write(name: str, batch: Batch) -> None:
            try:
                outcomes[name] = await env.ledger.write(batch)
            except StoreConflict as exc:
                outcomes[name] = exc

        conflicting = Batch(
            (TransitionRequest("missing", (RequestStatus.PENDING,), RequestStatus.RESOLVED),),
            (draft("never"),),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(write, "before", Batch(events=(draft("before"),)))
            await store.entered.wait()
            tg.start_soon(write, "conflict", conflicting)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(write, "after", Batch(events=(draft("after"),)))
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
        assert isinstance(outcomes["conflict"], StoreConflict)
        assert [e.type for e in outcomes["before"]] == ["before"]
        assert [e.type for e in outcomes["after"]] == ["after"]
        # Nothing of the failed write was stored or published, and no seq was burnt.
        events = await take(subscription, 2)
        assert [(e.seq, e.type) for e in events] == [(1, "before"), (2, "after")]
        await nothing_pending(subscription)
        assert env.ledger.stats.failed_writes == 1


async def test_a_bad_event_merged_with_good_ones_fails_alone() -> None:
    store = RecordingStore()
    async with ledger_env(store) as env:
        subscription = env.bus.subscribe()
        store.gate = anyio.Event()
        outcomes: dict[str, Any] = {}

        async def write(name: str, *drafts: EventDraft) -> None:
            try:
                outcomes[name] = await env.ledger.emit(*drafts)
            except (TypeError, ValueError) as exc:
                outcomes[name] = exc

        async with anyio.create_task_group() as tg:
            tg.start_soon(write, "first", draft("first"))
            await store.entered.wait()
            tg.start_soon(write, "good1", draft("good1"))
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(write, "bad", draft("bad", payload={"x": object()}))
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(write, "good2", draft("good2"))
            await anyio.wait_all_tasks_blocked()
            store.gate.set()
        assert isinstance(outcomes["bad"], TypeError | ValueError)
        events = await take(subscription, 3)
        assert [(e.seq, e.type) for e in events] == [(1, "first"), (2, "good1"), (3, "good2")]
        assert outcomes["good2"] == events[2:]
        await nothing_pending(subscription)


async def test_publication_order_is_seq_order_under_concurrent_writers() -> None:
    async with ledger_env() as env:
        subscription = env.bus.subscribe()
        returned: list[Event] = []

        async def writer(index: int) -> None:
            for n in range(10):
                if n % 3 == 0:
                    returned.extend(
                        await env.ledger.write(
                            Batch((SetMeta(f"w{index}", str(n)),), (draft(f"w{index}"),))
                        )
                    )
                elif n % 3 == 1:
                    returned.extend(await env.ledger.emit(draft(f"w{index}"), draft(f"w{index}")))
                else:
                    await env.ledger.append([draft(f"w{index}")])

        async with anyio.create_task_group() as tg:
            for index in range(8):
                tg.start_soon(writer, index)
        total = 8 * (4 + 3 * 2 + 3)
        events = await take(subscription, total)
        assert seqs(events) == list(range(1, total + 1))
        by_seq = {event.seq: event for event in events}
        assert all(by_seq[event.seq] == event for event in returned)
        # Each writer's own events keep the order it wrote them in.
        for index in range(8):
            own = [e.seq for e in events if e.type == f"w{index}"]
            assert own == sorted(own)
            assert len(own) == 13
        assert await env.store.last_seq() == total


async def test_close_drains_the_queue_before_run_returns() -> None:
    store = MemoryStore()
    await store.open()
    bus = EventBus(store)
    ledger = Ledger(store, bus)
    subscription = bus.subscribe()
    # Queued before the writer even started, then closed: all of it is still written.
    for n in range(50):
        await ledger.append([draft(payload={"n": n})])
    await ledger.submit(Batch((SetMeta("last", "yes"),), (draft("mutation"),)))
    await ledger.close()
    with anyio.fail_after(WAIT):
        await ledger.run()  # returns once the queue is drained
    assert await store.last_seq() == 51
    assert await store.get_meta("last") == "yes"
    events = await take(subscription, 51)
    assert seqs(events) == list(range(1, 52))
    assert events[-1].type == "mutation"


def test_broadcast_session_events_reach_subscribers_of_other_threads() -> None:
    def event(type_: str, thread: str | None, *, system: bool = False) -> Event:
        return Event(1, type_, thread, {}, utcnow(), system=system)

    following_a = EventFilter.of(["a"], include_thread_less=True)
    strictly_a = EventFilter.of(["a"])
    for type_ in bus_module.BROADCAST_TYPES:
        assert following_a.matches(event(type_, "b"))
        assert not strictly_a.matches(event(type_, "b"))
        # A system-owned session's events stay with subscribers that name it.
        assert not following_a.matches(event(type_, "b", system=True))
    assert not following_a.matches(event("session_updated", "b"))
    assert following_a.matches(event("project_upserted", None))

"""The Ledger when the store refuses writes (disk full, read-only, I/O errors).

Nothing acknowledged may be dropped silently: the runtime's events (`submit`) are held in
memory and retried with a backoff on the Clock (a FakeClock here, so no test waits for real
time), writes a caller waits for fail at once with StoreUnavailable, the hold is bounded and
what it drops is announced by `ledger_events_lost` markers once writes resume. A bad write
(a bug, a conflict) still fails only its caller and does not degrade anything.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import pytest

from codex_manager_core.errors import StoreUnavailable
from codex_manager_core.events.bus import EventBus, EventFilter, Subscription
from codex_manager_core.events.holding import EVENTS_LOST
from codex_manager_core.events.ledger import MIN_RETRY_GAP, Ledger, RetryBackoff
from codex_manager_core.models import Event, EventDraft, Lagged, RequestStatus
from codex_manager_core.ports.store import Batch, EventQuery, SetMeta, TransitionRequest
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing import FakeClock, FaultyStore, store_full

pytestmark = pytest.mark.anyio

WAIT = 5.0  # bound for anything that should take milliseconds
DATA_DIR = "/srv/codex-manager/.data"


def draft(n: int, thread_id: str | None = "t1", *, system: bool = False) -> EventDraft:
    return EventDraft("test.event", thread_id, {"n": n}, system=system)


@attrs.define
class Env:
    store: FaultyStore
    inner: MemoryStore
    bus: EventBus
    ledger: Ledger
    clock: FakeClock

    def fail(self) -> None:
        self.store.failure = store_full(DATA_DIR)

    def heal(self) -> None:
        self.store.failure = None

    async def stored(self) -> list[Event]:
        return await self.inner.read_events(EventQuery(since=0, limit=10_000, thread_ids=None))

    async def stored_all(self, *threads: str) -> list[Event]:
        """Every stored event of these threads, system events included."""
        return await self.inner.read_events(
            EventQuery(since=0, limit=10_000, thread_ids=frozenset(threads))
        )


@asynccontextmanager
async def degradable_ledger(
    *, max_held_events: int = 1000, backoff: RetryBackoff | None = None
) -> AsyncIterator[Env]:
    inner = MemoryStore()
    store = FaultyStore(inner)
    await store.open()
    bus = EventBus(store, last_seq=0, buffer=10_000)
    clock = FakeClock()
    ledger = Ledger(
        store,
        bus,
        clock=clock,
        max_held_events=max_held_events,
        backoff=backoff or RetryBackoff(initial=0.5, maximum=4.0),
    )
    async with anyio.create_task_group() as tasks:
        await tasks.start(ledger.run)
        try:
            with anyio.fail_after(WAIT):
                yield Env(store, inner, bus, ledger, clock)
        finally:
            # Always: the writer is shielded and ends only through close().
            await ledger.close()
    # The MemoryStore stays open: tests read what was written by the time the ledger stopped.


async def take(subscription: Subscription, count: int) -> list[Event]:
    events = []
    with anyio.fail_after(WAIT):
        for _ in range(count):
            item = await subscription.next()
            assert not isinstance(item, Lagged), item
            events.append(item)
    return events


async def settle(env: Env) -> None:
    """Let the writer take what was submitted (a write waits behind everything queued)."""
    with pytest.raises(StoreUnavailable):
        await env.ledger.emit(draft(-1))


# ---------------------------------------------------------------------- holding


async def test_runtime_events_are_held_while_the_disk_is_full_then_written_in_order() -> None:
    async with degradable_ledger() as env:
        await env.ledger.emit(draft(0))
        subscription = env.bus.subscribe()
        env.fail()
        for n in range(1, 6):
            await env.ledger.submit(Batch(events=(draft(n),)))
        await settle(env)
        storage = env.ledger.storage
        assert storage.writable is False
        assert storage.held_events == 5
        assert storage.location == DATA_DIR
        assert "disk is full" in (storage.reason or "")
        assert storage.failing_since == env.clock.now()
        assert [e.payload["n"] for e in await env.stored()] == [0]  # nothing else stored yet
        with pytest.raises(TimeoutError):
            await subscription.next(timeout=0.05)  # and nothing published before it is durable

        env.heal()
        await env.clock.wait_for_sleepers(1)
        env.clock.advance(env.clock.sleepers[0])
        events = await take(subscription, 5)
        assert [event.payload["n"] for event in events] == [1, 2, 3, 4, 5]
        assert [event.seq for event in events] == [2, 3, 4, 5, 6]  # no gap: -1 was refused
        assert [e.payload["n"] for e in await env.stored()] == [0, 1, 2, 3, 4, 5]
        assert env.ledger.storage.writable is True
        assert env.ledger.storage.held_events == 0
        assert env.ledger.storage.lost_events == 0


async def test_a_waited_write_fails_at_once_naming_the_data_dir_and_stores_nothing() -> None:
    async with degradable_ledger() as env:
        env.fail()
        with pytest.raises(StoreUnavailable) as raised:
            await env.ledger.write(Batch((SetMeta("k", "v"),), (draft(1),)))
        assert raised.value.location == DATA_DIR
        assert DATA_DIR in str(raised.value)
        assert raised.value.code == "store_unavailable"
        await env.ledger.submit(Batch(events=(draft(2),)))
        # While failing, a waited write does not even reach the store...
        attempts = env.store.attempts
        with pytest.raises(StoreUnavailable) as again:
            await env.ledger.emit(draft(3))
        assert env.store.attempts == attempts
        assert again.value.held_events == 1  # ... and says how much is held
        assert again.value.since == env.clock.now()
        assert env.ledger.stats.refused_writes == 2
        assert await env.inner.get_meta("k") is None
        assert await env.stored() == []


async def test_retries_back_off_on_the_clock_up_to_the_maximum() -> None:
    async with degradable_ledger(backoff=RetryBackoff(initial=0.5, maximum=4.0)) as env:
        env.fail()
        await env.ledger.submit(Batch(events=(draft(1),)))
        delays = []
        for _ in range(6):
            await env.clock.wait_for_sleepers(1)
            (delay,) = env.clock.sleepers
            delays.append(delay)
            attempts = env.store.attempts
            env.clock.advance(delay)
            with anyio.fail_after(WAIT):
                while env.store.attempts == attempts:  # the retry ran (and failed again)
                    await env.clock.wait_for_sleepers(1)
        assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
        assert env.ledger.storage.retries == 6
        assert env.ledger.storage.held_events == 1


async def test_a_waited_write_after_space_frees_goes_through_without_waiting_for_the_timer() -> (
    None
):
    backoff = RetryBackoff(initial=600.0, maximum=600.0)  # the timer will not fire here
    async with degradable_ledger(backoff=backoff) as env:
        env.fail()
        for n in range(3):
            await env.ledger.submit(Batch(events=(draft(n),)))
        await settle(env)
        env.heal()
        # Right after an attempt, a write is refused without trying (no retry storm)...
        with pytest.raises(StoreUnavailable):
            await env.ledger.emit(draft(10))
        env.clock.advance(MIN_RETRY_GAP)
        # ... a second later it retries the held events first, then itself.
        written = await env.ledger.emit(draft(11))
        assert [e.payload["n"] for e in await env.stored()] == [0, 1, 2, 11]
        assert written[0].seq == 4
        assert env.ledger.storage.writable is True


async def test_overflow_drops_the_oldest_and_a_marker_says_how_many_when_writes_resume() -> None:
    async with degradable_ledger(max_held_events=4) as env:
        subscription = env.bus.subscribe(EventFilter.of(["t1", "t2"], None), since=0)
        env.fail()
        first_at = None
        for n in range(1, 8):
            thread = "t1" if n % 2 else "t2"
            event = draft(n, thread)
            first_at = first_at or event.at
            # Each carries a state change: those are never dropped.
            await env.ledger.submit(Batch((SetMeta(f"m{n}", str(n)),), (event,)))
        await settle(env)
        assert env.ledger.storage.held_events == 4
        assert env.ledger.storage.lost_events == 3  # 1 (t1), 2 (t2), 3 (t1)

        env.heal()
        await env.clock.wait_for_sleepers(1)
        env.clock.advance(env.clock.sleepers[0])
        events = await take(subscription, 6)
        markers = events[:2]
        assert [m.type for m in markers] == [EVENTS_LOST, EVENTS_LOST]
        lost = {m.thread_id: m.payload for m in markers}
        assert (lost["t1"]["count"], lost["t2"]["count"]) == (2, 1)
        assert lost["t1"]["firstAt"] <= lost["t1"]["lastAt"]
        assert "disk is full" in lost["t1"]["reason"]
        # The survivors follow the markers, in order: the gap is where the loss was.
        assert [e.payload["n"] for e in events[2:]] == [4, 5, 6, 7]
        assert [await env.inner.get_meta(f"m{n}") for n in range(1, 8)] == [
            str(n) for n in range(1, 8)
        ]
        assert env.ledger.storage.lost_events == 3


async def test_markers_of_system_threads_are_system_events() -> None:
    async with degradable_ledger(max_held_events=1) as env:
        env.fail()
        for n in range(3):
            await env.ledger.submit(Batch(events=(draft(n, "worker", system=True),)))
        await settle(env)
        env.heal()
        env.clock.advance(MIN_RETRY_GAP)
        await env.ledger.emit(draft(99, "other"))
        stored = await env.stored_all("worker")
        assert [(e.type, e.payload.get("count")) for e in stored] == [
            (EVENTS_LOST, 2),
            ("test.event", None),
        ]
        assert await env.stored() == [e for e in await env.stored() if e.thread_id == "other"]


async def test_a_bad_write_fails_only_its_caller_and_does_not_degrade() -> None:
    async with degradable_ledger() as env:
        await env.ledger.emit(draft(0))
        # A compare-and-set that does not hold is the caller's answer, not a store fault.
        with pytest.raises(Exception, match="missing"):
            await env.ledger.write(
                Batch(
                    (TransitionRequest("nope", (RequestStatus.PENDING,), RequestStatus.RESOLVED),)
                )
            )
        env.store.failure = ValueError("a bug in one write")
        await env.ledger.submit(Batch(events=(draft(2),)))  # logged and dropped, not held
        with pytest.raises(ValueError, match="a bug"):
            await env.ledger.emit(draft(1))  # (queued behind the submit)
        env.store.failure = None
        await env.ledger.emit(draft(3))
        assert env.ledger.storage.writable is True
        assert env.ledger.storage.held_events == 0
        assert [e.payload["n"] for e in await env.stored()] == [0, 3]
        assert env.ledger.stats.failed_writes == 3


async def test_stopping_tries_the_held_events_once_more() -> None:
    async with degradable_ledger(backoff=RetryBackoff(600.0, 600.0)) as env:
        env.fail()
        for n in range(3):
            await env.ledger.submit(Batch(events=(draft(n),)))
        await settle(env)
        env.heal()  # space came back, but no retry is due before the stop
    assert [e.payload["n"] for e in await env.stored()] == [0, 1, 2]


async def test_stopping_while_still_failing_reports_the_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with degradable_ledger() as env:
        env.fail()
        for n in range(3):
            await env.ledger.submit(Batch(events=(draft(n),)))
        await settle(env)
    assert await env.stored() == []
    assert any(
        "3 event(s) from the runtime could not be stored" in record.getMessage()
        for record in caplog.records
    ), [record.getMessage() for record in caplog.records]


async def test_a_merged_transaction_refused_holds_the_submits_and_fails_the_waiters() -> None:
    async with degradable_ledger() as env:
        env.fail()
        outcome: dict[str, Any] = {}

        async def waited() -> None:
            try:
                await env.ledger.emit(draft(2))
            except StoreUnavailable as exc:
                outcome["error"] = exc

        # Queue a submit, a waited write and another submit without yielding in between,
        # so the writer takes them in one merged transaction.
        async with anyio.create_task_group() as tasks:
            await env.ledger.submit(Batch(events=(draft(1),)))
            tasks.start_soon(waited)
            await env.ledger.submit(Batch(events=(draft(3),)))
        assert isinstance(outcome.get("error"), StoreUnavailable)
        assert env.ledger.storage.held_events == 2
        env.heal()
        env.clock.advance(MIN_RETRY_GAP)
        await env.ledger.emit(draft(4))
        assert [e.payload["n"] for e in await env.stored()] == [1, 3, 4]


async def test_ensure_writable_refuses_while_failing_and_probes_once_space_is_back() -> None:
    async with degradable_ledger() as env:
        await env.ledger.ensure_writable()  # healthy: it writes nothing
        assert env.store.attempts == 0
        env.fail()
        with pytest.raises(StoreUnavailable):
            await env.ledger.emit(draft(1))
        with pytest.raises(StoreUnavailable):
            await env.ledger.ensure_writable()
        env.heal()
        env.clock.advance(MIN_RETRY_GAP)
        await env.ledger.ensure_writable()  # one probe write, and the store is back
        assert env.ledger.storage.writable is True


async def test_wait_storage_wakes_on_degradation_and_recovery() -> None:
    async with degradable_ledger() as env:
        seen: list[Any] = []

        async def watch() -> None:
            seen.append(await env.ledger.wait_storage(lambda s: s.held_events >= 2))
            seen.append(await env.ledger.wait_storage(lambda s: s.writable))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(watch)
            env.fail()
            await env.ledger.submit(Batch(events=(draft(1),)))
            await env.ledger.submit(Batch(events=(draft(2),)))
            await env.clock.wait_for_sleepers(1)
            env.heal()
            env.clock.advance(env.clock.sleepers[0])
        assert seen[0].writable is False
        assert seen[0].held_events == 2
        assert seen[1].writable is True
        assert seen[1].held_events == 0

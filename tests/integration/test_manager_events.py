"""The Manager's event stream on the real codex runtime (acceptance 3).

Replay from a cursor equals the live sequence; a subscriber that joins mid-turn with a cursor
gets the stored part then the live part with no gap and no duplicate; a subscriber that never
reads is cut off with `Lagged(seq)` without slowing the runtime or anyone else, and resumes
from that seq; `manager.events.on(...)` handlers (sync and async) each get every event in order, and
one that raises or falls behind does not disturb the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from codex_manager_core import Event, Lagged, Manager, Subscription, TurnStatus
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.testing.scripted_model import Reply
from tests.integration.manager_fixtures import running_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0
TURN_COMPLETED = "app_server.turn.completed"
TEXT = "The quick brown fox jumps over the lazy dog, again and again and again. " * 4


def completes(turn_id: str) -> Callable[[Event], bool]:
    def predicate(event: Event) -> bool:
        return event.type == TURN_COMPLETED and event.payload["params"]["turn"]["id"] == turn_id

    return predicate


async def collect(
    subscription: Subscription,
    until: Callable[[Event], bool],
    *,
    on_event: Callable[[Event], Any] | None = None,
    what: str = "the end of the turn",
) -> list[Event]:
    """Every event of `subscription` up to and including the first that satisfies `until`
    (bounded; a Lagged fails the test)."""
    events: list[Event] = []
    try:
        with anyio.fail_after(WAIT):
            while True:
                item = await subscription.next()
                assert not isinstance(item, Lagged), f"lagged at {item.seq} after {len(events)}"
                events.append(item)
                if on_event is not None:
                    on_event(item)
                if until(item):
                    return events
    except TimeoutError:
        types = [event.type for event in events[-20:]]
        raise AssertionError(f"no {what} within {WAIT:g} s; saw {len(events)}: {types}") from None


async def collect_to_seq(subscription: Subscription, last: int) -> list[Event]:
    return await collect(subscription, lambda event: event.seq >= last, what=f"seq {last}")


def assert_consecutive(events: list[Event], first: int) -> None:
    got = [event.seq for event in events]
    assert got == list(range(first, first + len(events))), f"gap or duplicate in {got}"


async def all_stored(manager: Manager, since: int, last: int) -> list[Event]:
    events: list[Event] = []
    while since < last:
        page = await manager.events.read(since=since, limit=1000)
        events += [event for event in page if event.seq <= last]
        since = page[-1].seq
    return events


# ---------------------------------------------------------------------- replay


@pytest.mark.parametrize("store", ["sqlite", "memory"])
async def test_replay_from_any_cursor_equals_the_live_sequence(tmp_path: Path, store: str) -> None:
    script = [Reply(TEXT, chunks=40, delay=0.002)]
    memory = MemoryStore() if store == "memory" else None  # else the default SqliteStore
    async with running_manager(tmp_path, script, store=memory) as env:
        manager = env.manager
        session = await manager.sessions.create()
        live = manager.events.subscribe()
        start = live.last_seq
        turn_started: list[int] = []
        first_delta: list[int] = []
        joined: list[Event] = []
        joined_at: list[int] = []  # the bus head when the late subscriber registered

        async def join_mid_turn(since: int, turn_id: str) -> None:
            """A subscriber that starts while the answer streams, from a cursor before."""
            late = manager.events.subscribe(since=since)
            joined_at.append(manager.bus.last_seq)
            joined.extend(await collect(late, completes(turn_id)))

        async with anyio.create_task_group() as tg:
            handle = await manager.turns.send(session.session_id, "stream please")

            def watch(event: Event) -> None:
                if event.type == "app_server.turn.started":
                    turn_started.append(event.seq)
                elif event.type.endswith("agent_message.delta") and not first_delta:
                    first_delta.append(event.seq)
                    tg.start_soon(join_mid_turn, turn_started[0], handle.turn_id)

            recorded = await collect(live, completes(handle.turn_id), on_event=watch)

        assert_consecutive(recorded, start + 1)
        last = recorded[-1].seq
        deltas = [e for e in recorded if e.type == "app_server.item.agent_message.delta"]
        assert len(deltas) == 40
        assert "".join(e.payload["params"]["delta"] for e in deltas) == TEXT

        # The mid-turn subscriber: stored part, then live part, no gap, no duplicate.
        (k,) = turn_started
        (head,) = joined_at
        assert k < head < last, "the late subscriber did not join mid-turn"
        assert_consecutive(joined, k + 1)
        assert joined == [event for event in recorded if event.seq > k]

        # Replays after the fact, from several cursors, equal what was seen live.
        middle = deltas[len(deltas) // 2].seq
        for since in (start, k, middle, last - 1):
            replayed = await collect_to_seq(manager.events.subscribe(since=since), last)
            assert replayed == [event for event in recorded if event.seq > since], since
        from_zero = await collect_to_seq(manager.events.subscribe(since=0), last)
        assert_consecutive(from_zero, 1)
        assert from_zero[start:] == recorded
        assert from_zero == await all_stored(manager, 0, last)

        # Filtered replay equals the filtered live sequence.
        filtered = manager.events.subscribe(
            since=start, thread_ids=[session.session_id], types=["app_server.item."]
        )
        items = [e for e in recorded if e.type.startswith("app_server.item.")]
        assert await collect_to_seq(filtered, items[-1].seq) == items


# ---------------------------------------------------------------------- slow subscribers


async def test_stalled_subscriber_lags_without_slowing_anyone(tmp_path: Path) -> None:
    script = [Reply("warm-up"), Reply(TEXT, chunks=150), Reply(TEXT, chunks=150)]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        session = await manager.sessions.create()
        sid = session.session_id

        async def timed_turn(text: str) -> tuple[float, list[Event], int]:
            fast = manager.events.subscribe()
            start = fast.last_seq
            seen: list[Event] = []
            async with anyio.create_task_group() as tg:
                began = time.perf_counter()
                handle = await manager.turns.send(sid, text)

                async def read_all() -> None:
                    seen.extend(await collect(fast, completes(handle.turn_id)))

                tg.start_soon(read_all)
                result = await manager.turns.wait(sid, handle.turn_id, timeout=WAIT)
                elapsed = time.perf_counter() - began
            assert result.status is TurnStatus.COMPLETED
            return elapsed, seen, start

        await manager.turns.send_and_wait(sid, "warm up", timeout=WAIT)  # the thread's first turn
        stalled = manager.events.subscribe(buffer=5)
        stalled_cursor = stalled.last_seq
        with_stalled, seen, start = await timed_turn("first")
        without, _, _ = await timed_turn("second")
        print(
            f"\nturn with a stalled subscriber {with_stalled * 1000:.0f} ms, "
            f"without {without * 1000:.0f} ms ({len(seen)} events)"
        )

        # The fast subscriber saw the whole turn, in order, nothing missing.
        assert start == stalled_cursor
        assert_consecutive(seen, start + 1)
        assert len([e for e in seen if e.type.endswith("agent_message.delta")]) == 150
        # The stalled one was cut off where it stopped reading, and resumes from there.
        lagged = await stalled.next(timeout=WAIT)
        assert lagged == Lagged(stalled_cursor)
        with pytest.raises(StopAsyncIteration):
            await stalled.next(timeout=WAIT)
        resumed = manager.events.subscribe(since=lagged.seq, buffer=5)
        caught_up = await collect_to_seq(resumed, seen[-1].seq)
        assert caught_up == seen


# ---------------------------------------------------------------------- handlers


async def test_on_handlers_sync_async_and_failing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="codex_manager_core.manager")
    script = [Reply(TEXT, chunks=20)]
    async with running_manager(tmp_path, script) as env:
        manager = env.manager
        session = await manager.sessions.create()
        start = manager.bus.last_seq
        prefixes = ("app_server.item.", TURN_COMPLETED)
        got: dict[str, list[Event]] = {"sync": [], "async": [], "broken": [], "async_broken": []}
        finished = {name: anyio.Event() for name in got}

        def record(name: str, event: Event) -> None:
            got[name].append(event)
            if event.type == TURN_COMPLETED:
                finished[name].set()

        @manager.events.on(*prefixes)
        def sync_handler(event: Event) -> None:
            record("sync", event)

        @manager.events.on(*prefixes)
        async def async_handler(event: Event) -> None:
            await anyio.lowlevel.checkpoint()
            record("async", event)

        @manager.events.on(*prefixes)
        def broken(event: Event) -> None:
            record("broken", event)
            raise RuntimeError("handler bug")

        @manager.events.on(*prefixes)
        async def async_broken(event: Event) -> None:
            await anyio.lowlevel.checkpoint()
            record("async_broken", event)
            raise ValueError("async handler bug")

        assert sync_handler.__name__ == "sync_handler"  # the decorator returns the function
        result = await manager.turns.send_and_wait(session.session_id, "hi", timeout=WAIT)
        assert result.status is TurnStatus.COMPLETED
        with anyio.fail_after(WAIT):
            for event in finished.values():
                await event.wait()

        stored = await all_stored(manager, start, got["sync"][-1].seq)
        wanted = [e for e in stored if e.type.startswith(prefixes)]
        assert len(wanted) > 20
        for name, events in got.items():
            assert events == wanted, name
        failures = [r for r in caplog.records if "event handler" in r.getMessage()]
        assert len(failures) == 2 * len(wanted)


async def test_a_handler_that_falls_behind_resumes_without_gap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="codex_manager_core.manager")
    script = [Reply(TEXT, chunks=30)]
    async with running_manager(tmp_path, script, subscriber_buffer=8) as env:
        manager = env.manager
        session = await manager.sessions.create()
        start = manager.bus.last_seq
        gate = anyio.Event()
        done = anyio.Event()
        slow_seen: list[Event] = []
        quick_seen: list[Event] = []

        @manager.events.on("app_server.")
        async def slow(event: Event) -> None:
            await gate.wait()  # stuck on the first event until the turn is over
            slow_seen.append(event)
            if event.type == TURN_COMPLETED:
                done.set()

        @manager.events.on("app_server.")
        def quick(event: Event) -> None:
            quick_seen.append(event)

        result = await manager.turns.send_and_wait(session.session_id, "hi", timeout=WAIT)
        assert result.status is TurnStatus.COMPLETED
        gate.set()
        with anyio.fail_after(WAIT):
            await done.wait()
        stored = await all_stored(manager, start, slow_seen[-1].seq)
        wanted = [e for e in stored if e.type.startswith("app_server.")]
        assert len(wanted) > 30
        assert slow_seen == wanted
        assert quick_seen[: len(wanted)] == wanted
        assert any("fell behind" in r.getMessage() for r in caplog.records)


async def test_retention_drops_deltas_of_completed_items_and_keeps_their_final_state(
    tmp_path: Path,
) -> None:
    """`compact_ledger`: the streaming deltas of a completed item go, the completed item
    (with the full text) and every other event stay; the transcript is unchanged. A stalled
    turn's deltas (its item never completed) are kept."""
    from codex_manager_core.testing.scripted_model import Stall

    async with running_manager(tmp_path, [Reply(TEXT, chunks=8), Stall("partial")]) as env:
        manager = env.manager
        session = await manager.sessions.create()
        done = await manager.turns.send_and_wait(session.session_id, "stream it", timeout=WAIT)
        assert done.status is TurnStatus.COMPLETED
        stalled = await manager.turns.send(session.session_id, "and stall")
        async with manager.events.subscribe(
            thread_ids=[session.session_id], since=stalled.since_seq
        ) as sub:
            with anyio.fail_after(WAIT):
                async for item in sub:
                    assert not isinstance(item, Lagged)
                    if item.type == "app_server.item.agent_message.delta":
                        break  # the stalled turn has streamed its partial text

        def stored() -> Any:
            return manager.events.read(limit=1000, thread_ids=[session.session_id])

        before = await stored()
        transcript_before = (await manager.transcript.get(session.session_id)).entries
        deltas = [e for e in before if e.type == "app_server.item.agent_message.delta"]
        completed_items = {
            e.item_id for e in before if e.type == "app_server.item.completed" and e.item_id
        }
        doomed = [e for e in deltas if e.item_id in completed_items]
        kept_deltas = [e for e in deltas if e.item_id not in completed_items]
        assert len(doomed) == 8, "the completed answer streamed in 8 deltas"
        assert kept_deltas, "the stalled turn's delta belongs to an item that never completed"

        await manager.events.compact(older_than=0)

        after = await stored()
        assert [e.seq for e in after] == [e.seq for e in before if e not in doomed]
        assert not any(e.seq in {d.seq for d in doomed} for e in after)
        final = [
            e
            for e in after
            if e.type == "app_server.item.completed"
            and e.payload["params"]["item"].get("type") == "agentMessage"
        ]
        assert [e.payload["params"]["item"]["text"] for e in final] == [TEXT]
        assert (await manager.transcript.get(session.session_id)).entries == transcript_before
        # With the default retention (a week) nothing this young is dropped.
        await manager.events.compact()
        assert [e.seq for e in await stored()] == [e.seq for e in after]
        await manager.turns.interrupt(session.session_id, stalled.turn_id)

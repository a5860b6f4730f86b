"""Store operation figures for both adapters: apply() throughput and read latencies.

    python bench/store_ops.py [--backend asyncio|trio]

Prints medians: apply() of batches of 1, 50 and 500 delta-like events (ms per batch and
events/s), and at 10,000 sessions: list_sessions(limit=100) (whole call, and for SQLite
the query alone), get_session and read_events(limit=1000) of one thread.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from codex_manager_core.models import Controls, EventDraft, SessionRecord, TitleSource
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import Batch, EventQuery, PutSession, SessionQuery
from codex_manager_core.store.memory import MemoryStore
from codex_manager_core.store.sqlite import SqliteStore, sessions_sql

SESSIONS = 10_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def session(index: int) -> SessionRecord:
    stamp = T0 + timedelta(seconds=index // 3)  # equal updated_at values, as in real lists
    return SessionRecord(
        session_id=f"thread-{index:06d}",
        title=f"Session {index}",
        title_source=TitleSource.USER,
        cwd="/home/user/project",
        project_id=None,
        archived=index % 10 == 0,
        system_owned=index % 7 == 0,
        materialized=True,
        status="idle",
        model="gpt-5",
        preview="Refactor the parser and add tests for the edge cases",
        created_at=stamp,
        updated_at=stamp,
        controls=Controls(model="gpt-5", settings={"ui": {"pinned": False}}),
    )


def delta(index: int) -> EventDraft:
    return EventDraft(
        type="app_server.item.agent_message.delta",
        thread_id=f"thread-{index % 4:06d}",
        payload={"threadId": "t", "turnId": "u", "itemId": "i", "delta": "some streamed text "},
        item_id="i",
        delta=True,
    )


async def median_ms(call: Callable[[], Awaitable[object]], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def bench(name: str, store: Store) -> None:
    await store.open()
    try:
        for size in (1, 50, 500):
            batch = Batch(events=tuple(delta(i) for i in range(size)))

            async def apply(batch: Batch = batch) -> None:
                await store.apply(batch)

            ms = await median_ms(apply, max(30, 3000 // size))
            print(
                f"{name:7} apply {size:>3} events   {ms:8.3f} ms/batch  {size / ms * 1000:>9,.0f} ev/s"
            )
        for start in range(0, SESSIONS, 1000):
            await store.apply(
                Batch(mutations=tuple(PutSession(session(i)) for i in range(start, start + 1000)))
            )
        query = SessionQuery(limit=100)
        page = await store.list_sessions(query)
        assert len(page.items) == 100
        ms = await median_ms(lambda: store.list_sessions(query), 200)
        print(f"{name:7} list_sessions(limit=100) @10k   {ms:8.3f} ms")
        second = SessionQuery(limit=100, cursor=page.next_cursor)
        ms = await median_ms(lambda: store.list_sessions(second), 200)
        print(f"{name:7} list_sessions page 2 @10k       {ms:8.3f} ms")
        if isinstance(store, SqliteStore):
            conn = store._inline
            assert conn is not None
            sql, params = sessions_sql(query)

            async def raw() -> None:
                conn.execute(sql, params).fetchall()

            ms = await median_ms(raw, 500)
            print(f"{name:7}   of which SQLite query           {ms:8.3f} ms")
        ms = await median_ms(lambda: store.get_session("thread-005001"), 2000)
        print(f"{name:7} get_session                     {ms * 1000:8.1f} us")
        one_thread = EventQuery(thread_ids=frozenset({"thread-000001"}), limit=1000)
        ms = await median_ms(lambda: store.read_events(one_thread), 50)
        print(f"{name:7} read_events(1 thread, 1000)     {ms:8.3f} ms")
    finally:
        await store.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        await bench("memory", MemoryStore())
        await bench("sqlite", SqliteStore(Path(directory) / "bench.db"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    anyio.run(main, backend=parser.parse_args().backend)

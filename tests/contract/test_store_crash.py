"""Acceptance: a SqliteStore killed at any instant reopens with every acknowledged write.

`crash_writer.py` applies batches to one file as fast as it can and prints the last seq
of each batch once `apply()` returned. We SIGKILL it at a random moment (a seeded random
delay after its first acknowledgement), 20 times in a row on the same file, and after each
kill reopen the store in this process and check:

- it opens (SQLite's WAL recovery; nothing for us to repair);
- the ledger is exactly seqs 1..last_seq, no gap, no hole, and holds every acknowledged seq;
- the state rows are exactly what the events say happened (each batch wrote both or
  neither): sessions, tombstones, request statuses and the meta batch counter.

The writer and the checker alternate between asyncio and trio.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import attrs

from codex_manager_core.models import RequestStatus
from codex_manager_core.ports.store import EventQuery, RequestQuery
from codex_manager_core.store.sqlite import SqliteStore

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 20
SESSIONS = 40  # as in crash_writer.py
SEED = 20260325


@attrs.define
class Model:
    """The state the events describe, rebuilt incrementally from the ledger."""

    verified_seq: int = 0
    batch: int = 0
    sessions: dict[str, int] = attrs.field(factory=dict)
    tombstones: set[str] = attrs.field(factory=set)
    requests: dict[str, list[str]] = attrs.field(factory=dict)  # id -> [thread, status]

    def feed(self, type_: str, payload: Any) -> None:
        if type_ == "crash.batch":
            assert payload["n"] == self.batch + 1, "batches are numbered without gaps"
            self.batch = payload["n"]
        elif type_ == "crash.session.put":
            self.sessions[payload["session_id"]] = payload["rev"]
        elif type_ == "crash.session.deleted":
            session_id = payload["session_id"]
            self.sessions.pop(session_id, None)
            self.tombstones.add(session_id)
            for row in self.requests.values():
                if row[0] == session_id and row[1] == RequestStatus.PENDING.value:
                    row[1] = RequestStatus.INVALIDATED.value
        elif type_ == "crash.request.put":
            self.requests[payload["request_id"]] = [
                payload["thread_id"],
                RequestStatus.PENDING.value,
            ]
        elif type_ == "crash.request.resolved":
            row = self.requests[payload["request_id"]]
            assert row[1] == RequestStatus.PENDING.value, f"resolved twice: {payload}"
            row[1] = RequestStatus.RESOLVED.value


async def run_writer_until_killed(path: Path, seed: int, backend: str, delay: float) -> list[int]:
    """Start the writer, let it acknowledge at least one batch, wait `delay`, SIGKILL it.
    Returns every acknowledgement it printed (read to EOF after the kill)."""
    acks: list[int] = []
    first_ack = anyio.Event()
    command = [sys.executable, str(WRITER), str(path), str(seed), backend]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with process:
        assert process.stdout is not None
        assert process.stderr is not None
        stdout, stderr = process.stdout, process.stderr
        errors = bytearray()

        async def read_acks() -> None:
            buffer = b""
            async for chunk in stdout:
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                acks.extend(int(line) for line in lines)
                if acks:
                    first_ack.set()
            first_ack.set()  # EOF: the writer died (checked below)

        async def read_errors() -> None:
            async for chunk in stderr:
                errors.extend(chunk)

        try:
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(read_acks)
                    tg.start_soon(read_errors)
                    await first_ack.wait()
                    assert acks, f"writer exited before its first ack: {errors.decode()}"
                    await anyio.sleep(delay)  # the kill moment, not a synchronisation
                    process.send_signal(signal.SIGKILL)
                    # read_acks/read_errors end at EOF, after the kill.
            returncode = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
    assert returncode == -signal.SIGKILL, (
        f"writer ended by itself ({returncode}), not by our SIGKILL: {errors.decode()}"
    )
    return acks


async def check_store(path: Path, acks: list[int], model: Model) -> int:
    """Reopen the store after a kill and check it against the acknowledgements and the
    model rebuilt from the ledger. Returns the last seq."""
    store = SqliteStore(path)
    with anyio.fail_after(20):
        await store.open()
        try:
            last = await store.last_seq()
            assert acks == sorted(acks), "acknowledgements go up"
            assert last >= acks[-1], f"acknowledged seq {acks[-1]} lost (last_seq {last})"
            stats = await store.stats()
            assert stats.events == last, f"{stats.events} events for seqs 1..{last}: a gap"
            # Everything since the previous check, exactly once, in order.
            new = await store.read_events(
                EventQuery(since=model.verified_seq, limit=10**9, thread_ids=None)
            )
            assert [e.seq for e in new] == list(range(model.verified_seq + 1, last + 1))
            for event in new:
                model.feed(event.type, event.payload)
            model.verified_seq = last
            # The state rows are what the events say.
            assert await store.get_meta("crash.batch") == str(model.batch)
            for index in range(SESSIONS):
                session_id = f"s{index}"
                row = await store.get_session(session_id)
                rev = model.sessions.get(session_id)
                assert (row.title if row else None) == (f"rev {rev}" if rev else None), session_id
                tombstone = await store.get_tombstone(session_id)
                assert (tombstone is not None) == (session_id in model.tombstones), session_id
            requests = {
                r.request_id: [r.thread_id, r.status.value]
                for r in await store.list_requests(RequestQuery())
            }
            assert requests == model.requests
            assert stats.sessions == len(model.sessions)
            return last
        finally:
            await store.close()


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    rng = random.Random(SEED)
    model = Model()
    total_acks = 0
    for kill in range(KILLS):
        backend = ("asyncio", "trio")[kill % 2]
        delay = rng.uniform(0.0, 0.25)
        seed = rng.randrange(2**32)
        acks = anyio.run(run_writer_until_killed, path, seed, backend, delay, backend=backend)
        total_acks += len(acks)
        last = anyio.run(check_store, path, acks, model, backend=backend)
        assert last >= model.verified_seq
    # The file really was written by many batches across the kills.
    assert model.batch >= KILLS
    assert total_acks >= KILLS

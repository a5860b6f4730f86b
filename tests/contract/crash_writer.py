"""The victim of tests/contract/test_store_crash.py: writes to a SqliteStore until killed.

    python crash_writer.py PATH SEED BACKEND

Applies batches in a loop (event-only batches of random sizes, and batches that put or
delete sessions and put or resolve interactive requests) and, after each `apply()` has
returned, prints the batch's last seq on its own line and flushes: an acknowledgement. The
test kills this process with SIGKILL at a random moment and checks that every acknowledged
seq survived and that the state rows agree with the events.

Every batch carries the events that describe its mutations, so the test can rebuild the
expected state from the ledger alone:

- `crash.batch` {n}: the batch number, also stored as meta `crash.batch`;
- `crash.session.put` {session_id, rev}: session row with title "rev <rev>";
- `crash.session.deleted` {session_id}: DeleteSession (open requests invalidated);
- `crash.request.put` {request_id, thread_id}: a pending request;
- `crash.request.resolved` {request_id}: pending -> resolved.

It resumes numbering and its list of pending requests from the store, so it can be run
again and again on the same file.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio

from codex_manager_core.models import (
    Controls,
    EventDraft,
    InteractiveRequest,
    RequestKind,
    RequestStatus,
    SessionRecord,
    TitleSource,
    Tombstone,
)
from codex_manager_core.ports.store import (
    Batch,
    DeleteSession,
    Mutation,
    PutRequest,
    PutSession,
    RequestQuery,
    SetMeta,
    TransitionRequest,
)
from codex_manager_core.store.sqlite import SqliteStore

SESSIONS = 40


def session_record(session_id: str, rev: int, now: datetime) -> SessionRecord:
    return SessionRecord(
        session_id=session_id,
        title=f"rev {rev}",
        title_source=TitleSource.USER,
        cwd="/work",
        project_id=None,
        archived=False,
        system_owned=False,
        materialized=True,
        status="idle",
        model=None,
        preview="",
        created_at=now,
        updated_at=now,
        controls=Controls(),
    )


def request_record(request_id: str, thread_id: str, now: datetime) -> InteractiveRequest:
    return InteractiveRequest(
        request_id=request_id,
        kind=RequestKind.APPROVAL,
        method="item/commandExecution/requestApproval",
        generation=1,
        rpc_id=request_id,
        thread_id=thread_id,
        turn_id=None,
        item_id=None,
        params={"command": ["true"]},
        status=RequestStatus.PENDING,
        created_at=now,
    )


async def main(path: Path, seed: int) -> None:
    store = SqliteStore(path)
    await store.open()
    rng = random.Random(seed)
    number = int(await store.get_meta("crash.batch") or 0)
    pending = {
        r.request_id: r.thread_id or ""
        for r in await store.list_requests(RequestQuery(statuses=(RequestStatus.PENDING,)))
    }
    out = sys.stdout
    while True:
        number += 1
        now = datetime.now(UTC)
        mutations: list[Mutation] = [SetMeta("crash.batch", str(number))]
        events = [EventDraft("crash.batch", None, {"n": number}, at=now)]
        if rng.random() < 0.5:
            size = rng.choice([rng.randint(1, 50), rng.randint(50, 500), rng.randint(500, 3000)])
            thread = f"s{rng.randrange(SESSIONS)}"
            events += [
                EventDraft(
                    "crash.delta",
                    thread,
                    {"n": number, "i": i, "pad": "x" * rng.randint(0, 300)},
                    at=now,
                    item_id=f"item-{number}",
                    delta=True,
                )
                for i in range(size)
            ]
        else:
            session_id = f"s{rng.randrange(SESSIONS)}"
            if rng.random() < 0.15:
                mutations.append(DeleteSession(Tombstone(session_id, "gone", now)))
                events.append(
                    EventDraft("crash.session.deleted", session_id, {"session_id": session_id})
                )
                pending = {r: t for r, t in pending.items() if t != session_id}
            else:
                mutations.append(PutSession(session_record(session_id, number, now)))
                events.append(
                    EventDraft(
                        "crash.session.put", session_id, {"session_id": session_id, "rev": number}
                    )
                )
                request_id = f"r{number}"
                mutations.append(PutRequest(request_record(request_id, session_id, now)))
                events.append(
                    EventDraft(
                        "crash.request.put",
                        session_id,
                        {"request_id": request_id, "thread_id": session_id},
                    )
                )
                pending[request_id] = session_id
            if pending and rng.random() < 0.6:
                resolved = rng.choice(sorted(pending))
                del pending[resolved]
                mutations.append(
                    TransitionRequest(
                        resolved,
                        (RequestStatus.PENDING,),
                        RequestStatus.RESOLVED,
                        {"resolved_at": now, "resolution": {"decision": "accept"}},
                    )
                )
                events.append(EventDraft("crash.request.resolved", None, {"request_id": resolved}))
        stored = await store.apply(Batch(mutations=tuple(mutations), events=tuple(events)))
        out.write(f"{stored[-1].seq}\n")
        out.flush()


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]), int(sys.argv[2]), backend=sys.argv[3])

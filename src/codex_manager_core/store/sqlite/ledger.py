"""SqliteStore, domain "ledger": the `events` table and `ledger_state.last_seq`.

Events are appended by every batch, after its mutations, with seqs read from
`ledger_state` inside the transaction (see `store.py`); this module holds that append, the
ledger's own mutation (delta compaction) and the SELECT behind `read_events`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import apsw

from codex_manager_core.ports.store.ledger import CompactDeltas, EventQuery
from codex_manager_core.store import codec
from codex_manager_core.store.codec import Row
from codex_manager_core.store.event_rows import EVENT_COLUMNS
from codex_manager_core.store.sqlite.sql import Op, execute, one, placeholders, select

INSERT_EVENT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
EVENT_SELECT = select("events", EVENT_COLUMNS)
COMPACT = (
    "DELETE FROM events WHERE delta = 1 AND at < ? AND item_id IN "
    "(SELECT item_id FROM events WHERE item_id IS NOT NULL AND type = ?)"
)
LAST_SEQ = "SELECT last_seq FROM ledger_state WHERE id = 1"


def compile_compact(mutation: CompactDeltas) -> Op:
    limit = codec.enc_dt(mutation.before, "CompactDeltas.before")
    return execute(COMPACT, (limit, mutation.completed_type))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {CompactDeltas: compile_compact}


def append(conn: apsw.Connection, encoded: Sequence[Row]) -> list[Row]:
    """Append encoded drafts (`event_rows.encode_draft`) with the next seqs, inside the
    caller's transaction. Returns the rows written (seq first)."""
    (last,) = one(conn, LAST_SEQ) or (0,)
    rows = [(last + i, *row) for i, row in enumerate(encoded, start=1)]
    conn.executemany(INSERT_EVENT, rows)
    conn.execute("UPDATE ledger_state SET last_seq = ? WHERE id = 1", (last + len(rows),))
    return rows


def last_seq(conn: apsw.Connection) -> int:
    row = one(conn, LAST_SEQ)
    return int(row[0]) if row else 0


MERGE_THREADS = 16
"""Up to this many thread ids, read_events merges one bounded index range per thread."""


def events_sql(query: EventQuery) -> tuple[str, list[Any]]:
    """The SELECT for `read_events` (query.limit >= 1), shaped so that a page costs about
    `limit` rows whatever the size of the ledger:

    - no thread filter: the seq (rowid) range from `since`, skipping system events;
    - one thread: the (thread_id, seq) index range, already in order;
    - a few threads: one such range per thread, each cut at `limit`, merged by seq (a
      plain `thread_id IN (...)` would read and sort every event of those threads after
      `since` to produce one page);
    - many threads: the seq range again, keeping the rows of those threads.
    """
    where = ["seq > ?"]
    params: list[Any] = [query.since]
    if query.until is not None:
        where.append("seq <= ?")
        params.append(query.until)
    if query.type_prefixes is not None:
        # substr() compares exactly: case-sensitive, no LIKE/GLOB wildcards to escape.
        prefixes = query.type_prefixes
        where.append(
            "(" + " OR ".join(["substr(type, 1, ?) = ?"] * len(prefixes)) + ")" if prefixes else "0"
        )
        for prefix in prefixes:
            params.extend((len(prefix), prefix))
    order = f"ORDER BY seq LIMIT {int(query.limit)}"
    threads = None if query.thread_ids is None else sorted(query.thread_ids)
    if threads is None:
        return f"{EVENT_SELECT} WHERE system = 0 AND {' AND '.join(where)} {order}", params
    # With thread ids: exactly the events of those threads, their system events included.
    if not threads:
        return f"{EVENT_SELECT} WHERE 0 {order}", []
    if len(threads) == 1:
        sql = f"{EVENT_SELECT} INDEXED BY events_thread WHERE thread_id = ? AND "
        return sql + f"{' AND '.join(where)} {order}", [threads[0], *params]
    if len(threads) <= MERGE_THREADS:
        arm = (
            f"SELECT * FROM ({EVENT_SELECT} INDEXED BY events_thread "
            f"WHERE thread_id = ? AND {' AND '.join(where)} {order})"
        )
        merged: list[Any] = []
        for thread in threads:
            merged.extend((thread, *params))
        return f"{' UNION ALL '.join([arm] * len(threads))} {order}", merged
    in_list = f"thread_id IN ({placeholders(len(threads))})"
    sql = f"{EVENT_SELECT} NOT INDEXED WHERE {' AND '.join(where)} AND {in_list} {order}"
    return sql, [*params, *threads]

"""From the runtime's stream to the ledger: translation and the state it implies.

Every notification becomes one `app_server.<normalized>` event. Some also change what we
keep about sessions and turns (a turn started, a title arrived, the thread went idle); the
event and that change are one write batch, so the ledger and the state always agree. The
notification path never waits for the disk (writes are queued in order); only the ledger
writer does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from codex_manager_core import rpc
from codex_manager_core.errors import StoreUnavailable
from codex_manager_core.events.naming import notification_event_type
from codex_manager_core.events.payloads import app_server_envelope
from codex_manager_core.models import (
    EventDraft,
    SessionRecord,
    TitleSource,
    TurnRecord,
    TurnStatus,
)
from codex_manager_core.ports.store import (
    Batch,
    Mutation,
    PatchSession,
    PatchTurn,
    PutTurn,
    RequestQuery,
    SessionQuery,
    SetMeta,
)
from codex_manager_core.runtime.client import InitializeResult
from codex_manager_core.runtime.supervisor import ExitRecord
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.request_lifecycle import RequestLifecycle
from codex_manager_core.turn_outcome import final_text_of, turn_error_of

logger = logging.getLogger("codex_manager_core.runtime_events")

#: Streaming notifications: many per item, compacted once the item completed.
DELTA_METHODS: Final = frozenset(
    {
        "item/agentMessage/delta",
        "item/plan/delta",
        "item/commandExecution/outputDelta",
        "item/fileChange/outputDelta",
        "item/reasoning/summaryTextDelta",
        "item/reasoning/summaryPartAdded",
        "item/reasoning/textDelta",
        "item/mcpToolCall/progress",
    }
)
PREVIEW_CHARS: Final = 200


def thread_id_of(params: Mapping[str, Any]) -> str | None:
    value = params.get("threadId") or params.get("conversationId")
    if isinstance(value, str):
        return value
    thread = params.get("thread")
    if isinstance(thread, Mapping) and isinstance(thread.get("id"), str):
        return str(thread["id"])
    return None


def turn_id_of(params: Mapping[str, Any]) -> str | None:
    value = params.get("turnId")
    if isinstance(value, str):
        return value
    turn = params.get("turn")
    if isinstance(turn, Mapping) and isinstance(turn.get("id"), str):
        return str(turn["id"])
    return None


def item_id_of(params: Mapping[str, Any]) -> str | None:
    value = params.get("itemId")
    if isinstance(value, str):
        return value
    item = params.get("item")
    if isinstance(item, Mapping) and isinstance(item.get("id"), str):
        return str(item["id"])
    return None


def user_text_of(item: Mapping[str, Any]) -> str:
    parts = []
    for content in item.get("content") or []:
        if isinstance(content, Mapping) and content.get("type") == "text":
            parts.append(str(content.get("text", "")))
    return " ".join(parts)


class RuntimeEvents:
    """Runtime callbacks: ready, exit, notifications (server requests: RequestIntake)."""

    def __init__(self, ctx: ServiceContext, lifecycle: RequestLifecycle) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._lifecycle = lifecycle

    async def on_ready(self, epoch: int, init: InitializeResult) -> None:
        # The stored number may lag behind ours while the store refuses writes (the last
        # one is held): never hand out a generation twice, request ids are built on it.
        stored = int(await self._ctx.store.get_meta("generation") or 0)
        generation = max(stored, self._ctx.state.generation) + 1
        await self._write_or_hold(
            [SetMeta("generation", str(generation))],
            [
                self._ctx.event(
                    "runtime_state_changed",
                    None,
                    {
                        "state": "ready",
                        "generation": generation,
                        "codexVersion": init.codex_version,
                        "experimentalApi": init.experimental_api,
                    },
                )
            ],
        )
        self._ctx.state.generation = generation
        self._ctx.state.generations[epoch] = generation
        self._ctx.state.loaded_threads.clear()
        self._ctx.spawn("reconcile turns", self._reconcile_open_turns)

    async def on_exit(self, record: ExitRecord) -> None:
        generation = self._ctx.state.generations.pop(record.epoch, None)
        self._ctx.state.loaded_threads.clear()
        if generation is not None:
            try:
                await self._lifecycle.expire(
                    RequestQuery(generation=generation), "the runtime process exited"
                )
            except StoreUnavailable as exc:
                # They stay open in the store; nothing can answer them any more, and the
                # sweep at the next start expires them.
                logger.warning(
                    "could not expire the requests of generation %s: %s", generation, exc
                )
        await self._write_or_hold(
            (),
            [
                self._ctx.event(
                    "runtime_state_changed",
                    None,
                    {
                        "state": "stopped" if record.expected else "exited",
                        "generation": generation,
                        "returncode": record.returncode,
                        "signal": record.signal,
                    },
                )
            ],
        )

    async def _write_or_hold(
        self, mutations: Sequence[Mutation], events: Sequence[EventDraft]
    ) -> None:
        """Write and wait for it; while the store refuses writes, hold it in the ledger
        instead (written once the store takes writes again), as the runtime's events are."""
        try:
            await self._ctx.write(mutations, events)
        except StoreUnavailable:
            await self._ctx.ledger.submit(Batch(tuple(mutations), tuple(events)))

    async def _reconcile_open_turns(self) -> None:
        """Turns the store still shows in progress (the runtime died mid-turn, or the manager
        restarted): re-read their threads; the runtime is the authority."""
        cursor = None
        while True:
            page = await self._ctx.store.list_sessions(
                SessionQuery(archived=None, include_system_owned=True, cursor=cursor, limit=200)
            )
            for record in page.items:
                if record.active_turn_id is not None:
                    self._records.cache.setdefault(record.session_id, record)
                    self._ctx.threads.bind(record.session_id, record.runtime_thread_id)
                    await self._reconcile_turn(record.session_id, record.active_turn_id)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _reconcile_turn(self, thread_id: str, turn_id: str) -> None:
        status = TurnStatus.INTERRUPTED
        final_text: str | None = None
        error: str | None = "the runtime exited during the turn"
        try:
            result = await self._ctx.call(
                "thread/read", {"threadId": thread_id, "includeTurns": True}
            )
            turns = (result.get("thread") or {}).get("turns") or []
            for turn in turns:
                if isinstance(turn, Mapping) and turn.get("id") == turn_id:
                    raw = str(turn.get("status"))
                    if raw in TurnStatus._value2member_map_ and raw != "inProgress":
                        status = TurnStatus(raw)
                        final_text = final_text_of(turn)
                        error = turn_error_of(turn)
        except Exception as exc:
            logger.info("could not re-read thread %s: %s", thread_id, exc)
        now = self._ctx.now()
        await self._records.patch(
            thread_id,
            {"active_turn_id": None, "status": "idle"},
            [
                self._ctx.event(
                    "turn_reconciled",
                    thread_id,
                    {"threadId": thread_id, "turnId": turn_id, "status": status.value},
                )
            ],
            PatchTurn(
                turn_id,
                {
                    "status": status,
                    "completed_at": now,
                    "final_text": final_text,
                    "error": error,
                },
            ),
        )

    # ------------------------------------------------------------------ notifications

    async def on_notification(self, epoch: int, notification: rpc.Notification) -> None:
        raw_params = self._ctx.threads.incoming(notification.params)
        params = raw_params if isinstance(raw_params, Mapping) else {}
        method = notification.method
        thread_id = thread_id_of(params)
        session = await self._notification_session(thread_id)
        if thread_id is not None and session is None and thread_id in self._records.tombstones:
            return  # suppressed: the session was deleted
        now = self._ctx.now()
        event_type = notification_event_type(method)
        turn_id = turn_id_of(params)
        draft = EventDraft(
            event_type,
            thread_id,
            app_server_envelope(
                signal_type="notification",
                event_type=event_type,
                method=method,
                received_at=now,
                params=raw_params,
                session=session,
                thread_id=thread_id,
                turn_id=turn_id,
                emitted_at_ms=notification.message.get("emittedAtMs"),
            ),
            now,
            item_id=item_id_of(params),
            delta=method in DELTA_METHODS,
            system=bool(session and session.system_owned),
        )
        mutations = self._state_changes(method, params, session, thread_id, now)
        await self._ctx.ledger.submit(Batch(tuple(mutations), (draft,)))
        # Requests the runtime no longer waits for expire, off this path: whether there are
        # any is answered from memory, and only then is a write waited for, in a task.
        lifecycle = self._lifecycle
        if method == "turn/completed" and thread_id and turn_id:
            if lifecycle.pending_in_turn(thread_id, turn_id):
                self._ctx.spawn(
                    "expire at turn end", lifecycle.expire_on_turn_end, thread_id, turn_id
                )
        elif method == "serverRequest/resolved" and lifecycle.pending_rpc_request(params):
            self._ctx.spawn("expire resolved", lifecycle.expire_resolved_by_runtime, dict(params))

    async def _notification_session(self, thread_id: str | None) -> SessionRecord | None:
        if thread_id is None or thread_id in self._records.unknown_threads:
            return None
        session = self._records.cache.get(thread_id) or await self._records.find(thread_id)
        if session is None and await self._records.tombstone(thread_id) is None:
            # Re-check after the awaits: create_session may have recorded it meanwhile.
            session = self._records.cache.get(thread_id)
            if session is None:
                self._records.unknown_threads.add(thread_id)
        return session

    def _state_changes(
        self,
        method: str,
        params: Mapping[str, Any],
        session: SessionRecord | None,
        thread_id: str | None,
        now: datetime,
    ) -> list[Mutation]:
        """What this notification changes in our state (cache updated now, store with the
        event). Only known sessions are touched."""
        if session is None or thread_id is None:
            return []
        changes: dict[str, Any] = {}
        extra: list[Mutation] = []
        if method == "thread/name/updated":
            name = params.get("threadName") or params.get("name")
            if isinstance(name, str) and name and session.title_source is not TitleSource.USER:
                changes = {"title": name, "title_source": TitleSource.RUNTIME}
        elif method == "thread/status/changed":
            status = params.get("status")
            if isinstance(status, Mapping) and isinstance(status.get("type"), str):
                changes = {"status": status["type"]}
        elif method in ("thread/archived", "thread/unarchived"):
            changes = {"archived": method == "thread/archived", "updated_at": now}
        elif method == "turn/started":
            turn_id = turn_id_of(params)
            if turn_id:
                changes = {
                    "active_turn_id": turn_id,
                    "last_turn_id": turn_id,
                    "materialized": True,
                    "updated_at": now,
                }
                extra.append(PutTurn(TurnRecord(turn_id, thread_id, TurnStatus.IN_PROGRESS, now)))
        elif method == "turn/completed":
            turn = params.get("turn")
            if isinstance(turn, Mapping) and isinstance(turn.get("id"), str):
                turn_id = str(turn["id"])
                raw_status = str(turn.get("status"))
                status = (
                    TurnStatus(raw_status)
                    if raw_status in TurnStatus._value2member_map_
                    else TurnStatus.FAILED
                )
                record = TurnRecord(
                    turn_id,
                    thread_id,
                    status,
                    now,
                    completed_at=now,
                    final_text=final_text_of(turn),
                    error=turn_error_of(turn),
                )
                # PutTurn would lose started_at; PatchTurn misses a turn we never saw start.
                extra.append(
                    PatchTurn(
                        turn_id,
                        {
                            "status": status,
                            "completed_at": now,
                            "final_text": record.final_text,
                            "error": record.error,
                        },
                    )
                    if session.last_turn_id == turn_id or session.active_turn_id == turn_id
                    else PutTurn(record)
                )
                changes = {"updated_at": now, "last_turn_id": turn_id}
                if session.active_turn_id in (turn_id, None):
                    changes["active_turn_id"] = None
        elif method == "item/completed":
            item = params.get("item")
            if (
                not session.preview
                and isinstance(item, Mapping)
                and item.get("type") == "userMessage"
            ):
                changes = {"preview": user_text_of(item)[:PREVIEW_CHARS]}
        elif method == "error":
            turn_id = turn_id_of(params)
            error = params.get("error")
            if turn_id and not params.get("willRetry"):
                message = error.get("message") if isinstance(error, Mapping) else error
                extra.append(PatchTurn(turn_id, {"error": str(message)}))
        if not changes and not extra:
            return []
        if changes:
            self._records.cache[thread_id] = attrs.evolve(session, **changes)
            extra.insert(0, PatchSession(thread_id, changes))
        return extra

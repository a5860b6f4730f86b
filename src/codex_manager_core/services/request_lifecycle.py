"""The lifecycle of interactive requests: claim, answer, expire.

Each server request that waits for an answer becomes a durable row. Its life is
pending -> resolving -> resolved, or -> expired / invalidated. Answering is a
compare-and-set on the row (pending -> resolving) before anything is sent to the runtime, so
of two answers exactly one wins and the other gets Conflict ("already resolved" or "in
flight"). Rows expire when the runtime resolves them itself (`serverRequest/resolved`), when
their turn ends, when the runtime process exits, after the optional timeout, and at start-up
for every row a previous manager process left open.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import anyio
import attrs

from codex_manager_core.errors import Conflict, RuntimeUnavailable, TransportClosed
from codex_manager_core.models import EventDraft, InteractiveRequest, RequestKind, RequestStatus
from codex_manager_core.ports.store import RequestQuery, StoreConflict, TransitionRequest
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.request_rules import RESOLVED_EVENT, approval_reply

logger = logging.getLogger("codex_manager_core.requests")


class RequestLifecycle:
    """Every change of a request row: a compare-and-set transition with its event."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self.open: dict[str, InteractiveRequest] = {}
        """Requests pending or being answered, by request id."""

    def resolved_event(
        self, record: InteractiveRequest, status: str, extra: Mapping[str, Any]
    ) -> EventDraft:
        id_key = "approvalId" if record.kind is RequestKind.APPROVAL else "requestId"
        payload = {id_key: record.request_id, "status": status, **extra}
        if record.reason and status != "resolved":
            payload["reason"] = record.reason
        return EventDraft(
            RESOLVED_EVENT[record.kind],
            record.thread_id,
            payload,
            self._ctx.now(),
            system=bool(
                record.thread_id
                and (session := self._records.cache.get(record.thread_id)) is not None
                and session.system_owned
            ),
        )

    def raise_if_closed(self, record: InteractiveRequest) -> None:
        if record.status is RequestStatus.RESOLVING:
            raise Conflict(
                f"{record.request_id} is being answered right now (in flight); "
                "only one answer can win",
                code="in_flight",
            )
        if not record.status.open:
            raise Conflict(
                f"{record.request_id} is already {record.status.value}"
                + (f" ({record.reason})" if record.reason else ""),
                code="already_resolved",
                details={"status": record.status.value},
            )

    async def transition(
        self,
        record: InteractiveRequest,
        from_statuses: tuple[RequestStatus, ...],
        to_status: RequestStatus,
        events: Sequence[EventDraft] = (),
        **changes: Any,
    ) -> InteractiveRequest:
        try:
            await self._ctx.write(
                [TransitionRequest(record.request_id, from_statuses, to_status, changes)], events
            )
        except StoreConflict:
            current = await self._ctx.store.get_request(record.request_id)
            if current is not None:
                self.track(current)
                self.raise_if_closed(current)
            else:
                self.open.pop(record.request_id, None)
            raise
        changed = attrs.evolve(record, status=to_status, **changes)
        self.track(changed)
        return changed

    # ------------------------------------------------------------------ open requests
    # The rows still pending or being answered, in memory: the notification path asks
    # "is anything open for this turn / this runtime request id?" at every turn end, and
    # must not wait on a store query for the answer (almost always "no"). Exact, since
    # every row is written by intake (`track`) or changed by `transition`, and the rows a
    # previous process left open are expired before the runtime starts.

    def track(self, record: InteractiveRequest) -> None:
        """Note a row as written: kept while it is open, forgotten once it is not."""
        if record.status.open:
            self.open[record.request_id] = record
        else:
            self.open.pop(record.request_id, None)

    def pending_in_turn(self, thread_id: str, turn_id: str) -> bool:
        return any(
            record.status is RequestStatus.PENDING
            and record.thread_id == thread_id
            and record.turn_id == turn_id
            for record in self.open.values()
        )

    def pending_rpc_request(self, params: Mapping[str, Any]) -> bool:
        """Whether `serverRequest/resolved` names a request of ours that is still pending."""
        rpc_id = params.get("requestId")
        record = self.open.get(f"{self._ctx.state.generation}-{rpc_id}")
        return rpc_id is not None and record is not None and record.status is RequestStatus.PENDING

    async def answer(
        self,
        record: InteractiveRequest,
        reply: Any,
        resolution: Mapping[str, Any],
        resolved_payload: Mapping[str, Any],
    ) -> InteractiveRequest:
        claimed = await self.transition(record, (RequestStatus.PENDING,), RequestStatus.RESOLVING)
        epoch = self.epoch_of(claimed.generation)
        try:
            if epoch is None:
                raise RuntimeUnavailable("the runtime process that asked has exited")
            await self._ctx.supervisor.reply(epoch, claimed.rpc_id, reply)
        except (RuntimeUnavailable, TransportClosed) as exc:
            expired = attrs.evolve(
                claimed, reason="the runtime exited before the answer was delivered"
            )
            await self.transition(
                claimed,
                (RequestStatus.RESOLVING,),
                RequestStatus.EXPIRED,
                [self.resolved_event(expired, "expired", {})],
                resolved_at=self._ctx.now(),
                reason=expired.reason,
            )
            raise Conflict(
                f"{record.request_id} expired: {expired.reason}", code="expired"
            ) from exc
        except BaseException:
            # Cancelled mid-send: give the request back so someone can answer it.
            with anyio.CancelScope(shield=True):
                await self.transition(claimed, (RequestStatus.RESOLVING,), RequestStatus.PENDING)
            raise
        resolved = attrs.evolve(claimed, resolution=dict(resolution))
        actor = resolution.get("actor")
        if isinstance(actor, str) and actor:
            # Who answered (a person's client, `job:<id>`, `extension:<module>`).
            resolved_payload = {**resolved_payload, "actor": actor}
        return await self.transition(
            claimed,
            (RequestStatus.RESOLVING,),
            RequestStatus.RESOLVED,
            [self.resolved_event(resolved, "resolved", resolved_payload)],
            resolved_at=self._ctx.now(),
            resolution=dict(resolution),
            reason=f"answered by {resolution.get('actor') or 'a client'}",
        )

    def epoch_of(self, generation: int) -> int | None:
        if generation != self._ctx.state.generation:
            return None
        for epoch, known in self._ctx.state.generations.items():
            if known == generation:
                return epoch
        return None

    async def expire(
        self,
        query: RequestQuery,
        reason: str,
        *,
        to_status: RequestStatus = RequestStatus.EXPIRED,
        statuses: tuple[RequestStatus, ...] = (RequestStatus.PENDING,),
    ) -> int:
        """End every request matching `query` in one of `statuses` (no answer is sent: the
        runtime no longer waits for one). By default only pending ones: an answer being
        sent right now finishes on its own (its write is already queued ahead of ours).
        Returns how many."""
        records = await self._ctx.store.list_requests(attrs.evolve(query, statuses=statuses))
        return await self._end(records, reason, to_status=to_status, statuses=statuses)

    async def _end(
        self,
        records: Iterable[InteractiveRequest],
        reason: str,
        *,
        to_status: RequestStatus = RequestStatus.EXPIRED,
        statuses: tuple[RequestStatus, ...] = (RequestStatus.PENDING,),
    ) -> int:
        count = 0
        for record in records:
            ended = attrs.evolve(record, reason=reason)
            try:
                await self.transition(
                    record,
                    statuses,
                    to_status,
                    [self.resolved_event(ended, to_status.value, {})],
                    resolved_at=self._ctx.now(),
                    reason=reason,
                )
            except (StoreConflict, Conflict):
                continue  # resolved meanwhile
            count += 1
        return count

    async def expire_after(self, request_id: str, timeout: float) -> None:
        """The optional timeout: expire and answer the runtime with the refusal."""
        await self._ctx.clock.sleep(timeout)
        record = await self._ctx.store.get_request(request_id)
        if record is None or record.status is not RequestStatus.PENDING:
            return
        if record.kind is RequestKind.APPROVAL:
            _, reply = approval_reply(record.method, "decline", None, record.params)
        elif record.kind is RequestKind.USER_INPUT:
            reply = {"answers": {}}
        else:
            reply = {
                "success": False,
                "contentItems": [{"type": "inputText", "text": "timed out waiting for an answer"}],
            }
        reason = f"no answer within {timeout:g} s"
        try:
            claimed = await self.transition(
                record, (RequestStatus.PENDING,), RequestStatus.RESOLVING
            )
        except (Conflict, StoreConflict):
            return
        epoch = self.epoch_of(claimed.generation)
        if epoch is not None:
            with contextlib.suppress(RuntimeUnavailable, TransportClosed):
                await self._ctx.supervisor.reply(epoch, claimed.rpc_id, reply)
        ended = attrs.evolve(claimed, reason=reason)
        await self.transition(
            claimed,
            (RequestStatus.RESOLVING,),
            RequestStatus.EXPIRED,
            [self.resolved_event(ended, "expired", {})],
            resolved_at=self._ctx.now(),
            reason=reason,
            resolution={"timeout": timeout, "reply": reply},
        )

    async def expire_on_turn_end(self, thread_id: str, turn_id: str) -> None:
        """Expire the turn's pending requests (known from memory: one whose row is still
        being written is already tracked, and its expiry is queued after that write)."""
        await self._end(
            [
                record
                for record in list(self.open.values())
                if record.status is RequestStatus.PENDING
                and record.thread_id == thread_id
                and record.turn_id == turn_id
            ],
            "the turn ended",
        )

    async def expire_resolved_by_runtime(self, params: Mapping[str, Any]) -> None:
        rpc_id = params.get("requestId")
        if rpc_id is None:
            return
        request_id = f"{self._ctx.state.generation}-{rpc_id}"
        record = await self._ctx.store.get_request(request_id)
        if record is None or record.status is not RequestStatus.PENDING:
            return
        ended = attrs.evolve(record, reason="resolved by the runtime")
        with contextlib.suppress(StoreConflict, Conflict):
            await self.transition(
                record,
                (RequestStatus.PENDING,),
                RequestStatus.EXPIRED,
                [self.resolved_event(ended, "expired", {})],
                resolved_at=self._ctx.now(),
                reason=ended.reason,
            )

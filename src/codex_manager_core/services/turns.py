"""Turns: send a message, wait for the answer (driven by events, never by polling),
interrupt and steer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from codex_manager_core.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    NotFound,
    TurnInProgress,
)
from codex_manager_core.events.bus import EventFilter, Subscription
from codex_manager_core.models import JsonObject, Lagged, SessionRecord, TurnRecord
from codex_manager_core.services.context import ServiceContext, check_id
from codex_manager_core.services.controls import ControlsService, approval_wire, sandbox_policy
from codex_manager_core.services.session_threads import SessionThreads
from codex_manager_core.services.turn_waits import (
    RetryCallback,
    TurnErrorNotice,
    TurnResult,
    wait_for_turn_end,
)

__all__ = [
    "TurnErrorNotice",
    "TurnHandle",
    "TurnResult",
    "TurnsService",
    "normalize_input",
]

INPUT_TYPES: Final = ("text", "image", "localImage")


#: How long an interrupt waits for the runtime to announce a turn it just started.
INTERRUPT_GRACE: Final = 5.0
#: How long a turn we started counts as running before the runtime announces it.
UNANNOUNCED_TURN_GRACE: Final = 30.0


@attrs.frozen
class TurnHandle:
    """A started turn."""

    session_id: str
    turn_id: str
    since_seq: int
    """The ledger position just before the turn started (subscribe from here to see it all)."""


InputItem = Mapping[str, Any]


def normalize_input(value: str | Sequence[InputItem], max_bytes: int) -> list[dict[str, Any]]:
    """Turn input as app-server wants it: a string is one text item; items may be
    {type: text, text}, {type: image, url} or {type: localImage, path}."""
    if isinstance(value, str):
        items: list[Any] = [{"type": "text", "text": value}]
    elif isinstance(value, Sequence) and not isinstance(value, bytes):
        items = list(value)
    else:
        raise InvalidInput(
            "input must be a string or a list of input items",
            issues=[{"path": ["input"], "message": "invalid type"}],
        )
    if not items:
        raise InvalidInput("input is empty", issues=[{"path": ["input"], "message": "empty"}])
    result = []
    total = 0
    for index, item in enumerate(items):
        problem = None
        if not isinstance(item, Mapping):
            problem = "must be an object"
        elif item.get("type") == "text":
            text = item.get("text")
            if not isinstance(text, str):
                problem = "text must be a string"
            else:
                total += len(text.encode())
                result.append({"type": "text", "text": text})
        elif item.get("type") == "image":
            url = item.get("url") or item.get("imageUrl")
            if not isinstance(url, str) or not url:
                problem = "image needs a url"
            else:
                result.append({"type": "image", "url": url})
        elif item.get("type") == "localImage":
            path = item.get("path")
            if not isinstance(path, str) or not path or "\x00" in path:
                problem = "localImage needs a path"
            else:
                result.append({"type": "localImage", "path": path})
        else:
            problem = f"type must be one of {list(INPUT_TYPES)}"
        if problem is not None:
            raise InvalidInput(
                f"input[{index}]: {problem}",
                issues=[{"path": ["input", index], "message": problem}],
            )
    if total > max_bytes:
        raise InvalidInput(
            f"the message text is {total} bytes; the limit is {max_bytes}",
            issues=[{"path": ["text"], "message": "too large"}],
        )
    if all(item["type"] == "text" and not item["text"].strip() for item in result):
        raise InvalidInput("the message is empty", issues=[{"path": ["text"], "message": "empty"}])
    return result


class TurnsService:
    """Messages, turns and waiting for them (`manager.turns`)."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        controls: ControlsService,
        session_threads: SessionThreads,
    ) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._controls = controls
        self._session_threads = session_threads

    async def send(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        *,
        model: str | None = None,
        effort: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        collaboration_mode: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> TurnHandle:
        """Start a turn and return its id at once. The session's controls apply, with these
        per-call overrides (not persisted). Resumes the thread first when the runtime was
        restarted since it was last used. While a turn of the session runs, TurnInProgress
        (the runtime would fold the text into that turn and drop the overrides): steer it
        with `steer_turn`, or wait for it to end."""
        record = await self._records.get(session_id, allow_system=False)
        return await self._send(
            record,
            input,
            model=model,
            effort=effort,
            approval_policy=approval_policy,
            network_access=network_access,
            filesystem_sandbox=filesystem_sandbox,
            collaboration_mode=collaboration_mode,
            output_schema=output_schema,
        )

    async def send_to_worker(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        *,
        model: str | None = None,
        effort: str | None = None,
    ) -> TurnHandle:
        """The queue's path: a turn on a system-owned worker session, which `send` refuses
        (people do not talk to workers)."""
        record = await self._records.get(session_id)
        if not record.system_owned:
            raise InvalidInput(f"session {session_id} is not a worker session")
        return await self._send(record, input, model=model, effort=effort)

    async def _send(
        self,
        record: SessionRecord,
        input: str | Sequence[InputItem],
        **overrides: Any,
    ) -> TurnHandle:
        session_id = record.session_id
        # One start at a time per session, so a second message sees the first one's turn.
        async with self._ctx.state.turn_starts.hold(session_id):
            running = await self._running_turn(session_id)
            if running is not None:
                raise TurnInProgress(session_id, running)
            return await self._start_turn(record, input, **overrides)

    async def _running_turn(self, session_id: str) -> str | None:
        """The turn of the session the runtime is running now, as far as we know: the one it
        announced (`turn/started`), or one we started that it has not announced yet. A
        thread not loaded in the current runtime process runs nothing."""
        if session_id not in self._ctx.state.loaded_threads:
            return None
        current = self._records.cache.get(session_id)
        if current is not None and current.active_turn_id:
            return current.active_turn_id
        pending = self._ctx.state.pending_turns.get(session_id)
        if pending is None:
            return None
        turn_id, started = pending
        if current is not None and current.last_turn_id == turn_id:
            return None  # announced, and ended since (active_turn_id is clear)
        if self._ctx.clock.monotonic() - started > UNANNOUNCED_TURN_GRACE:
            return None  # never announced: not running (the runtime announces at once)
        stored = await self._ctx.store.get_turn(turn_id)
        if stored is not None and stored.status.terminal:
            return None
        return turn_id

    async def _start_turn(
        self,
        record: SessionRecord,
        input: str | Sequence[InputItem],
        *,
        model: str | None = None,
        effort: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        collaboration_mode: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> TurnHandle:
        items = normalize_input(input, self._ctx.config.max_input_bytes)
        controls = self._controls.resolve(
            record.controls,
            model=model,
            approval_policy=approval_policy,
            network_access=network_access,
            filesystem_sandbox=filesystem_sandbox,
        )
        if effort is not None and (not isinstance(effort, str) or not effort or len(effort) > 40):
            raise InvalidInput(
                f"effort must be a reasoning effort name, got {effort!r}",
                issues=[{"path": ["effort"], "message": "invalid"}],
            )
        params: dict[str, Any] = {
            "threadId": record.session_id,
            "input": items,
            "approvalPolicy": approval_wire(controls.approval_policy),
            "sandboxPolicy": sandbox_policy(controls),
        }
        if controls.model:
            params["model"] = controls.model
        if effort:
            params["effort"] = effort
        if collaboration_mode is not None:
            if not isinstance(collaboration_mode, Mapping):
                raise InvalidInput(
                    "collaboration_mode must be an object",
                    issues=[{"path": ["collaboration_mode"], "message": "not an object"}],
                )
            params["collaborationMode"] = dict(collaboration_mode)
        if output_schema is not None:
            if not isinstance(output_schema, Mapping):
                raise InvalidInput(
                    "output_schema must be a JSON Schema object",
                    issues=[{"path": ["output_schema"], "message": "not an object"}],
                )
            params["outputSchema"] = dict(output_schema)
        since = self._ctx.bus.last_seq
        record = await self._session_threads.ensure(record)
        try:
            result = await self._ctx.call("turn/start", params)
        except NotFound:
            # "thread not found": the runtime lost it although we thought it loaded (it
            # restarted meanwhile); load it again (resume, or a new thread) and retry once.
            self._ctx.state.loaded_threads.discard(record.session_id)
            record = await self._session_threads.ensure(record)
            result = await self._ctx.call("turn/start", params)
        turn = result.get("turn") if isinstance(result, Mapping) else None
        if not isinstance(turn, Mapping) or not isinstance(turn.get("id"), str):
            raise InvalidInput(f"turn/start returned no turn id: {result!r}")
        turn_id = str(turn["id"])
        # Until the runtime announces it (turn/started, just after this answer), it is not
        # the session's active turn yet; remember it so an interrupt right now finds it.
        self._ctx.state.pending_turns[record.session_id] = (turn_id, self._ctx.clock.monotonic())
        return TurnHandle(record.session_id, turn_id, since)

    async def wait(
        self,
        session_id: str,
        turn_id: str,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
    ) -> TurnResult:
        """Wait until the turn ends; return its status and final assistant text. Driven by
        the ledger's events (a turn that already ended returns at once).

        Raises `TurnFailed` (with the runtime's message) as soon as the runtime gives up on
        the turn or the turn ends `failed`, and `TurnTimeout` after `timeout` seconds (the
        turn goes on). Each retry the runtime announces ("Reconnecting... 2/5") is logged as
        a warning and passed to `on_retry` (a function or an async function) if given."""
        await self._records.get(session_id)
        check_id(turn_id, "turn_id")
        return await wait_for_turn_end(
            self._ctx.bus,
            self._ctx.store,
            self._ctx.clock,
            session_id,
            turn_id,
            timeout=timeout,
            on_retry=on_retry,
        )

    async def send_and_wait(
        self,
        session_id: str,
        input: str | Sequence[InputItem],
        /,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        **overrides: Any,
    ) -> TurnResult:
        """send_message + wait_for_turn (every retry of the turn is reported, also those
        announced before the wait began)."""
        handle = await self.send(session_id, input, **overrides)
        return await wait_for_turn_end(
            self._ctx.bus,
            self._ctx.store,
            self._ctx.clock,
            session_id,
            handle.turn_id,
            timeout=timeout,
            since=handle.since_seq,
            on_retry=on_retry,
        )

    async def get(self, turn_id: str) -> TurnRecord:
        stored = await self._ctx.store.get_turn(check_id(turn_id, "turn_id"))
        if stored is None:
            raise NotFound(f"no turn {turn_id!r} is known")
        return stored

    def _pending_turn_id(self, session_id: str) -> str | None:
        pending = self._ctx.state.pending_turns.get(session_id)
        return pending[0] if pending is not None else None

    async def interrupt(self, session_id: str, turn_id: str | None = None) -> str:
        """Interrupt the given (or the active) turn; Conflict no_active_turn if none."""
        record = await self._records.get(session_id, allow_system=False)
        return await self._interrupt(record, turn_id)

    async def interrupt_worker(self, session_id: str, turn_id: str) -> str:
        """The queue's path: interrupt a worker session's turn (a job being canceled)."""
        return await self._interrupt(await self._records.get(session_id), turn_id)

    async def _interrupt(self, record: SessionRecord, turn_id: str | None) -> str:
        session_id = record.session_id
        target = (
            check_id(turn_id, "turn_id")
            if turn_id is not None
            else record.active_turn_id or self._pending_turn_id(session_id)
        )
        stored = await self._ctx.store.get_turn(target) if target else None
        if not target or (stored is not None and stored.status.terminal):
            raise Conflict(f"session {session_id} has no active turn", code="no_active_turn")
        params = {"threadId": session_id, "turnId": target}
        # Subscribed before asking, so a turn/started that arrives meanwhile is not missed.
        started = self._ctx.bus.subscribe(EventFilter.of([session_id], ["app_server.turn.started"]))
        try:
            try:
                await self._ctx.call("turn/interrupt", params)
            except InvalidState as exc:
                # The runtime refuses to interrupt a turn it has answered turn/start for but
                # not yet announced (turn/started comes just after): wait for it, once.
                if "no active turn" not in exc.message.lower() or not await self._announced(
                    started, target, INTERRUPT_GRACE
                ):
                    raise Conflict(
                        f"session {session_id} has no active turn ({exc.message})",
                        code="no_active_turn",
                    ) from exc
                await self._ctx.call("turn/interrupt", params)
        finally:
            started.close()
        return target

    async def _announced(self, subscription: Subscription, turn_id: str, timeout: float) -> bool:
        """Whether `turn/started` for `turn_id` is (or gets, within `timeout`) published."""
        stored = await self._ctx.store.get_turn(turn_id)
        if stored is not None:
            return not stored.status.terminal
        with self._ctx.clock.move_on_after(timeout):
            async for item in subscription:
                if isinstance(item, Lagged):
                    return (await self._ctx.store.get_turn(turn_id)) is not None
                params = item.payload.get("params") if isinstance(item.payload, Mapping) else None
                turn = params.get("turn") if isinstance(params, Mapping) else None
                if isinstance(turn, Mapping) and turn.get("id") == turn_id:
                    return True
        return False

    async def steer(
        self, session_id: str, turn_id: str, input: str | Sequence[InputItem]
    ) -> JsonObject:
        """Add input to a running turn (`turn/steer`, checked against `turn_id`)."""
        await self._records.get(session_id, allow_system=False)
        check_id(turn_id, "turn_id")
        items = normalize_input(input, self._ctx.config.max_input_bytes)
        return await self._ctx.call_object(
            "turn/steer", {"threadId": session_id, "input": items, "expectedTurnId": turn_id}
        )

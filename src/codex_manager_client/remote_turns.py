"""`RemoteManager.turns`: start, steer and interrupt a turn over HTTP, and wait for its end
over the event stream (`codex_manager_client.waits`, event-driven, never polling)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from codex_manager_client import decode
from codex_manager_client.transport import Transport, drop_none, seg
from codex_manager_core import TurnErrorNotice, TurnHandle

if TYPE_CHECKING:
    from codex_manager_client.stream import StreamFrame
    from codex_manager_core import TurnResult
    from codex_manager_core.models import JsonObject
    from codex_manager_core.services.turn_waits import RetryCallback


class RemoteTurns:
    """`manager.turns` over HTTP; waits follow /api/stream (codex_manager_client.waits)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def send(
        self,
        session_id: str,
        input: str | Sequence[Mapping[str, Any]],
        *,
        model: str | None = None,
        effort: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        collaboration_mode: Mapping[str, Any] | None = None,
        output_schema: Mapping[str, Any] | None = None,
    ) -> TurnHandle:
        """Start a turn and return its id at once."""
        body = drop_none(
            {
                "model": model,
                "effort": effort,
                "approvalPolicy": approval_policy,
                "networkAccess": network_access,
                "filesystemSandbox": filesystem_sandbox,
                "collaborationMode": collaboration_mode,
                "outputSchema": output_schema,
            }
        )
        if isinstance(input, str):
            body["text"] = input
        else:
            body["input"] = [dict(item) for item in input]
        answer = await self._http.call("POST", f"/sessions/{seg(session_id)}/messages", json=body)
        return TurnHandle(
            session_id=decode.field(answer, "sessionId"),
            turn_id=decode.field(answer, "turnId"),
            since_seq=int(answer.get("sinceSeq") or 0),
        )

    async def wait(
        self,
        session_id: str,
        turn_id: str,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        since: int = 0,
    ) -> TurnResult:
        """Wait until the turn ends (event-driven, over /api/stream from `since`)."""
        from codex_manager_client.waits import wait_turn

        return await wait_turn(
            self._http.target,
            session_id,
            turn_id,
            since=since,
            timeout=timeout,
            on_frame=None if on_retry is None else retry_reporter(on_retry, session_id, turn_id),
            client=self._http.client,
        )

    async def send_and_wait(
        self,
        session_id: str,
        input: str | Sequence[Mapping[str, Any]],
        /,
        *,
        timeout: float | None = None,
        on_retry: RetryCallback | None = None,
        **overrides: Any,
    ) -> TurnResult:
        """`send`, then `wait` from the ledger position before the turn started."""
        handle = await self.send(session_id, input, **overrides)
        return await self.wait(
            session_id, handle.turn_id, timeout=timeout, on_retry=on_retry, since=handle.since_seq
        )

    async def interrupt(self, session_id: str, turn_id: str | None = None) -> str:
        """Interrupt the given (or the active) turn; Conflict no_active_turn if none."""
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/interrupt", json=drop_none({"turnId": turn_id})
        )
        return str(decode.field(answer, "turnId"))

    async def steer(
        self, session_id: str, turn_id: str, input: str | Sequence[Mapping[str, Any]]
    ) -> JsonObject:
        body = {"input": input if isinstance(input, str) else [dict(item) for item in input]}
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/turns/{seg(turn_id)}/steer", json=body
        )
        result: JsonObject = decode.field(answer, "result")
        return result


def retry_reporter(
    on_retry: RetryCallback, session_id: str, turn_id: str
) -> Callable[[StreamFrame], Awaitable[None]]:
    """A stream-frame callback that calls `on_retry` with each retry notice of the turn
    (the core's fold reads the frame, as the embedded wait reads the event)."""
    from codex_manager_core.turn_outcome import turn_step

    async def on_frame(frame: StreamFrame) -> None:
        step = turn_step(frame.type, frame.payload, frame.seq, session_id, turn_id)
        if isinstance(step, TurnErrorNotice) and step.will_retry:
            outcome = on_retry(step)
            if inspect.isawaitable(outcome):
                await outcome

    return on_frame

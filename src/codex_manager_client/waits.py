"""Waiting for a turn or a job of a remote server: driven by `/api/stream`, never polling.

A wait follows the event stream (`EventStream`: reconnects and resumes, so no event is lost
or seen twice) and folds the events into the same result the embedded Manager gives: a
turn's events through the core's own fold (`codex_manager_core.turn_outcome`, shared with
`turns.wait`), so `TurnResult`, `TurnFailed` and `TurnTimeout` mean the same remote and
embedded; a job's events until one says it ended, then the job is read once
(`GET /api/orchestrator/jobs/{id}`) for the fields the events do not carry.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import anyio
import httpx

from codex_manager_client import decode
from codex_manager_client.errors import ClientTimeout, TransportError
from codex_manager_client.http_call import call_api
from codex_manager_client.stream import EventStream, StreamFrame
from codex_manager_client.target import Target, path_segment
from codex_manager_core.queue.model import Job, JobState
from codex_manager_core.turn_outcome import (
    WAIT_TYPES,
    TurnErrorNotice,
    TurnResult,
    checked,
    retry_noted,
    turn_step,
    turn_timeout,
)

logger = logging.getLogger("codex_manager_client.waits")

FrameCallback = Callable[[StreamFrame], Awaitable[None] | None]
JOB_EVENT_PREFIX: Final = "orchestrator_job_"


async def _call(on_frame: FrameCallback | None, frame: StreamFrame) -> None:
    if on_frame is not None:
        outcome = on_frame(frame)
        if inspect.isawaitable(outcome):
            await outcome


async def wait_turn(
    target: Target,
    session_id: str,
    turn_id: str,
    *,
    since: int,
    timeout: float | None = None,
    on_frame: FrameCallback | None = None,
    client: httpx.AsyncClient | None = None,
) -> TurnResult:
    """The turn's result once it ends; `TurnFailed` if it failed (or the runtime gave up),
    `TurnTimeout` after `timeout` seconds (the turn goes on).

    `since`: a ledger seq from before the turn started (the `ready` head read before
    sending, or the seq a send answered): the wait replays from there, so an end that came
    before this call is found too. `on_frame` sees every frame of the session's thread
    after `since` (deltas, approvals, ...), in order, each once, also across reconnects;
    without it only the frames that can end the turn are fetched.
    """
    types = None if on_frame is not None else list(WAIT_TYPES)
    last_retry: TurnErrorNotice | None = None
    with anyio.move_on_after(timeout):
        async with EventStream(
            target, thread_ids=[session_id], types=types, since=since, client=client
        ) as stream:
            async for frame in stream:
                await _call(on_frame, frame)
                if frame.part != 0 or frame.thread_id != session_id:
                    continue
                step = turn_step(frame.type, frame.payload, frame.seq, session_id, turn_id)
                if step is None:
                    continue
                if isinstance(step, TurnErrorNotice):
                    last_retry = retry_noted(session_id, turn_id, step, logger)
                    continue
                return checked(step, last_retry)
        raise TransportError(f"the event stream ended before turn {turn_id} did")
    raise turn_timeout(session_id, turn_id, timeout, last_retry)


async def wait_job(
    target: Target,
    job_id: str,
    *,
    timeout: float | None = None,
    on_frame: FrameCallback | None = None,
    client: httpx.AsyncClient | None = None,
) -> Job:
    """The job once it has ended (completed, failed or canceled: look at `state`);
    `ClientTimeout` (a core `TimedOut`) after `timeout` seconds, the job goes on.
    `on_frame` sees each `orchestrator_job_*` frame of this job (progress, start, end)."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=target.timeout)
    try:
        with anyio.move_on_after(timeout):
            # Subscribe first, then read: an end between the two is in the stream.
            async with EventStream(target, types=[JOB_EVENT_PREFIX], client=http) as stream:
                job = await read_job(target, job_id, client=http)
                if job.state.terminal:
                    return job
                async for frame in stream:
                    payload = frame.payload if isinstance(frame.payload, Mapping) else {}
                    if frame.part != 0 or payload.get("jobId") != job_id:
                        continue
                    await _call(on_frame, frame)
                    state = str(payload.get("state"))
                    if state in JobState._value2member_map_ and JobState(state).terminal:
                        return await read_job(target, job_id, client=http)
            raise TransportError(f"the event stream ended before job {job_id} did")
        raise ClientTimeout(
            f"job {job_id} did not end within {timeout:g} s; it goes on (wait again, or cancel it)"
        )
    finally:
        if own:
            await http.aclose()


async def read_job_record(
    target: Target, job_id: str, *, client: httpx.AsyncClient | None = None
) -> Mapping[str, Any]:
    """GET /api/orchestrator/jobs/{id}: the server's job record."""
    path = f"/orchestrator/jobs/{path_segment(job_id)}"
    body = await call_api(target, "GET", path, client=client)
    record = body.get("job") if isinstance(body, Mapping) else None
    if not isinstance(record, Mapping):
        raise TransportError(f"GET {path} answered without a job: {str(body)[:200]}")
    return record


async def read_job(target: Target, job_id: str, *, client: httpx.AsyncClient | None = None) -> Job:
    """GET /api/orchestrator/jobs/{id} as the core's `Job` (exactly: from the answer's
    `record`, as every read of the remote client)."""
    return decode.job(await read_job_record(target, job_id, client=client))

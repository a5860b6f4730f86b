"""`RemoteManager.jobs`, `.suggestions` and `.extensions`: the durable job queue, suggested
requests and the server's extensions, over HTTP.

A remote client reads, lists, cancels and waits for the jobs of the types its server
registered; registering a type (and enqueueing an arbitrary one) is in-process only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from codex_manager_client import decode
from codex_manager_client.transport import Transport, drop_none, seg
from codex_manager_core import SuggestionJob, SuggestionOutcome, SuggestionState, SuggestionStatus
from codex_manager_core.ports.store import Page
from codex_manager_core.queue.model import Job, JobState


class RemoteJobs:
    """`manager.jobs` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def get(self, job_id: str) -> Job:
        answer = await self._http.call("GET", f"/orchestrator/jobs/{seg(job_id)}")
        return decode.job(decode.field(answer, "job"))

    async def list(
        self,
        *,
        states: Iterable[JobState | str] | None = None,
        types: Iterable[str] | None = None,
        owner: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Every job, newest first, a page at a time."""
        answer = await self._http.call(
            "GET",
            "/orchestrator/jobs",
            query={
                "state": None if states is None else ",".join(str(s) for s in states),
                "type": None if types is None else ",".join(types),
                "owner": owner,
                "cursor": cursor,
                "limit": limit,
            },
        )
        items = tuple(decode.job(view) for view in decode.field(answer, "data"))
        return Page(items=items, next_cursor=decode.field(answer, "nextCursor"))

    async def cancel(self, job_id: str) -> Job:
        answer = await self._http.call("POST", f"/orchestrator/jobs/{seg(job_id)}/cancel", json={})
        return decode.job(decode.field(answer, "job"))

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job:
        """The job once it has ended (event-driven, over /api/stream); TimedOut after
        `timeout` seconds."""
        from codex_manager_client.waits import wait_job

        return await wait_job(self._http.target, job_id, timeout=timeout, client=self._http.client)


class RemoteSuggestions:
    """`manager.suggestions` over HTTP: the server's handler runs the job."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def upsert(
        self,
        session_id: str,
        request_key: str,
        status: SuggestionStatus | str,
        suggestion: str | None = None,
        error: str | None = None,
    ) -> SuggestionState:
        """Write a suggestion's state; a terminal one never regresses to streaming."""
        body = drop_none({"suggestion": suggestion, "error": error})
        body.update(requestKey=request_key, status=str(status))
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/suggested-request/upsert", json=body
        )
        entry = decode.field(answer, "entry")
        return decode.structure(
            {
                "sessionId": decode.field(answer, "sessionId"),
                "requestKey": decode.field(answer, "requestKey"),
                "status": decode.field(entry, "status"),
                "suggestion": entry.get("suggestion"),
                "error": entry.get("error"),
                "updatedAt": decode.field(entry, "updatedAt"),
            },
            SuggestionState,
        )

    async def enqueue(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
    ) -> SuggestionJob:
        """Enqueue the job that writes a suggestion (or join the live one)."""
        body = drop_none({"model": model, "effort": effort, "draft": draft})
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/suggested-request/jobs", json=body
        )
        return decode.structure(answer, SuggestionJob)

    async def request(
        self,
        session_id: str,
        *,
        model: str | None = None,
        effort: str | None = None,
        draft: str | None = None,
        wait: float | None = None,
    ) -> SuggestionOutcome:
        """Enqueue, then wait for the suggestion: ok, fallback past the deadline, or queued.
        The server's deadline applies (`wait` bounds this call's HTTP timeout only)."""
        body = drop_none({"model": model, "effort": effort, "draft": draft})
        answer = await self._http.call(
            "POST",
            f"/sessions/{seg(session_id)}/suggested-request",
            json=body,
            timeout=None if wait is None else wait + self._http.target.timeout,
        )
        status = decode.field(answer, "status")
        if status == "queued":
            return SuggestionOutcome(
                status="queued", suggestion=None, job=decode.structure(answer, SuggestionJob)
            )
        return SuggestionOutcome(
            status=status,
            suggestion=answer.get("suggested", answer.get("suggestion")),
            job=decode.structure(decode.field(answer, "job"), SuggestionJob),
        )


class RemoteExtensions:
    """The server's extensions: what is loaded, and a reload (as the server answers:
    the loaded extensions are the server's objects, not this process's)."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def list(self) -> dict[str, Any]:
        """`GET /api/agents/extensions`: the loaded extensions and the snapshot's figures."""
        answer: dict[str, Any] = await self._http.call("GET", "/agents/extensions")
        return answer

    async def reload(self) -> dict[str, Any]:
        """Reload every extension, strictly and atomically: the server's answer (Conflict
        `reload_in_progress` while another runs; a failed reload is an error answer)."""
        answer: dict[str, Any] = await self._http.call("POST", "/agents/extensions/reload", json={})
        return answer

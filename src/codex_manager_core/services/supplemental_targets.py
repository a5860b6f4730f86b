"""The transcript rows an `agent_instruction` job promises to fill (its payload's
`supplementalTargets`): a placeholder while it runs, then whatever the worker wrote, or a
fallback saying how the job ended.

As the original: placeholders are written when the job starts (once, not again on a retry),
and when the job has ended, a row that is still a placeholder (or empty) gets the fallback
text of that end (complete, error or canceled). A row the worker has filled is never
overwritten. The end is seen through the job type's hooks, so a job canceled while queued
or failed by recovery also leaves no row streaming forever.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, Literal

from codex_manager_core.errors import InvalidInput, NotFound
from codex_manager_core.queue.agent_instruction import AgentInstruction, SupplementalTarget
from codex_manager_core.queue.definitions import structure
from codex_manager_core.queue.model import Job
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.transcript import TranscriptService

logger = logging.getLogger("codex_manager_core.queue.agents")

PLACEHOLDER: Final = "Working on it..."
Ending = Literal["complete", "error", "canceled"]
DEFAULT_FALLBACK: Final[dict[Ending, str]] = {
    "complete": "The worker finished without writing this.",
    "error": "The worker failed before writing this.",
    "canceled": "Canceled before the worker wrote this.",
}


class SupplementalTargets:
    def __init__(self, ctx: ServiceContext, transcript: TranscriptService) -> None:
        self._ctx = ctx
        self._transcript = transcript

    async def placeholders(self, payload: AgentInstruction, job_id: str) -> None:
        for target in payload.supplemental_targets:
            text = target.placeholder_texts[0] if target.placeholder_texts else PLACEHOLDER
            await self._write(payload, job_id, target, text, "streaming")

    async def completed(self, job: Job) -> None:
        await self._settle(job, "complete")

    async def failed(self, job: Job) -> None:
        await self._settle(job, "error")

    async def canceled(self, job: Job) -> None:
        await self._settle(job, "canceled")

    async def _settle(self, job: Job, ending: Ending) -> None:
        if isinstance(job.payload, Mapping) and not job.payload.get("supplementalTargets"):
            # Most jobs have none: not worth structuring the payload (this runs at every
            # end, before the waiters of the job are woken).
            return
        try:
            payload = structure(job.payload, AgentInstruction, f"job {job.job_id}'s payload")
        except InvalidInput:
            return  # recovery failed it for that very reason: nothing to settle
        source = payload.source_session
        if not payload.supplemental_targets or source is None:
            return
        rows = {
            row.message_id: row for row in await self._ctx.store.list_transcript_entries(source)
        }
        for target in payload.supplemental_targets:
            row = rows.get(target.message_id)
            placeholder = (
                row is None
                or not row.content.strip()
                or (row.content in target.placeholder_texts or row.content == PLACEHOLDER)
            )
            if not placeholder:
                continue  # the worker wrote it: never overwritten
            text = _fallback(target, ending) or DEFAULT_FALLBACK[ending]
            await self._write(payload, job.job_id, target, text, ending)

    async def _write(
        self,
        payload: AgentInstruction,
        job_id: str,
        target: SupplementalTarget,
        text: str,
        status: str,
    ) -> None:
        source = payload.source_session
        if source is None:
            return
        details = {"jobId": job_id, "agent": payload.agent, "jobKind": payload.job_kind}
        if payload.anchor_item_id:
            details["anchorItemId"] = payload.anchor_item_id
        entry = {
            "messageId": target.message_id,
            "turnId": payload.turn_id or f"agent-job::{job_id}",
            "role": "system",
            "type": target.type,
            "content": text,
            "status": status,
            "details": details,
        }
        try:
            await self._transcript.upsert(source, entry)
        except NotFound:
            logger.info(
                "job %s: source session %s is gone; row %s not written",
                job_id,
                source,
                target.message_id,
            )


def _fallback(target: SupplementalTarget, ending: Ending) -> str | None:
    if ending == "complete":
        return target.complete_fallback
    if ending == "error":
        return target.error_fallback
    return target.canceled_fallback


__all__ = ["PLACEHOLDER", "SupplementalTargets"]

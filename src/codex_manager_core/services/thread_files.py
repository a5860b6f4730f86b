"""Removing a deleted session's files from CODEX_HOME, except what its forks still read.

codex (0.163) writes a fork's rollout as a reference into its source's rollout (the fork's
`session_meta` names `forked_from_id` and an ordinal), not as a copy. Removing the source's
files would leave the fork unreadable ("invalid paginated history lineage ... missing source
rollout"), and codex's own `thread/delete` refuses such a source ("forked history still
references it"). So a deleted session whose history a fork still reads keeps its rollout
on disk, and nothing else: it is gone from every list and answers 410 like any deleted
session. The manager remembers it (store meta `retained_rollouts`) and, after each later
delete, asks codex again; once no fork references it any more, its files go too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

from codex_manager_core.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    ManagerError,
    MethodNotSupported,
    NotFound,
)
from codex_manager_core.ports.codex_home import ThreadFile
from codex_manager_core.ports.store import SetMeta
from codex_manager_core.services.context import ServiceContext, logger

#: Store meta key: ids of deleted sessions whose rollout is kept for their forks.
RETAINED_KEY: Final = "retained_rollouts"


def _still_referenced(exc: ManagerError) -> bool:
    return "still references" in exc.message.lower()


class ThreadFiles:
    """The thread files under CODEX_HOME: deleting them, keeping what forks still read."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._records = ctx.records

    async def delete(self, session_id: str, file_ids: Iterable[str] = ()) -> tuple[int, bool]:
        """Delete the thread in the runtime and its files (those named with `session_id`
        or one of `file_ids`), but keep its rollout if a fork reads it. Returns how many
        files went, and whether the rollout was kept (then call
        `_settle_kept_rollouts(session_id)` once the session's tombstone is written)."""
        home = self._ctx.home
        files: list[ThreadFile] = []
        for thread_id in dict.fromkeys([session_id, *file_ids]):
            files += await home.thread_files(thread_id)
        kept = False
        try:
            await self._ctx.call("thread/delete", {"threadId": session_id})
        except (InvalidState, Conflict) as exc:
            if not _still_referenced(exc):
                logger.info("thread/delete %s: %s (removing files ourselves)", session_id, exc)
            else:
                files = [file for file in files if not file.history]
                kept = True
                logger.info("keeping the rollout of deleted %s: a fork reads it", session_id)
        except (MethodNotSupported, NotFound, InvalidInput) as exc:
            logger.info("thread/delete %s: %s (removing files ourselves)", session_id, exc)
        except Exception as exc:
            logger.warning("thread/delete %s failed: %s", session_id, exc)
        # Whatever thread/delete left (or all of it, on a codex without thread/delete).
        return await home.remove_files(files), kept

    async def _retained(self) -> list[str]:
        raw = await self._ctx.store.get_meta(RETAINED_KEY)
        try:
            ids = json.loads(raw) if raw else []
        except ValueError:
            return []
        return [str(value) for value in ids] if isinstance(ids, list) else []

    async def settle_kept_rollouts(self, kept: str | None = None) -> None:
        """After a delete (its tombstone written): remember `kept`, the deleted session
        whose rollout stays for its forks, and delete the kept rollouts no fork reads any
        more (a fork of a fork keeps its source's source: loop until nothing changes)."""
        async with self._ctx.state.kept_rollouts_lock:
            retained = await self._retained()
            remaining = [*retained, kept] if kept and kept not in retained else list(retained)
            try:
                await self._purge_kept(remaining)
            finally:
                if remaining != retained:
                    await self._ctx.write([SetMeta(RETAINED_KEY, json.dumps(remaining))])

    async def _purge_kept(self, remaining: list[str]) -> None:
        """Remove from `remaining` (and from disk) what no fork reads any more."""
        progress = True
        while progress and remaining:
            progress = False
            for session_id in list(remaining):
                try:
                    await self._ctx.call("thread/delete", {"threadId": session_id})
                except (InvalidState, Conflict) as exc:
                    if _still_referenced(exc):
                        continue
                    logger.info("kept rollout %s: thread/delete: %s", session_id, exc)
                except (NotFound, MethodNotSupported, InvalidInput) as exc:
                    logger.info("kept rollout %s: thread/delete: %s", session_id, exc)
                except Exception as exc:
                    logger.warning("kept rollout %s: thread/delete failed: %s", session_id, exc)
                    return  # the runtime is not well: try again after the next delete
                home = self._ctx.home
                await home.remove_files(await home.thread_files(session_id))
                remaining.remove(session_id)
                progress = True

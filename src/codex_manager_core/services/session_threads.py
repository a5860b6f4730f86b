"""A session's runtime thread: started, resumed, and started again when the runtime lost it.

The runtime process changes (a crash, a restart of codex-manager, `restart_runtime`), and a
thread must be loaded into the current process before a turn or a thread action. One that
has a rollout on disk is resumed (`thread/resume`). One that has none yet, because nothing
was sent in it, did not survive: codex kept it only in memory. Its session was acknowledged
to the user all the same, with a title, a project, controls and settings that all live in
our store, so the session gets a new thread with the same working directory, controls and
dynamic tools, and keeps its id (`thread_ids.py` translates between the two ids). Nothing
else is lost: a thread without a rollout had no turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from codex_manager_core.errors import (
    Conflict,
    InvalidInput,
    InvalidState,
    MethodNotSupported,
    NotFound,
    RuntimeCallFailed,
)
from codex_manager_core.models import Controls, JsonObject, SessionRecord, TitleSource
from codex_manager_core.services.context import ServiceContext, logger
from codex_manager_core.services.controls import approval_wire
from codex_manager_core.services.ledger_history import thread_from_ledger

#: Our event when a session got a new runtime thread (its old one was lost).
THREAD_REPLACED_EVENT = "session_thread_replaced"


def thread_start_params(
    cwd: str,
    controls: Controls,
    dynamic_tools: Sequence[JsonObject],
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """`thread/start` params for a session's thread; `config`: codex config overrides
    (a system-owned session's `ManagerConfig.system_thread_config`)."""
    params: dict[str, Any] = {
        "cwd": cwd,
        "approvalPolicy": approval_wire(controls.approval_policy),
        "sandbox": controls.filesystem_sandbox,
    }
    if controls.model:
        params["model"] = controls.model
    if dynamic_tools:
        params["dynamicTools"] = list(dynamic_tools)
    if config:
        params["config"] = dict(config)
    return params


def started_thread(method: str, result: Any) -> Mapping[str, Any]:
    """The thread object of a `thread/start` (or `thread/fork`) result."""
    thread = result.get("thread") if isinstance(result, Mapping) else None
    if not isinstance(thread, Mapping) or not isinstance(thread.get("id"), str):
        raise InvalidInput(f"{method} returned no thread id: {result!r}")
    return thread


def provider_of(result: Any, thread: Mapping[str, Any]) -> str | None:
    """The model provider thread/start (or thread/fork) reported for the thread."""
    for source in (thread, result):
        provider = source.get("modelProvider") if isinstance(source, Mapping) else None
        if isinstance(provider, str) and provider:
            return provider
    return None


class SessionThreads:
    """A session's thread in the runtime: loaded, resumed, or replaced when lost."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._records = ctx.records

    """Loading a session's thread into the current runtime process."""

    async def ensure(self, record: SessionRecord) -> SessionRecord:
        """Make the session's thread loaded in the current runtime process (resume it, or
        start a new one when the runtime lost it) and return the session as it is now."""
        session_id = record.session_id
        if session_id in self._ctx.state.loaded_threads:
            return record
        # One load per session at a time: two first messages after a restart must not
        # start two threads.
        async with self._ctx.state.thread_loads.hold(session_id):
            record = self._records.cache.get(session_id, record)
            if session_id not in self._ctx.state.loaded_threads:
                record = await self.load(record)
        return record

    async def load(self, record: SessionRecord) -> SessionRecord:
        try:
            await self.resume(record)
        except NotFound as exc:
            # "no rollout found": codex never wrote the thread down. Only a thread that
            # had no turn can be replaced without losing anything; a materialized one
            # whose files are gone is an error the caller must see.
            if record.materialized:
                raise
            logger.info("session %s lost its runtime thread (%s)", record.session_id, exc)
            return await self.replace(record)
        return record

    async def read(self, record: SessionRecord, *, include_turns: bool = True) -> JsonObject:
        """The runtime's view of the thread (`thread/read`). A thread with no rollout yet
        cannot be read with turns; then its metadata comes back with no turns."""
        session_id = record.session_id
        try:
            result = await self._ctx.call_object(
                "thread/read", {"threadId": session_id, "includeTurns": include_turns}
            )
        except (NotFound, InvalidInput, InvalidState, Conflict, MethodNotSupported) as exc:
            # codex 0.163 answers -32601 "list_turns is not supported yet" for a thread
            # without a rollout, and "thread not loaded" (-32600) for one that a runtime
            # before a restart held: its session gets a new thread on first use
            # (session_threads.py); reading it must not start one.
            if record.materialized or not include_turns:
                raise
            logger.debug("thread %s not materialized: %s", session_id, exc)
            return {"id": session_id, "turns": [], "materialized": False}
        except RuntimeCallFailed as exc:
            # codex failed to read its own files (e.g. its disk is full): a read must not
            # fail for that; show what our ledger holds (ledger_history).
            logger.warning("thread/read %s failed (%s); answering from the ledger", session_id, exc)
            return await thread_from_ledger(
                self._ctx.store, record, exc.message, include_turns=include_turns
            )
        thread = result.get("thread")
        return thread if isinstance(thread, Mapping) else result

    async def resume(self, record: SessionRecord) -> JsonObject:
        params: dict[str, Any] = {
            "threadId": record.session_id,
            "approvalPolicy": approval_wire(record.controls.approval_policy),
            "sandbox": record.controls.filesystem_sandbox,
            "excludeTurns": True,
        }
        if record.controls.model:
            params["model"] = record.controls.model
        if record.system_owned and self._ctx.config.system_thread_config:
            # Overrides are the thread's for this process only: given again on resume.
            params["config"] = dict(self._ctx.config.system_thread_config)
        result = await self._ctx.call_object("thread/resume", params)
        self._ctx.state.loaded_threads.add(record.session_id)
        thread = result.get("thread")
        return thread if isinstance(thread, Mapping) else result

    async def replace(self, record: SessionRecord) -> SessionRecord:
        """Start a new runtime thread for the session, with its settings, and record it."""
        session_id = record.session_id
        cwd = record.cwd or str(self._ctx.config.default_cwd or Path.cwd())
        config = self._ctx.config.system_thread_config if record.system_owned else None
        result = await self._ctx.call(
            "thread/start", thread_start_params(cwd, record.controls, record.dynamic_tools, config)
        )
        thread = started_thread("thread/start", result)
        runtime_id = str(thread["id"])
        # From here on the runtime's reports about the new thread carry the session id. Its
        # `thread/started`, which may come before this answer, stays filed under the
        # runtime's id: `session_thread_replaced` is what announces the thread.
        self._ctx.threads.bind(session_id, runtime_id)
        self._ctx.state.loaded_threads.add(session_id)
        event = self._ctx.event(
            THREAD_REPLACED_EVENT,
            session_id,
            {
                "sessionId": session_id,
                "runtimeThreadId": runtime_id,
                "replacedRuntimeThreadId": record.runtime_thread,
                "reason": "the runtime lost the thread (it had no rollout yet) when it restarted",
            },
            system=record.system_owned,
        )
        try:
            changes = {
                "runtime_thread_id": runtime_id,
                "model_provider": provider_of(result, thread) or record.model_provider,
            }
            updated = await self._records.patch(session_id, changes, [event])
        except BaseException:
            self._ctx.threads.bind(session_id, record.runtime_thread_id)
            self._ctx.state.loaded_threads.discard(session_id)
            raise
        if record.title_source is TitleSource.USER:
            self._ctx.spawn("thread/name/set", self.tell_runtime_title, session_id, record.title)
        return updated if updated is not None else record

    async def tell_runtime_title(self, session_id: str, title: str) -> None:
        try:
            await self._ctx.call("thread/name/set", {"threadId": session_id, "name": title})
        except Exception as exc:
            # Our title stands either way; the runtime's copy is a convenience.
            logger.info("thread/name/set for %s failed: %s", session_id, exc)

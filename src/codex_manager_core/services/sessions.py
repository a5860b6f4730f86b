"""Sessions: codex threads plus our overlay (title, project, controls, lifecycle).

A session id is the runtime's thread id. Listing is served from our store (kept current by
the runtime's notifications), never by asking the runtime per session. Hard delete removes
the thread's files under CODEX_HOME (but a rollout a fork still reads stays until no fork
does: thread_files.py) and leaves a durable tombstone, so the id answers Gone forever, also
after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from codex_manager_core.errors import (
    CodexManagerError,
    Conflict,
    InvalidInput,
    InvalidState,
)
from codex_manager_core.events.payloads import (
    deleted_view,
    is_thread,
    session_view,
    thread_or_stand_in,
)
from codex_manager_core.models import (
    JsonObject,
    RequestStatus,
    SessionRecord,
    TitleSource,
    Tombstone,
)
from codex_manager_core.ports.store import DeleteSession, Page, RequestQuery, SessionQuery
from codex_manager_core.services.context import (
    ServiceContext,
    check_id,
    is_absolute_directory,
    logger,
)
from codex_manager_core.services.controls import (
    ControlsService,
    approval_wire,
)
from codex_manager_core.services.projects import require_project
from codex_manager_core.services.request_lifecycle import RequestLifecycle
from codex_manager_core.services.session_rules import (
    MAX_PAGE,
    MAX_TITLE,
    check_dynamic_tools,
    clean_title,
)
from codex_manager_core.services.session_threads import (
    SessionThreads,
    provider_of,
    started_thread,
    thread_start_params,
)
from codex_manager_core.services.thread_files import ThreadFiles
from codex_manager_core.services.transcript import TranscriptPage, TranscriptService


@attrs.frozen
class SessionDetail:
    """One session as a client shows it (`sessions.detail`)."""

    record: SessionRecord
    thread: JsonObject
    """The codex Thread, with its turns once the session has a rollout."""
    transcript: TranscriptPage
    """The whole transcript, oldest first."""


@attrs.frozen
class DeletedSession:
    """What `sessions.delete` did; the id answers Gone from now on."""

    session_id: str
    title: str
    deleted_at: datetime
    files_removed: int
    """Files of the thread removed from CODEX_HOME (a rollout a fork reads stays)."""


@attrs.frozen
class StartedSession:
    """A new session and the runtime's thread as `thread/start` returned it."""

    record: SessionRecord
    thread: JsonObject


class SessionsService:
    """Sessions: create, list, read, rename, archive, delete, fork... (`manager.sessions`)."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        controls: ControlsService,
        session_threads: SessionThreads,
        thread_files: ThreadFiles,
        lifecycle: RequestLifecycle,
        transcript: TranscriptService,
    ) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._controls = controls
        self._session_threads = session_threads
        self._thread_files = thread_files
        self._expiry = lifecycle
        self._transcript = transcript

    # ------------------------------------------------------------------ create / list / get

    async def create(
        self,
        *,
        cwd: str | None = None,
        title: str | None = None,
        project_id: str | None = None,
        model: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        dynamic_tools: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[str] | None = None,
        system_owned: bool = False,
    ) -> SessionRecord:
        """Start a new thread and record it. Controls start as a copy of the defaults with
        the given overrides. `tools` names functions registered in `manager.tools`; they
        are declared as dynamic tools and answered automatically. The title is set at once
        (the runtime is told in the background). `start_session` also returns the
        runtime's thread."""
        started = await self.start(
            cwd=cwd,
            title=title,
            project_id=project_id,
            model=model,
            approval_policy=approval_policy,
            network_access=network_access,
            filesystem_sandbox=filesystem_sandbox,
            dynamic_tools=dynamic_tools,
            tools=tools,
            system_owned=system_owned,
        )
        return started.record

    async def start(
        self,
        *,
        cwd: str | None = None,
        title: str | None = None,
        project_id: str | None = None,
        model: str | None = None,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        dynamic_tools: Sequence[Mapping[str, Any]] | None = None,
        tools: Sequence[str] | None = None,
        system_owned: bool = False,
    ) -> StartedSession:
        """`create_session`, returning the runtime's thread (from `thread/start`) too."""
        given_title = clean_title(title) if title is not None else None
        if not isinstance(system_owned, bool):
            raise InvalidInput(
                f"system_owned must be a boolean, got {system_owned!r}",
                issues=[{"path": ["system_owned"], "message": "not a boolean"}],
            )
        project = (
            await require_project(self._ctx.store, project_id) if project_id is not None else None
        )
        controls = self._controls.resolve(
            await self._controls.defaults(),
            model=model,
            approval_policy=approval_policy,
            network_access=network_access,
            filesystem_sandbox=filesystem_sandbox,
        )
        specs = check_dynamic_tools(dynamic_tools)
        if tools:
            unknown = [name for name in tools if name not in self._ctx.tools]
            if unknown:
                raise InvalidInput(
                    f"no registered tool named {unknown}; register them with manager.tools",
                    issues=[{"path": ["tools"], "message": f"unknown tools {unknown}"}],
                )
            specs = check_dynamic_tools([*specs, *self._ctx.tools.specs(list(tools))])
        working_dir = cwd or (project.working_directory if project else None)
        working_dir = working_dir or str(self._ctx.config.default_cwd or Path.cwd())
        if not isinstance(working_dir, str) or "\x00" in working_dir:
            raise InvalidInput(
                "cwd must be a path string", issues=[{"path": ["cwd"], "message": "invalid"}]
            )
        # The runtime accepts any string (a relative one against its own cwd) and only fails
        # at the first command: refuse what cannot work before a thread exists.
        if not await is_absolute_directory(working_dir):
            if project is not None and not cwd and working_dir == project.working_directory:
                # The user sent no cwd: name what is wrong, the project's directory.
                raise InvalidState(
                    f"project {project.name!r} ({project.project_id}) has the working "
                    f"directory {working_dir!r}, which is not an existing directory any more; "
                    "create it again, change the project's workingDirectory, or pass cwd",
                    details={
                        "projectId": project.project_id,
                        "workingDirectory": working_dir,
                    },
                )
            raise InvalidInput(
                f"cwd must be the absolute path of an existing directory, got {working_dir!r}",
                issues=[{"path": ["cwd"], "message": "not an existing absolute directory"}],
            )
        config = self._ctx.config.system_thread_config if system_owned else None
        result = await self._ctx.call(
            "thread/start", thread_start_params(working_dir, controls, specs, config)
        )
        thread = started_thread("thread/start", result)
        thread_id = str(thread["id"])
        now = self._ctx.now()
        status = thread.get("status")
        record = SessionRecord(
            session_id=thread_id,
            title=given_title or self._ctx.config.default_title,
            title_source=TitleSource.USER if given_title else TitleSource.DEFAULT,
            cwd=str(thread.get("cwd") or result.get("cwd") or working_dir),
            project_id=project.project_id if project else None,
            archived=False,
            system_owned=system_owned,
            materialized=False,
            status=str(status.get("type")) if isinstance(status, Mapping) else "idle",
            model=result.get("model") if isinstance(result.get("model"), str) else controls.model,
            preview="",
            created_at=now,
            updated_at=now,
            controls=controls,
            dynamic_tools=specs,
            model_provider=provider_of(result, thread),
        )
        self._records.unknown_threads.discard(thread_id)
        self._ctx.state.loaded_threads.add(thread_id)
        await self._records.save(
            record,
            [
                self._ctx.event(
                    "session_created",
                    thread_id,
                    {"session": session_view(record, thread)},
                    system=system_owned,
                )
            ],
        )
        if given_title:
            self._ctx.spawn(
                "thread/name/set", self._session_threads.tell_runtime_title, thread_id, given_title
            )
        return StartedSession(record, dict(thread))

    async def list(
        self,
        *,
        archived: bool | None = False,
        include_system_owned: bool = False,
        project_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """Sessions, most recently updated first, from our store (one query, no runtime
        calls). `archived=None` lists both; `project_id=""` lists unassigned ones."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        if cursor is not None and (not isinstance(cursor, str) or len(cursor) > 512):
            raise InvalidInput(
                "cursor is not valid", issues=[{"path": ["cursor"], "message": "invalid"}]
            )
        if archived is not None and not isinstance(archived, bool):
            raise InvalidInput(
                f"archived must be true, false or null, got {archived!r}",
                issues=[{"path": ["archived"], "message": "not a boolean"}],
            )
        if not isinstance(include_system_owned, bool):
            raise InvalidInput(
                f"include_system_owned must be a boolean, got {include_system_owned!r}",
                issues=[{"path": ["include_system_owned"], "message": "not a boolean"}],
            )
        if project_id is not None and project_id != "":  # "": the unassigned sessions
            check_id(project_id, "project_id")
        try:
            return await self._ctx.store.list_sessions(
                SessionQuery(
                    archived=archived,
                    include_system_owned=include_system_owned,
                    project_id=project_id,
                    cursor=cursor,
                    limit=limit,
                )
            )
        except ValueError as exc:
            raise InvalidInput(
                f"cursor is not valid: {exc}", issues=[{"path": ["cursor"], "message": "invalid"}]
            ) from exc

    async def get(self, session_id: str) -> SessionRecord:
        """The session record (NotFound, or Gone once deleted)."""
        return await self._records.get(session_id)

    async def read_thread(self, session_id: str, *, include_turns: bool = True) -> JsonObject:
        """The runtime's view of the thread (`thread/read`). A thread with no rollout yet
        cannot be read with turns; then its metadata comes back with no turns."""
        record = await self._records.get(session_id)
        return await self._session_threads.read(record, include_turns=include_turns)

    async def thread(self, session_id: str) -> JsonObject:
        """The thread as a codex `Thread` (no turns): the runtime's, or, when the runtime
        cannot read it (no rollout yet, its files unreadable), one built from our record,
        with the same fields."""
        record = await self._records.get(session_id)
        try:
            thread = await self._session_threads.read(record, include_turns=False)
        except CodexManagerError:
            thread = None
        return thread_or_stand_in(thread, record)

    async def detail(self, session_id: str) -> SessionDetail:
        """Everything a client shows for one session: the record, the runtime's thread
        (with turns when it has a rollout) and the whole transcript, in one call."""
        record = await self._records.get(session_id)
        thread = await self._session_threads.read(record, include_turns=True)
        transcript = await self._transcript.get(session_id, limit=None, thread=thread)
        record = await self._records.get(session_id)  # as it is after the read
        if not is_thread(thread, session_id):  # no rollout yet: the thread without turns
            thread = await self.thread(session_id)
        return SessionDetail(record, thread, transcript)

    # ------------------------------------------------------------------ lifecycle

    async def rename(self, session_id: str, title: str) -> SessionRecord:
        await self._records.get(session_id, allow_system=False)
        clean = clean_title(title)
        updated = await self._records.update(
            session_id,
            {"title": clean, "title_source": TitleSource.USER, "updated_at": self._ctx.now()},
        )
        self._ctx.spawn(
            "thread/name/set", self._session_threads.tell_runtime_title, session_id, clean
        )
        return updated

    async def archive(self, session_id: str) -> SessionRecord:
        """Archive (the runtime moves the rollout); a session with no rollout yet cannot be
        archived (Conflict not_materialized)."""
        await self._records.get(session_id, allow_system=False)
        await self.archive_record(session_id)
        return await self._records.get(session_id)

    async def archive_record(self, session_id: str) -> None:
        record = await self._records.get(session_id)
        if record.archived:
            return  # already archived (the runtime would answer "no rollout found")
        if not record.materialized:
            raise Conflict(
                f"session {session_id} has no rollout yet (no message was sent); it cannot be "
                "archived",
                code="not_materialized",
            )
        await self._ctx.call("thread/archive", {"threadId": session_id})
        await self._records.update(session_id, {"archived": True, "updated_at": self._ctx.now()})
        self._ctx.state.loaded_threads.discard(session_id)

    async def unarchive(self, session_id: str) -> SessionRecord:
        record = await self._records.get(session_id, allow_system=False)
        if not record.archived:
            return record  # nothing to do (the runtime would refuse a loaded thread)
        await self._ctx.call("thread/unarchive", {"threadId": session_id})
        return await self._records.update(
            session_id, {"archived": False, "updated_at": self._ctx.now()}
        )

    async def resume(self, session_id: str) -> JsonObject:
        """Load the thread into the runtime again (after a restart, or to re-apply the stored
        approval policy and sandbox). Returns the runtime's thread."""
        record = await self._records.get(session_id, allow_system=False)
        if session_id not in self._ctx.state.loaded_threads:
            # Resumed, or started anew when the runtime lost it (session_threads.py).
            await self._session_threads.ensure(record)
        elif record.materialized:
            return await self._session_threads.resume(record)
        # No rollout yet and loaded (created by this runtime process): codex 0.163 refuses
        # thread/resume of it (-32601 "list_turns is not supported yet"), and there is
        # nothing to load.
        return await self.read_thread(session_id, include_turns=False)

    async def delete(self, session_id: str) -> DeletedSession:
        """Hard delete: interrupt, remove the thread's files from CODEX_HOME, drop our
        overlay and leave a tombstone (later calls: Gone). Its forks keep working: the
        rollout they read stays until the last of them is deleted."""
        record = await self._records.get(session_id, allow_system=False)
        return await self._delete(record)

    async def delete_any(self, session_id: str) -> DeletedSession:
        """`delete`, also of a system-owned (worker) session, which `delete` refuses: how
        `manager.workers.invalidate` drops a worker whose thread is gone."""
        return await self._delete(await self._records.get(session_id))

    async def _delete(self, record: SessionRecord) -> DeletedSession:
        session_id = record.session_id
        if record.active_turn_id:
            try:
                await self._ctx.call(
                    "turn/interrupt", {"threadId": session_id, "turnId": record.active_turn_id}
                )
            except Exception as exc:
                logger.info("interrupting %s before delete failed: %s", session_id, exc)
        # Its files, except the rollout while a fork reads it (thread_files.py). A session
        # whose thread was replaced has files under both ids.
        removed, kept = await self._thread_files.delete(session_id, [record.runtime_thread])
        await self._expiry.expire(
            RequestQuery(thread_id=session_id),
            "the session was deleted",
            to_status=RequestStatus.INVALIDATED,
            statuses=(RequestStatus.PENDING, RequestStatus.RESOLVING),
        )
        tombstone = Tombstone(session_id, record.title, self._ctx.now())
        self._records.tombstones[session_id] = tombstone
        self._records.cache.pop(session_id, None)
        self._ctx.state.loaded_threads.discard(session_id)
        self._ctx.threads.forget(session_id)
        await self._ctx.write(
            [DeleteSession(tombstone)],
            [
                self._ctx.event(
                    "session_deleted",
                    session_id,
                    {
                        **deleted_view(session_id, record.title, tombstone.deleted_at),
                        "deletedFileCount": removed,
                    },
                    system=record.system_owned,
                )
            ],
        )
        # Kept under the runtime's thread id: the session id means nothing to codex once
        # the session is gone.
        await self._thread_files.settle_kept_rollouts(record.runtime_thread if kept else None)
        return DeletedSession(session_id, record.title, tombstone.deleted_at, removed)

    # ------------------------------------------------------------------ thread actions

    async def fork(self, session_id: str, *, title: str | None = None) -> SessionRecord:
        """Fork the thread into a new session with the same controls and project."""
        record = await self._records.get(session_id, allow_system=False)
        given_title = clean_title(title) if title is not None else None
        record = await self._session_threads.ensure(record)
        params: dict[str, Any] = {
            "threadId": session_id,
            "approvalPolicy": approval_wire(record.controls.approval_policy),
            "sandbox": record.controls.filesystem_sandbox,
        }
        if record.controls.model:
            params["model"] = record.controls.model
        result = await self._ctx.call("thread/fork", params)
        thread = started_thread("thread/fork", result)
        now = self._ctx.now()
        fork = attrs.evolve(
            record,
            session_id=str(thread["id"]),
            title=given_title or f"{record.title} (fork)"[:MAX_TITLE],
            title_source=TitleSource.USER,
            archived=False,
            materialized=bool(thread.get("path")) or record.materialized,
            status="idle",
            created_at=now,
            updated_at=now,
            active_turn_id=None,
            runtime_thread_id=None,
            model_provider=provider_of(result, thread) or record.model_provider,
        )
        self._records.unknown_threads.discard(fork.session_id)
        self._ctx.state.loaded_threads.add(fork.session_id)
        await self._records.save(
            fork,
            [
                self._ctx.event(
                    "session_created",
                    fork.session_id,
                    {"session": session_view(fork, thread), "forkedFrom": session_id},
                )
            ],
        )
        return fork

    async def compact(self, session_id: str) -> JsonObject:
        record = await self._records.get(session_id, allow_system=False)
        record = await self._session_threads.ensure(record)
        return await self._ctx.call_object("thread/compact/start", {"threadId": session_id})

    async def rollback(self, session_id: str, num_turns: int = 1) -> JsonObject:
        """Drop the last `num_turns` turns from the thread's history (not from disk files)."""
        record = await self._records.get(session_id, allow_system=False)
        if not isinstance(num_turns, int) or isinstance(num_turns, bool) or num_turns < 1:
            raise InvalidInput(
                f"num_turns must be a positive integer, got {num_turns!r}",
                issues=[{"path": ["num_turns"], "message": "must be >= 1"}],
            )
        if record.active_turn_id:
            raise Conflict(
                f"session {session_id} has a turn in progress; interrupt it first",
                code="invalid_state",
            )
        record = await self._session_threads.ensure(record)
        thread = await self.read_thread(session_id, include_turns=True)
        turns = thread.get("turns") if isinstance(thread, Mapping) else None
        if not turns or len(turns) < num_turns:
            raise InvalidInput(
                f"session {session_id} has {len(turns or [])} turn(s); cannot roll back {num_turns}",
                issues=[{"path": ["num_turns"], "message": "more than the thread has"}],
            )
        before = turns[-num_turns]["id"]
        return await self._ctx.call_object(
            "thread/revert", {"threadId": session_id, "beforeTurnId": before}
        )

    async def review(
        self,
        session_id: str,
        *,
        target_type: str = "uncommittedChanges",
        delivery: str | None = None,
        branch: str | None = None,
        sha: str | None = None,
        title: str | None = None,
        instructions: str | None = None,
    ) -> JsonObject:
        """Start a review (`review/start`) of uncommitted changes, a base branch, a commit
        or custom instructions."""
        record = await self._records.get(session_id, allow_system=False)
        target: dict[str, Any] = {"type": target_type}
        if target_type == "baseBranch":
            target["branch"] = _required(branch, "branch")
        elif target_type == "commit":
            target["sha"] = _required(sha, "sha")
            if title:
                target["title"] = title
        elif target_type == "custom":
            target["instructions"] = _required(instructions, "instructions")
        elif target_type != "uncommittedChanges":
            raise InvalidInput(
                "target_type must be uncommittedChanges, baseBranch, commit or custom",
                issues=[{"path": ["target_type"], "message": "invalid"}],
            )
        if delivery not in (None, "inline", "detached"):
            raise InvalidInput(
                "delivery must be inline or detached",
                issues=[{"path": ["delivery"], "message": "invalid"}],
            )
        record = await self._session_threads.ensure(record)
        params: dict[str, Any] = {"threadId": session_id, "target": target}
        if delivery:
            params["delivery"] = delivery
        return await self._ctx.call_object("review/start", params)

    async def clean_background_terminals(self, session_id: str) -> JsonObject:
        record = await self._records.get(session_id, allow_system=False)
        record = await self._session_threads.ensure(record)
        return await self._ctx.call_object(
            "thread/backgroundTerminals/clean", {"threadId": session_id}
        )


def _required(value: str | None, name: str) -> str:
    if not value or not isinstance(value, str):
        raise InvalidInput(
            f"{name} is required for this target", issues=[{"path": [name], "message": "required"}]
        )
    return value

"""`RemoteManager.sessions`, `.projects` and `.transcript`: the session routes of
docs/http.md as the calls of the embedded Manager, with the same typed results."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from codex_manager_client import decode
from codex_manager_client.errors import NotFoundError
from codex_manager_client.transport import Transport, drop_none, seg
from codex_manager_core import (
    KEEP,
    AgentSession,
    DeletedSession,
    Keep,
    Project,
    ProjectSessionsDeleted,
    ProjectSessionsMoved,
    SessionDetail,
    SessionRecord,
    StartedSession,
    TranscriptEntry,
    TranscriptPage,
)
from codex_manager_core.ports.store import Page
from codex_manager_core.serde import parse_iso

if TYPE_CHECKING:
    from codex_manager_core.models import JsonObject

TRANSCRIPT_PAGE = 1000  # the route's largest page


class RemoteSessions:
    """`manager.sessions` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

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
    ) -> SessionRecord:
        """Start a new thread and record it."""
        started = await self.start(
            cwd=cwd,
            title=title,
            project_id=project_id,
            model=model,
            approval_policy=approval_policy,
            network_access=network_access,
            filesystem_sandbox=filesystem_sandbox,
            dynamic_tools=dynamic_tools,
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
    ) -> StartedSession:
        """`create`, returning the runtime's thread too."""
        body = drop_none(
            {
                "cwd": cwd,
                "title": title,
                "projectId": project_id,
                "model": model,
                "approvalPolicy": approval_policy,
                "networkAccess": network_access,
                "filesystemSandbox": filesystem_sandbox,
                "dynamicTools": None if dynamic_tools is None else [dict(t) for t in dynamic_tools],
            }
        )
        answer = await self._http.call("POST", "/sessions", json=body)
        return StartedSession(
            record=decode.session(decode.field(answer, "session")),
            thread=decode.field(answer, "thread"),
        )

    async def list(
        self,
        *,
        archived: bool = False,
        include_system_owned: bool = False,
        project_id: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page:
        """A page of sessions, most recently updated first."""
        answer = await self._http.call(
            "GET",
            "/sessions",
            query={
                "archived": archived,
                "includeSystemOwned": include_system_owned,
                "projectId": project_id,
                "cursor": cursor,
                "limit": limit,
            },
        )
        items = tuple(decode.session(view) for view in decode.field(answer, "sessions"))
        return Page(items=items, next_cursor=decode.field(answer, "nextCursor"))

    async def get(self, session_id: str) -> SessionRecord:
        """The session record (NotFound, or Gone once deleted)."""
        return (await self.detail(session_id)).record

    async def detail(self, session_id: str) -> SessionDetail:
        """Record, thread (with turns) and the whole transcript."""
        answer = await self._http.call("GET", f"/sessions/{seg(session_id)}")
        rows = tuple(decode.field(answer, "transcript"))
        return SessionDetail(
            record=decode.session(decode.field(answer, "session")),
            thread=decode.field(answer, "thread"),
            transcript=TranscriptPage(entries=rows, next_cursor=None, total=len(rows)),
        )

    async def read_thread(self, session_id: str, *, include_turns: bool = True) -> JsonObject:
        """The thread as `GET /api/sessions/{id}` shows it (with its turns; without them,
        `turns` is left out)."""
        thread = dict((await self.detail(session_id)).thread)
        if not include_turns:
            thread.pop("turns", None)
        return thread

    async def thread(self, session_id: str) -> JsonObject:
        """The thread without its turns."""
        return await self.read_thread(session_id, include_turns=False)

    async def rename(self, session_id: str, title: str) -> SessionRecord:
        answer = await self._post(session_id, "rename", {"title": title})
        return decode.session(decode.field(answer, "session"))

    async def archive(self, session_id: str) -> SessionRecord:
        """Archive (Conflict not_materialized before the first message)."""
        return decode.session(decode.field(await self._post(session_id, "archive"), "session"))

    async def unarchive(self, session_id: str) -> SessionRecord:
        return decode.session(decode.field(await self._post(session_id, "unarchive"), "session"))

    async def resume(self, session_id: str) -> JsonObject:
        """Load the thread into the runtime again; the thread as the server shows it."""
        thread: JsonObject = decode.field(await self._post(session_id, "resume"), "thread")
        return thread

    async def delete(self, session_id: str) -> DeletedSession:
        """Hard delete (later calls: Gone)."""
        answer = await self._http.call("DELETE", f"/sessions/{seg(session_id)}")
        return DeletedSession(
            session_id=decode.field(answer, "sessionId"),
            title=decode.field(answer, "title"),
            deleted_at=parse_iso(decode.field(answer, "deletedAt")),
            files_removed=decode.field(answer, "deletedFileCount"),
        )

    async def fork(self, session_id: str, *, title: str | None = None) -> SessionRecord:
        answer = await self._post(session_id, "fork", drop_none({"title": title}))
        return decode.session(decode.field(answer, "session"))

    async def compact(self, session_id: str) -> JsonObject:
        result: JsonObject = decode.field(await self._post(session_id, "compact"), "result")
        return result

    async def rollback(self, session_id: str, num_turns: int = 1) -> JsonObject:
        answer = await self._post(session_id, "rollback", {"numTurns": num_turns})
        result: JsonObject = decode.field(answer, "result")
        return result

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
        body = drop_none(
            {
                "targetType": target_type,
                "delivery": delivery,
                "branch": branch,
                "sha": sha,
                "title": title,
                "instructions": instructions,
            }
        )
        result: JsonObject = decode.field(await self._post(session_id, "review", body), "result")
        return result

    async def clean_background_terminals(self, session_id: str) -> JsonObject:
        answer = await self._post(session_id, "background-terminals/clean")
        result: JsonObject = decode.field(answer, "result")
        return result

    async def _post(self, session_id: str, action: str, body: Any = None) -> Any:
        return await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/{action}", json=body if body else {}
        )


class RemoteProjects:
    """`manager.projects` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def agent_sessions(self, project_id: str) -> builtins.list[AgentSession]:
        answer = await self._http.call("GET", f"/projects/{seg(project_id)}/agent-sessions")
        return [
            AgentSession(
                session_id=decode.field(item, "sessionId"),
                agent=item.get("agent"),
                session=decode.session(decode.field(item, "session")),
            )
            for item in decode.field(answer, "data")
        ]

    async def create(self, name: str, working_directory: str | None = None) -> Project:
        body = drop_none({"name": name, "workingDirectory": working_directory})
        answer = await self._http.call("POST", "/projects", json=body)
        return decode.project(decode.field(answer, "project"))

    async def list(self) -> builtins.list[Project]:
        answer = await self._http.call("GET", "/projects")
        return [decode.project(view) for view in decode.field(answer, "data")]

    async def get(self, project_id: str) -> Project:
        """The project (there is no single-project route: one list call)."""
        for project in await self.list():
            if project.project_id == project_id:
                return project
        raise NotFoundError(
            404,
            "project_not_found",
            f"no project {project_id!r}",
            {"code": "project_not_found", "projectId": project_id},
        )

    async def rename(
        self, project_id: str, name: str, working_directory: str | Keep | None = KEEP
    ) -> Project:
        """Rename and/or change the working directory (KEEP keeps it; None clears it)."""
        body: dict[str, Any] = {"name": name}
        if not isinstance(working_directory, Keep):
            body["workingDirectory"] = working_directory
        answer = await self._http.call("POST", f"/projects/{seg(project_id)}/rename", json=body)
        return decode.project(decode.field(answer, "project"))

    async def delete(self, project_id: str) -> None:
        await self._http.call("DELETE", f"/projects/{seg(project_id)}")

    async def assign_session(self, session_id: str, project_id: str | None) -> None:
        await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/project", json={"projectId": project_id}
        )

    async def move_sessions(self, project_id: str, destination: str) -> ProjectSessionsMoved:
        answer = await self._http.call(
            "POST",
            f"/projects/{seg(project_id)}/chats/move-all",
            json={"destination": destination},
        )
        return ProjectSessionsMoved(
            project_id=decode.field(answer, "projectId"),
            destination=decode.field(answer, "destination"),
            moved=decode.field(answer, "movedSessionCount"),
            archived=decode.field(answer, "archivedSessionCount"),
        )

    async def delete_sessions(self, project_id: str) -> ProjectSessionsDeleted:
        answer = await self._http.call(
            "POST", f"/projects/{seg(project_id)}/chats/delete-all", json={}
        )
        return ProjectSessionsDeleted(
            project_id=decode.field(answer, "projectId"),
            deleted=decode.field(answer, "deletedSessionCount"),
            skipped=decode.field(answer, "skippedSessionCount"),
        )


class RemoteTranscript:
    """`manager.transcript` over HTTP."""

    def __init__(self, http: Transport) -> None:
        self._http = http

    async def get(
        self, session_id: str, *, cursor: str | None = None, limit: int | None = 100
    ) -> TranscriptPage:
        """`limit` rows from `cursor`, oldest first (None: every row, a page at a time)."""
        entries: builtins.list[dict[str, Any]] = []
        while True:
            size = TRANSCRIPT_PAGE if limit is None else limit
            answer = await self._http.call(
                "GET",
                f"/sessions/{seg(session_id)}/transcript",
                query={"cursor": cursor, "limit": size},
            )
            entries.extend(decode.field(answer, "entries"))
            cursor = decode.field(answer, "nextCursor")
            if limit is not None or cursor is None:
                return TranscriptPage(
                    entries=tuple(entries), next_cursor=cursor, total=answer.get("total", 0)
                )

    async def upsert(self, session_id: str, entry: Mapping[str, Any]) -> TranscriptEntry:
        """Insert or replace one supplemental row (by messageId)."""
        answer = await self._http.call(
            "POST", f"/sessions/{seg(session_id)}/transcript/upsert", json=dict(entry)
        )
        return decode.transcript_entry(answer)

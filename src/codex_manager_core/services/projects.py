"""Projects: a manager-side grouping of sessions with an optional working directory.

The working directory is where the project's new sessions run, so it must be the absolute
path of an existing directory when it is set: a relative or missing one would only fail
later, at session creation, with an error about a field the user never sent.
"""

from __future__ import annotations

import builtins
import os
import uuid
from typing import TYPE_CHECKING, Any, Final

import attrs

from codex_manager_core.errors import Conflict, InvalidInput, NotFound
from codex_manager_core.events.payloads import project_view
from codex_manager_core.models import (
    AgentSession,
    Project,
    ProjectSessionsDeleted,
    ProjectSessionsMoved,
    SessionRecord,
)
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    DeleteProject,
    DeleteWorkers,
    PatchSession,
    PutProject,
    SessionQuery,
)
from codex_manager_core.services.context import ServiceContext, check_id, is_absolute_directory
from codex_manager_core.services.controls import KEEP, Keep

if TYPE_CHECKING:
    from codex_manager_core.services.sessions import SessionsService

MAX_PROJECT_NAME: Final = 120


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            "project name must be a non-empty string",
            issues=[{"path": ["name"], "message": "required"}],
        )
    name = name.strip()
    if len(name) > MAX_PROJECT_NAME:
        raise InvalidInput(
            f"project name is {len(name)} characters; the limit is {MAX_PROJECT_NAME}",
            issues=[{"path": ["name"], "message": f"at most {MAX_PROJECT_NAME} characters"}],
        )
    return name


async def _clean_directory(value: object) -> str | None:
    """None, or the absolute path of an existing directory (InvalidInput naming
    `workingDirectory` otherwise)."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise InvalidInput(
            "working_directory must be a non-empty path string or null",
            issues=[{"path": ["working_directory"], "message": "invalid path"}],
        )
    directory = value.strip()
    if not os.path.isabs(directory):
        raise InvalidInput(
            f"working_directory must be an absolute path, got {directory!r}",
            issues=[{"path": ["working_directory"], "message": "not an absolute path"}],
        )
    if not await is_absolute_directory(directory):
        raise InvalidInput(
            f"workingDirectory {directory!r} is not an existing directory",
            issues=[{"path": ["working_directory"], "message": "not an existing directory"}],
        )
    return directory


async def require_project(store: Store, project_id: str) -> Project:
    """The project, or NotFound (sessions check the project they are put in with this)."""
    check_id(project_id, "project_id")
    project = await store.get_project(project_id)
    if project is None:
        raise NotFound(f"no project {project_id!r}", code="project_not_found")
    return project


class ProjectsService:
    """Projects and the sessions in them (`manager.projects`)."""

    def __init__(self, ctx: ServiceContext, sessions: SessionsService) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._sessions = sessions

    async def create(self, name: str, working_directory: str | None = None) -> Project:
        """A new project; names are unique case-insensitively (Conflict duplicate_name)."""
        clean = _clean_name(name)
        directory = await _clean_directory(working_directory)
        if await self._ctx.store.find_project_by_name(clean) is not None:
            raise Conflict(f"a project named {clean!r} already exists", code="duplicate_name")
        now = self._ctx.now()
        project = Project(str(uuid.uuid4()), clean, directory, now, now)
        await self._ctx.write(
            [PutProject(project)],
            [self._ctx.event("project_upserted", None, {"project": project_view(project)})],
        )
        return project

    async def list(self) -> builtins.list[Project]:
        """All projects, sorted by name."""
        return await self._ctx.store.list_projects()

    async def get(self, project_id: str) -> Project:
        return await require_project(self._ctx.store, project_id)

    async def rename(
        self, project_id: str, name: str, working_directory: str | Keep | None = KEEP
    ) -> Project:
        """Rename a project and/or change its working directory (leave it out, or KEEP, to
        keep it; None clears it)."""
        project = await self.get(project_id)
        clean = _clean_name(name)
        other = await self._ctx.store.find_project_by_name(clean)
        if other is not None and other.project_id != project_id:
            raise Conflict(f"a project named {clean!r} already exists", code="duplicate_name")
        changes: dict[str, Any] = {"name": clean, "updated_at": self._ctx.now()}
        if not isinstance(working_directory, Keep):
            changes["working_directory"] = await _clean_directory(working_directory)
        updated = attrs.evolve(project, **changes)
        await self._ctx.write(
            [PutProject(updated)],
            [self._ctx.event("project_upserted", None, {"project": project_view(updated)})],
        )
        return updated

    async def agent_sessions(self, project_id: str) -> builtins.list[AgentSession]:
        """The system-owned (worker) sessions of a project, most recently updated first,
        each with the agent it is the worker of. `project_id` may also be a `session:<id>`
        owner (the original accepts those): then the workers of that chat."""
        if isinstance(project_id, str) and project_id.startswith("session:"):
            check_id(project_id, "project_id")
            found = [
                (worker.agent, record)
                for worker in await self._ctx.store.list_workers(project_id)
                if (record := await self._records.find(worker.session_id)) is not None
            ]
            found.sort(key=lambda pair: pair[1].updated_at, reverse=True)
            return [AgentSession(r.session_id, agent, r) for agent, r in found]
        await self.get(project_id)
        agents = {
            worker.session_id: worker.agent
            for worker in await self._ctx.store.list_workers(project_id)
        }
        return [
            AgentSession(record.session_id, agents.get(record.session_id), record)
            for record in await self._project_records(project_id, system=True)
            if record.system_owned
        ]

    async def _project_sessions(self, project_id: str, *, system: bool) -> builtins.list[str]:
        return [r.session_id for r in await self._project_records(project_id, system=system)]

    async def _project_records(
        self, project_id: str, *, system: bool
    ) -> builtins.list[SessionRecord]:
        records: builtins.list[SessionRecord] = []
        cursor = None
        while True:
            page = await self._ctx.store.list_sessions(
                SessionQuery(
                    archived=None,
                    include_system_owned=system,
                    project_id=project_id,
                    cursor=cursor,
                    limit=500,
                )
            )
            records.extend(page.items)
            if page.next_cursor is None:
                return records
            cursor = page.next_cursor

    async def delete(self, project_id: str) -> None:
        """Delete a project. Refused (Conflict project_not_empty) while user sessions are in
        it; its system-owned sessions are unassigned and its worker mappings forgotten."""
        await self.get(project_id)
        user_sessions = [
            session_id
            for session_id in await self._project_sessions(project_id, system=True)
            if not (record := await self._records.find(session_id)) or not record.system_owned
        ]
        if user_sessions:
            raise Conflict(
                f"project {project_id} still has {len(user_sessions)} session(s); move or "
                "delete them first",
                code="project_not_empty",
                details={"sessionCount": len(user_sessions)},
            )
        # Its workers are forgotten with it: a project made later never inherits them.
        mutations: builtins.list[Any] = [DeleteProject(project_id), DeleteWorkers(project_id)]
        for session_id in await self._project_sessions(project_id, system=True):
            mutations.append(PatchSession(session_id, {"project_id": None}))
            if (record := self._records.cache.get(session_id)) is not None:
                self._records.cache[session_id] = attrs.evolve(record, project_id=None)
        await self._ctx.write(
            mutations,
            # `sessionIds`: the original's field (its delete unassigned no user session).
            [self._ctx.event("project_deleted", None, {"projectId": project_id, "sessionIds": []})],
        )

    async def assign_session(self, session_id: str, project_id: str | None) -> None:
        """Put a session in a project, or take it out (project_id None)."""
        await self._records.get(session_id, allow_system=False)
        if project_id is not None:
            await self.get(project_id)
        await self._records.patch(
            session_id,
            {"project_id": project_id, "updated_at": self._ctx.now()},
            [
                self._ctx.event(
                    "session_project_updated",
                    session_id,
                    {"sessionId": session_id, "projectId": project_id},
                )
            ],
        )

    async def move_sessions(self, project_id: str, destination: str) -> ProjectSessionsMoved:
        """Move every user session out of a project: `unassigned`, or `archive` (archived and
        unassigned; a session without a rollout yet cannot be archived: Conflict)."""
        await self.get(project_id)
        if destination not in ("unassigned", "archive"):
            raise InvalidInput(
                f"destination must be 'unassigned' or 'archive', got {destination!r}",
                issues=[{"path": ["destination"], "message": "invalid destination"}],
            )
        session_ids = await self._project_sessions(project_id, system=False)
        records = [record for sid in session_ids if (record := await self._records.find(sid))]
        if destination == "archive":
            unmaterialized = [r.session_id for r in records if not r.materialized]
            if unmaterialized:
                raise Conflict(
                    f"{len(unmaterialized)} session(s) have no rollout yet and cannot be "
                    "archived; send them a message first or unassign them",
                    code="not_materialized_sessions",
                    details={"sessionIds": unmaterialized},
                )
        archived = 0
        for record in records:
            if destination == "archive" and not record.archived:
                await self._sessions.archive_record(record.session_id)
                archived += 1
            await self.assign_session(record.session_id, None)
        return ProjectSessionsMoved(
            project_id,
            "archive" if destination == "archive" else "unassigned",
            moved=len(records),
            archived=archived,
        )

    async def delete_sessions(self, project_id: str) -> ProjectSessionsDeleted:
        """Hard-delete every user session of a project."""
        await self.get(project_id)
        deleted = skipped = 0
        for session_id in await self._project_sessions(project_id, system=False):
            try:
                await self._sessions.delete(session_id)
                deleted += 1
            except Exception:
                skipped += 1
        return ProjectSessionsDeleted(project_id, deleted=deleted, skipped=skipped)

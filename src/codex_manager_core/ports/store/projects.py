"""Store domain "projects": named groups of sessions. Its mutations and reads."""

from __future__ import annotations

from typing import Protocol, TypeAlias

import attrs

from codex_manager_core.models import Project


@attrs.frozen
class PutProject:
    project: Project


@attrs.frozen
class DeleteProject:
    """Remove the project row only: sessions that name it are left as they are (patch them
    in the same batch, with their events)."""

    project_id: str


ProjectMutation: TypeAlias = PutProject | DeleteProject


class ProjectReads(Protocol):
    async def get_project(self, project_id: str) -> Project | None: ...

    async def find_project_by_name(self, name: str) -> Project | None:
        """Case-insensitive (casefold) name match; the oldest project if several match."""
        ...

    async def list_projects(self) -> list[Project]:
        """Sorted by name, case-insensitively."""
        ...


__all__ = ["DeleteProject", "ProjectMutation", "ProjectReads", "PutProject"]

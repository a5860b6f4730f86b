"""SqliteStore, domain "projects": the `projects` table. Besides the record's fields it
holds `name_key` (the casefolded name) that lookups by name and the listing order use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import apsw

from codex_manager_core.models import Project
from codex_manager_core.ports.store.projects import DeleteProject, PutProject
from codex_manager_core.store.codec import PROJECTS, Row, check_str, name_key
from codex_manager_core.store.sqlite.sql import Op, execute, one, select, upsert

UPSERT_PROJECT = upsert("projects", (*PROJECTS.columns, "name_key"), ["project_id"])
PROJECT_SELECT = select("projects", PROJECTS.columns)


def encode(project: Project) -> Row:
    row = PROJECTS.encode(project)
    return (*row, name_key(check_str(project.name, "project.name")))


def compile_put(mutation: PutProject) -> Op:
    return execute(UPSERT_PROJECT, encode(mutation.project))


def compile_delete(mutation: DeleteProject) -> Op:
    return execute("DELETE FROM projects WHERE project_id = ?", (mutation.project_id,))


COMPILERS: Mapping[type, Callable[[Any], Op]] = {
    PutProject: compile_put,
    DeleteProject: compile_delete,
}


def get_project(conn: apsw.Connection, project_id: str) -> Project | None:
    row = one(conn, f"{PROJECT_SELECT} WHERE project_id = ?", (project_id,))
    return None if row is None else PROJECTS.decode(row)


def find_project_by_name(conn: apsw.Connection, name: str) -> Project | None:
    sql = f"{PROJECT_SELECT} WHERE name_key = ? ORDER BY created_at, project_id LIMIT 1"
    row = one(conn, sql, (name_key(name),))
    return None if row is None else PROJECTS.decode(row)


def list_projects(conn: apsw.Connection) -> list[Project]:
    rows = conn.execute(f"{PROJECT_SELECT} ORDER BY name_key, project_id").fetchall()
    return [PROJECTS.decode(row) for row in rows]

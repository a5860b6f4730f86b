"""The options and columns several rows of the route table share (route_table.py,
session_routes.py)."""

from __future__ import annotations

from codex_manager_cli.bindings import Binding, Opt

SESSION_COLUMNS = ("sessionId", "title", "projectId", "materialized", "updatedAt")
JOB_COLUMNS = ("id", "type", "state", "projectId", "attempts", "createdAt")
PROJECT_COLUMNS = ("projectId", "name", "workingDirectory", "updatedAt")
REQUEST_COLUMNS = ("method", "turnId", "summary", "status", "createdAt")

CURSOR = Opt("cursor", "cursor", "query", help="nextCursor of the previous page")
LIMIT = Opt("limit", "limit", "query", "int", help="Page size")
ACTOR = Opt("actor", "actor", help="Who decided (recorded with the decision)")
DYNAMIC_TOOLS = Opt("dynamic-tools", "dynamicTools", kind="json", help="Tools: JSON or @file")
APPROVAL = ("untrusted", "on-failure", "on-request", "never")
SANDBOX = ("read-only", "workspace-write", "danger-full-access")
NETWORK = ("restricted", "enabled")
EFFORT = ("none", "minimal", "low", "medium", "high", "xhigh")
SCOPE = Opt("scope", "scope", choices=("session", "default"), help="session or default")


def page(*command: str, path: str, help: str, extra: tuple[Opt, ...] = ()) -> Binding:
    """A runtime list with `cursor`/`limit` answering `{data, nextCursor}`."""
    return Binding(
        command, "GET", path, help, (CURSOR, LIMIT, *extra), rows="data", columns=("id", "name")
    )

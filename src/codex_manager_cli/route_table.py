"""Every API route as a command: the one table the route commands are generated from.

A row is a `Binding` (bindings.py). `tests/cli/test_route_parity.py` checks that the
table's routes are unique and equal tests/acceptance/routes.tsv, so a route added to the
server without a row here (or a row for a route that does not exist) fails. The command
paths follow the original CLI's (reference section 9); ours add `runtime restart`,
`events list`, `metrics get`, `system openapi`, `sessions transcript get` and the global
`orchestrator jobs list`.
"""

from __future__ import annotations

from codex_manager_cli.bindings import Binding, Opt
from codex_manager_cli.route_common import CURSOR, JOB_COLUMNS, LIMIT, PROJECT_COLUMNS, page
from codex_manager_cli.session_routes import SESSION_BINDINGS

_GENERAL: tuple[Binding, ...] = (
    # system
    Binding(("system", "info"), "GET", "", "API entry metadata"),
    Binding(("system", "health"), "GET", "/health", "Health check"),
    Binding(
        ("system", "capabilities"),
        "GET",
        "/capabilities",
        "Read probed Codex capabilities",
        (Opt("refresh", "refresh", "query", "flag", help="Re-read the runtime's schema"),),
    ),
    page("system", "features", "list", path="/features/experimental", help="Experimental features"),
    page(
        "system",
        "collaboration-modes",
        "list",
        path="/collaboration/modes",
        help="Collaboration modes",
    ),
    Binding(("system", "openapi"), "GET", "/openapi.json", "The OpenAPI document"),
    # discovery
    page("models", "list", path="/models", help="List available models"),
    page(
        "apps",
        "list",
        path="/apps",
        help="List configured apps/connectors",
        extra=(
            Opt("thread-id", "threadId", "query", help="Apps of this thread"),
            Opt("force-refetch", "forceRefetch", "query", "flag", help="Refetch"),
        ),
    ),
    Binding(
        ("skills", "list"),
        "GET",
        "/skills",
        "List local skills",
        (
            Opt("cwd", "cwd", "query", help="Working directory"),
            Opt("force-reload", "forceReload", "query", "flag", help="Reload from disk"),
        ),
        rows="data",
    ),
    Binding(
        ("skills", "config", "set"),
        "POST",
        "/skills/config",
        "Write local skill config",
        (
            Opt("path", "path", required=True, help="The skill's path"),
            Opt("enabled", "enabled", kind="bool", required=True, help="Enable or disable"),
        ),
        body=True,
    ),
    Binding(("skills", "remote", "get"), "GET", "/skills/remote", "Read remote skill settings"),
    Binding(
        ("skills", "remote", "set"),
        "POST",
        "/skills/remote",
        "Write remote skill settings",
        (
            Opt("hazelnut-id", "hazelnutId", required=True, help="The remote skill id"),
            Opt("preload", "isPreload", kind="bool", required=True, help="Preload it"),
        ),
        body=True,
    ),
    Binding(("mcp", "reload"), "POST", "/mcp/reload", "Reload MCP configuration"),
    page("mcp", "servers", "list", path="/mcp/servers", help="List MCP server statuses"),
    Binding(
        ("mcp", "oauth", "login"),
        "POST",
        "/mcp/servers/{serverName}/oauth/login",
        "Start MCP OAuth login",
        (
            Opt("scopes", "scopes", kind="csv", multiple=True, help="OAuth scopes"),
            Opt("timeout-secs", "timeoutSecs", kind="int", help="Login timeout"),
        ),
        body=True,
    ),
    # account
    Binding(("account", "get"), "GET", "/account", "Read account state"),
    Binding(
        ("account", "login", "start"),
        "POST",
        "/account/login/start",
        "Start account login (--type apiKey --api-key KEY, or --type chatgpt)",
        (
            Opt("type", "type", required=True, choices=("apiKey", "chatgpt", "chatgptAuthTokens")),
            Opt("api-key", "apiKey", help="For --type apiKey"),
            Opt("id-token", "idToken", help="For --type chatgptAuthTokens"),
            Opt("access-token", "accessToken", help="For --type chatgptAuthTokens"),
        ),
        body=True,
    ),
    Binding(
        ("account", "login", "cancel"),
        "POST",
        "/account/login/cancel",
        "Cancel account login",
        (Opt("login-id", "loginId", required=True, help="The login to cancel"),),
        body=True,
    ),
    Binding(("account", "logout"), "POST", "/account/logout", "Logout account"),
    Binding(("account", "rate-limits"), "GET", "/account/rate-limits", "Read account rate limits"),
    # config
    Binding(
        ("config", "get"),
        "GET",
        "/config",
        "Read Codex config",
        (
            Opt("cwd", "cwd", "query", help="Resolve project layers for this directory"),
            Opt("include-layers", "includeLayers", "query", "flag", help="Include layers"),
        ),
    ),
    Binding(("config", "requirements"), "GET", "/config/requirements", "Read config requirements"),
    Binding(
        ("config", "set"),
        "POST",
        "/config/value",
        "Write single config value",
        (
            Opt("key-path", "keyPath", required=True, help="e.g. model"),
            Opt("value", "value", kind="json", required=True, help="JSON or @file"),
            Opt(
                "merge-strategy",
                "mergeStrategy",
                choices=("replace", "upsert"),
                help="default replace",
            ),
            Opt("expected-version", "expectedVersion", help="Fail if the config changed"),
            Opt("file-path", "filePath", help="The config file to write"),
        ),
        body=True,
    ),
    Binding(
        ("config", "batch-set"),
        "POST",
        "/config/batch",
        "Write config batch edits",
        (
            Opt(
                "edits",
                "edits",
                kind="json",
                help="[{keyPath, mergeStrategy, value}]: JSON or @file",
            ),
            Opt("expected-version", "expectedVersion", help="Fail if the config changed"),
            Opt("file-path", "filePath", help="The config file to write"),
        ),
        body=True,
    ),
    # runtime, feedback
    Binding(
        ("runtime", "exec"),
        "POST",
        "/commands/exec",
        "Execute one-off command (the words after --)",
        (
            Opt("cwd", "cwd", help="Absolute working directory"),
            Opt("timeout-ms", "timeoutMs", kind="int", help="Command timeout"),
        ),
        body=True,
        rest="command",
    ),
    Binding(("runtime", "restart"), "POST", "/runtime/restart", "Restart the codex runtime"),
    Binding(
        ("feedback", "submit"),
        "POST",
        "/feedback",
        "Upload feedback to Codex",
        (
            Opt("classification", "classification", required=True, help="e.g. bug"),
            Opt(
                "include-logs",
                "includeLogs",
                kind="bool",
                default=False,
                help="Attach logs (default no)",
            ),
            Opt("reason", "reason", help="What happened"),
            Opt("thread-id", "threadId", help="The thread concerned"),
        ),
        body=True,
    ),
    # extensions
    Binding(
        ("agents", "extensions", "list"),
        "GET",
        "/agents/extensions",
        "List loaded agent extensions",
        rows="modules",
        columns=("name", "version", "agentId", "events"),
    ),
    Binding(
        ("agents", "extensions", "reload"),
        "POST",
        "/agents/extensions/reload",
        "Reload agent extensions",
    ),
    # the job queue
    Binding(
        ("orchestrator", "jobs", "list"),
        "GET",
        "/orchestrator/jobs",
        "List queue jobs, newest first",
        (
            Opt("state", "state", "query", "csv", multiple=True, help="queued,running,..."),
            Opt("type", "type", "query", "csv", multiple=True, help="Job types"),
            Opt("owner", "owner", "query", help="A project id or session:<id>"),
            CURSOR,
            LIMIT,
        ),
        rows="data",
        columns=JOB_COLUMNS,
    ),
    Binding(
        ("orchestrator", "jobs", "get"),
        "GET",
        "/orchestrator/jobs/{jobId}",
        "Read one queue job",
        allow=(404,),
    ),
    Binding(
        ("orchestrator", "jobs", "cancel"),
        "POST",
        "/orchestrator/jobs/{jobId}/cancel",
        "Cancel one queue job",
        allow=(404, 409),
    ),
    # projects
    Binding(
        ("projects", "list"),
        "GET",
        "/projects",
        "List projects",
        rows="data",
        columns=PROJECT_COLUMNS,
    ),
    Binding(
        ("projects", "create"),
        "POST",
        "/projects",
        "Create a project",
        (
            Opt("name", "name", required=True, help="Its name (unique)"),
            Opt("working-directory", "workingDirectory", help="An existing absolute directory"),
        ),
        body=True,
    ),
    Binding(
        ("projects", "rename"),
        "POST",
        "/projects/{projectId}/rename",
        "Rename a project",
        (
            Opt("name", "name", required=True, help="The new name"),
            Opt(
                "working-directory",
                "workingDirectory",
                kind="tristate",
                help="A directory; null clears it",
            ),
        ),
        body=True,
    ),
    Binding(("projects", "delete"), "DELETE", "/projects/{projectId}", "Delete a project"),
    Binding(
        ("projects", "agent-sessions", "list"),
        "GET",
        "/projects/{projectId}/agent-sessions",
        "List project-owned agent sessions",
        rows="data",
        columns=("agent", "sessionId", "systemOwned"),
    ),
    Binding(
        ("projects", "chats", "move-all"),
        "POST",
        "/projects/{projectId}/chats/move-all",
        "Move all project chats",
        (Opt("destination", "destination", required=True, choices=("unassigned", "archive")),),
        body=True,
    ),
    Binding(
        ("projects", "chats", "delete-all"),
        "POST",
        "/projects/{projectId}/chats/delete-all",
        "Delete all project chats",
    ),
    Binding(
        ("projects", "jobs", "list"),
        "GET",
        "/projects/{projectId}/orchestrator/jobs",
        "List a project's queue jobs (or session:<id>'s)",
        (Opt("state", "state", "query", "csv", multiple=True, help="queued,running,..."),),
        rows="data",
        columns=JOB_COLUMNS,
    ),
    # events and metrics
    Binding(
        ("events", "list"),
        "GET",
        "/events",
        "Replay events from the durable ledger",
        (
            Opt("since", "since", "query", "int", help="Events with seq > since"),
            Opt("limit", "limit", "query", "int", help="At most this many (1-1000)"),
            Opt("thread-id", "threadId", "query", "csv", multiple=True, help="Only these threads"),
            Opt("types", "types", "query", "csv", multiple=True, help="Type prefixes"),
        ),
        rows="events",
        columns=("seq", "type", "threadId", "at"),
    ),
    Binding(("metrics", "get"), "GET", "/metrics", "Prometheus metrics (text)"),
    Binding(
        ("stream", "events"), "GET", "/stream", "Follow the live event stream", kind="websocket"
    ),
)

BINDINGS: tuple[Binding, ...] = (*_GENERAL, *SESSION_BINDINGS)

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


def _page(*command: str, path: str, help: str, extra: tuple[Opt, ...] = ()) -> Binding:
    """A runtime list with `cursor`/`limit` answering `{data, nextCursor}`."""
    return Binding(
        command, "GET", path, help, (CURSOR, LIMIT, *extra), rows="data", columns=("id", "name")
    )


BINDINGS: tuple[Binding, ...] = (
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
    _page(
        "system", "features", "list", path="/features/experimental", help="Experimental features"
    ),
    _page(
        "system",
        "collaboration-modes",
        "list",
        path="/collaboration/modes",
        help="Collaboration modes",
    ),
    Binding(("system", "openapi"), "GET", "/openapi.json", "The OpenAPI document"),
    # discovery
    _page("models", "list", path="/models", help="List available models"),
    _page(
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
    _page("mcp", "servers", "list", path="/mcp/servers", help="List MCP server statuses"),
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
            Opt("include-logs", "includeLogs", kind="bool", help="Attach logs (default no)"),
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
    # sessions
    Binding(
        ("sessions", "list"),
        "GET",
        "/sessions",
        "List sessions, most recently updated first",
        (
            Opt("archived", "archived", "query", "flag", help="Archived sessions instead"),
            Opt(
                "include-system-owned",
                "includeSystemOwned",
                "query",
                "flag",
                help="Include workers",
            ),
            Opt("project-id", "projectId", "query", help='Only this project\'s ("" = unassigned)'),
            CURSOR,
            LIMIT,
        ),
        rows="sessions",
        columns=SESSION_COLUMNS,
    ),
    Binding(
        ("sessions", "create"),
        "POST",
        "/sessions",
        "Create a session",
        (
            Opt("title", "title", help="Its title"),
            Opt("cwd", "cwd", help="Working directory"),
            Opt("model", "model", help="Model"),
            Opt("approval-policy", "approvalPolicy", choices=APPROVAL),
            Opt("network-access", "networkAccess", choices=NETWORK),
            Opt("filesystem-sandbox", "filesystemSandbox", choices=SANDBOX),
            Opt("project-id", "projectId", help="Assign to this project"),
            DYNAMIC_TOOLS,
        ),
        body=True,
    ),
    Binding(
        ("sessions", "get"),
        "GET",
        "/sessions/{sessionId}",
        "Read a session and its transcript",
        allow=(404, 410),
    ),
    Binding(
        ("sessions", "delete"),
        "DELETE",
        "/sessions/{sessionId}",
        "Permanently delete a session",
        allow=(404, 410),
    ),
    Binding(
        ("sessions", "resume"),
        "POST",
        "/sessions/{sessionId}/resume",
        "Resume a session",
        (DYNAMIC_TOOLS,),
        body=True,
    ),
    Binding(
        ("sessions", "rename"),
        "POST",
        "/sessions/{sessionId}/rename",
        "Rename a session",
        (Opt("title", "title", required=True, help="The new title"),),
        body=True,
    ),
    Binding(("sessions", "archive"), "POST", "/sessions/{sessionId}/archive", "Archive a session"),
    Binding(
        ("sessions", "unarchive"), "POST", "/sessions/{sessionId}/unarchive", "Unarchive a session"
    ),
    Binding(
        ("sessions", "project", "set"),
        "POST",
        "/sessions/{sessionId}/project",
        "Assign a session to a project (--project-id null: unassign)",
        (
            Opt(
                "project-id",
                "projectId",
                kind="tristate",
                required=True,
                help="A project id, or null",
            ),
        ),
        body=True,
    ),
    Binding(
        ("sessions", "send"),
        "POST",
        "/sessions/{sessionId}/messages",
        "Start a turn (--wait: follow it to its end)",
        (
            Opt("text", "text", kind="text", help="The message, or @file"),
            Opt("input", "input", kind="json", help="Input items: JSON or @file"),
            Opt("model", "model", help="Model for this turn"),
            Opt("effort", "effort", choices=EFFORT),
            Opt("approval-policy", "approvalPolicy", choices=APPROVAL),
            Opt("network-access", "networkAccess", choices=NETWORK),
            Opt("filesystem-sandbox", "filesystemSandbox", choices=SANDBOX),
            Opt("collaboration-mode", "collaborationMode", kind="json", help="JSON or @file"),
            Opt("output-schema", "outputSchema", kind="json", help="JSON Schema or @file"),
            DYNAMIC_TOOLS,
        ),
        body=True,
        allow=(202, 400, 403, 404, 410),
    ),
    Binding(
        ("sessions", "interrupt"),
        "POST",
        "/sessions/{sessionId}/interrupt",
        "Interrupt the active turn",
        (Opt("turn-id", "turnId", help="Only if this turn is the active one"),),
        body=True,
    ),
    Binding(
        ("sessions", "steer"),
        "POST",
        "/sessions/{sessionId}/turns/{turnId}/steer",
        "Add input to the active turn",
        (Opt("input", "input", kind="text", required=True, help="Text, or @file"),),
        body=True,
    ),
    Binding(
        ("sessions", "fork"),
        "POST",
        "/sessions/{sessionId}/fork",
        "Fork a session",
        (Opt("title", "title", help="The fork's title"),),
        body=True,
    ),
    Binding(
        ("sessions", "compact"), "POST", "/sessions/{sessionId}/compact", "Start context compaction"
    ),
    Binding(
        ("sessions", "rollback"),
        "POST",
        "/sessions/{sessionId}/rollback",
        "Roll back the last turns",
        (Opt("num-turns", "numTurns", kind="int", help="How many (default 1)"),),
        body=True,
    ),
    Binding(
        ("sessions", "background-terminals", "clean"),
        "POST",
        "/sessions/{sessionId}/background-terminals/clean",
        "Clean background terminals",
    ),
    Binding(
        ("sessions", "review", "start"),
        "POST",
        "/sessions/{sessionId}/review",
        "Start review mode",
        (
            Opt("delivery", "delivery", choices=("inline", "detached")),
            Opt(
                "target-type",
                "targetType",
                choices=("uncommittedChanges", "baseBranch", "commit", "custom"),
            ),
            Opt("branch", "branch", help="For baseBranch"),
            Opt("sha", "sha", help="For commit"),
            Opt("title", "title", help="For commit"),
            Opt("instructions", "instructions", help="For custom"),
        ),
        body=True,
    ),
    Binding(
        ("sessions", "controls", "get"),
        "GET",
        "/sessions/{sessionId}/session-controls",
        "Read session/default controls",
    ),
    Binding(
        ("sessions", "controls", "apply"),
        "POST",
        "/sessions/{sessionId}/session-controls",
        "Apply session/default controls",
        (
            SCOPE,
            Opt(
                "controls",
                "controls",
                kind="json",
                help="{model, approvalPolicy, ...}: JSON or @file",
            ),
            ACTOR,
            Opt("source", "source", help="Where the change came from"),
        ),
        body=True,
    ),
    Binding(
        ("sessions", "settings", "get"),
        "GET",
        "/sessions/{sessionId}/settings",
        "Read session settings",
        (
            Opt("scope", "scope", "query", choices=("session", "default")),
            Opt("key", "key", "query", help="One top-level key"),
        ),
    ),
    Binding(
        ("sessions", "settings", "set"),
        "POST",
        "/sessions/{sessionId}/settings",
        "Upsert session settings (--key K --value JSON, or --settings JSON --mode)",
        (
            SCOPE,
            Opt("key", "key", help="One top-level key"),
            Opt("value", "value", kind="json", help="Its value: JSON or @file"),
            Opt("settings", "settings", kind="json", help="An object: JSON or @file"),
            Opt("mode", "mode", choices=("merge", "replace")),
            ACTOR,
            Opt("source", "source", help="Where the change came from"),
        ),
        body=True,
    ),
    Binding(
        ("sessions", "settings", "unset"),
        "DELETE",
        "/sessions/{sessionId}/settings/{key}",
        "Delete one top-level session setting",
        (Opt("scope", "scope", "query", choices=("session", "default")),),
    ),
    Binding(
        ("sessions", "approval-policy", "set"),
        "POST",
        "/sessions/{sessionId}/approval-policy",
        "Set session approval policy",
        (Opt("approval-policy", "approvalPolicy", required=True, choices=APPROVAL),),
        body=True,
    ),
    Binding(
        ("sessions", "approvals", "list"),
        "GET",
        "/sessions/{sessionId}/approvals",
        "Pending approvals",
        rows="data",
        columns=("approvalId", *REQUEST_COLUMNS),
    ),
    Binding(
        ("sessions", "tool-input", "list"),
        "GET",
        "/sessions/{sessionId}/tool-input",
        "Pending tool-input requests",
        rows="data",
        columns=("requestId", *REQUEST_COLUMNS),
    ),
    Binding(
        ("sessions", "tool-calls", "list"),
        "GET",
        "/sessions/{sessionId}/tool-calls",
        "Pending dynamic tool calls",
        rows="data",
        columns=("requestId", "tool", *REQUEST_COLUMNS),
    ),
    Binding(
        ("sessions", "transcript", "get"),
        "GET",
        "/sessions/{sessionId}/transcript",
        "Read the transcript a page at a time",
        (CURSOR, LIMIT),
        rows="entries",
        columns=("turnId", "role", "type", "status", "content"),
    ),
    Binding(
        ("sessions", "transcript", "upsert"),
        "POST",
        "/sessions/{sessionId}/transcript/upsert",
        "Upsert one supplemental transcript entry",
        (
            Opt("message-id", "messageId", required=True),
            Opt("turn-id", "turnId", required=True),
            Opt("role", "role", required=True, choices=("user", "assistant", "system")),
            Opt("type", "type", required=True, help="Entry type"),
            Opt("content", "content", kind="text", required=True, help="Text, or @file"),
            Opt("details", "details", kind="json", help="JSON or @file"),
            Opt("status", "status", choices=("streaming", "complete", "canceled", "error")),
        ),
        body=True,
    ),
    Binding(
        ("sessions", "suggest-request", "run"),
        "POST",
        "/sessions/{sessionId}/suggested-request",
        "Suggest the next user request",
        (
            Opt("model", "model"),
            Opt("effort", "effort", choices=EFFORT),
            Opt("draft", "draft", kind="text"),
        ),
        body=True,
        allow=(202, 409),
    ),
    Binding(
        ("sessions", "suggest-request", "enqueue"),
        "POST",
        "/sessions/{sessionId}/suggested-request/jobs",
        "Enqueue a suggested-request job",
        (
            Opt("model", "model"),
            Opt("effort", "effort", choices=EFFORT),
            Opt("draft", "draft", kind="text"),
        ),
        body=True,
        allow=(202, 409),
    ),
    Binding(
        ("sessions", "suggest-request", "upsert"),
        "POST",
        "/sessions/{sessionId}/suggested-request/upsert",
        "Upsert suggested-request state",
        (
            Opt("request-key", "requestKey", required=True),
            Opt("status", "status", required=True),
            Opt("suggestion", "suggestion", kind="text"),
            Opt("error", "error"),
        ),
        body=True,
    ),
    # interactive requests
    Binding(
        ("approvals", "decide"),
        "POST",
        "/approvals/{approvalId}/decision",
        "Submit an approval decision",
        (
            Opt("decision", "decision", required=True, help="accept, decline, ..."),
            Opt("scope", "scope", choices=("turn", "session")),
            ACTOR,
        ),
        body=True,
        allow=(404, 409),
    ),
    Binding(
        ("tool-input", "decide"),
        "POST",
        "/tool-input/{requestId}/decision",
        "Submit a tool-input decision",
        (
            Opt("decision", "decision", required=True, choices=("accept", "decline", "cancel")),
            Opt("answers", "answers", kind="json", help="{questionId: answer}: JSON or @file"),
            Opt("response", "response", kind="json", help="The raw response: JSON or @file"),
            ACTOR,
        ),
        body=True,
        allow=(404, 409),
    ),
    Binding(
        ("tool-calls", "respond"),
        "POST",
        "/tool-calls/{requestId}/response",
        "Answer a dynamic tool call",
        (
            Opt("success", "success", kind="bool", help="Whether the call succeeded"),
            Opt("text", "text", kind="text", help="The answer, or @file"),
            Opt("content-items", "contentItems", kind="json", help="JSON or @file"),
            Opt("response", "response", kind="json", help="The raw response: JSON or @file"),
            ACTOR,
        ),
        body=True,
        allow=(404, 409),
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

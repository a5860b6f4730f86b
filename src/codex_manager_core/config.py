"""ManagerConfig: every knob of the embedded manager, with the defaults a user expects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from codex_manager_core.extensions.model import TrustMode
from codex_manager_core.models import Controls
from codex_manager_core.queue.agents import AgentDefinition
from codex_manager_core.runtime.client import ClientInfo, RetryPolicy
from codex_manager_core.runtime.supervisor import RestartPolicy


@attrs.frozen
class SystemRequestPolicy:
    """How interactive requests of system-owned (worker) sessions are answered, since no
    person watches them: decline approvals, cancel questions, fail tool calls (a dynamic tool
    with a registered Python function still answers itself)."""

    approval_decision: str = "decline"
    user_input_decision: str = "cancel"
    tool_call_success: bool = False


SYSTEM_THREAD_CONFIG: Final[Mapping[str, Any]] = {
    "features": {
        "shell_tool": False,
        "multi_agent": False,
        "goals": False,
        "view_image": False,
    },
    "web_search": "disabled",
}
"""`ManagerConfig.system_thread_config`'s default: codex's built-in tools off for workers
(codex 0.163's feature names; `--strict-config` refuses a name it does not know)."""


def default_extensions_repo_root() -> Path | None:
    """The `extensions/` folder next to `src/` of this checkout, when it exists (None for
    an installed wheel)."""
    src = Path(__file__).resolve().parents[1]
    folder = src.parent / "extensions"
    return folder if src.name == "src" and folder.is_dir() else None


@attrs.frozen
class ManagerConfig:
    # --- the runtime
    codex_bin: str | None = None
    """Path of the codex binary; default: $CODEX_BIN, else the pinned bundled one."""
    codex_home: Path | None = None
    """The runtime's own home; default: <data_dir>/codex-home. Never ~/.codex."""
    runtime_env: Mapping[str, str] | None = None
    """The runtime's whole environment; default: this process's environment."""
    import_user_auth: bool = True
    """Copy ~/.codex/auth.json into codex_home once when it has none (login reuse)."""
    strict_config: bool = False
    """Pass --strict-config: an unknown key in config.toml fails start-up."""
    runtime_args: tuple[str, ...] = ()
    client_info: ClientInfo = ClientInfo()
    experimental_api: bool = True
    call_timeout: float = 120.0
    initialize_timeout: float = 30.0
    ready_timeout: float = 30.0
    """How long a call waits for a (re)starting runtime before RuntimeUnavailable."""
    restart: RestartPolicy = RestartPolicy()
    retry: RetryPolicy = RetryPolicy()
    feedback_timeout: float = 30.0
    """Longest wait for `upload_feedback` (codex sends it to OpenAI over the network)."""
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 3

    # --- sessions
    default_cwd: Path | None = None
    """Working directory of sessions created without one (default: the current one)."""
    default_controls: Controls = Controls(
        model=None,
        approval_policy="untrusted",
        network_access="restricted",
        filesystem_sandbox="read-only",
    )
    defaults_locked: bool = False
    defaults_lock_reason: str = "Managed by harness configuration"
    default_title: str = "New chat"
    max_input_bytes: int = 1024 * 1024
    """Largest text a message may carry (UTF-8 bytes)."""
    max_settings_bytes: int = 256 * 1024
    """Largest settings document of a session (or of the defaults), as compact JSON."""

    # --- interactive requests
    request_timeout: float | None = None
    """Seconds a pending approval/question/tool call may wait before it expires (and the
    runtime is answered decline/cancel/failure). None: wait for an answer indefinitely."""
    system_request_policy: SystemRequestPolicy = SystemRequestPolicy()
    system_thread_config: Mapping[str, Any] = attrs.field(
        factory=lambda: dict(SYSTEM_THREAD_CONFIG)
    )
    """codex config overrides (thread/start and thread/resume `config`) of system-owned
    sessions, i.e. queue workers: by default codex's own tools are off (shell, sub-agents,
    goals, image viewing, web search), so a worker acts only through the worker tools its
    orientation names, and every model request is ~40% smaller. `{}`: codex's defaults."""

    # --- events
    subscriber_buffer: int = 10_000
    """Events a subscriber may fall behind before it is told Lagged."""
    delta_retention: float | None = 7 * 24 * 3600.0
    """Seconds after which deltas of completed items are dropped from the ledger (the
    completed item keeps the full text). None: keep forever."""
    compaction_interval: float = 3600.0

    # --- storage
    max_held_events: int = 20_000
    """Events from the runtime held in memory while the store refuses writes (disk full,
    read-only); past this the oldest are dropped, and a `ledger_events_lost` event says how
    many once writes resume."""
    store_retry_initial: float = 0.5
    """Seconds before the first retry of held events; doubles after each failed retry..."""
    store_retry_max: float = 10.0
    """... up to this."""

    # --- the job queue (docs/queue.md)
    queue_concurrency: int = 2
    """Jobs running at once, over all owners (at most one per owner in any case)."""
    queue_max_per_owner: int = 100
    """Queued plus running jobs of one owner; one more is refused with QueueFull."""
    queue_max_total: int = 500
    """Queued plus running jobs over all owners; one more is refused with QueueFull."""
    queue_background_aging: float = 15.0
    """Seconds after which a queued background job is scheduled as an interactive one."""
    queue_retained_per_owner: int = 200
    """Terminal (completed, failed, canceled) jobs kept per owner; older ones are deleted."""
    queue_unknown_type_grace: float = 30.0
    """Seconds after the Manager opens during which a queued job (from a previous run) whose
    type is not registered yet waits for it; then it fails `recovery_unknown_job_type`.
    Register your job types soon after `Manager.open`."""
    queue_shutdown_drain: float = 2.0
    """Seconds running jobs get to end by themselves when the Manager closes; then they are
    cancelled and written back to queued (their attempt not counted)."""

    # --- suggested requests (docs/queue.md, "Suggested requests")
    suggest_request_wait: float = 12.0
    """Seconds `manager.suggestions.request` (POST /api/sessions/{id}/suggested-request)
    waits for the worker's suggestion before answering the fallback."""
    suggestions_max_entries: int = 2000
    """Suggested-request states kept in memory; past this the least recently updated go."""

    # --- extensions (docs/extensions.md)
    extension_dispatch: bool = True
    """Run the extension dispatcher: the background task that emits extension events
    (synthesized from the ledger) to the loaded extensions' handlers. Off: no handler runs
    from the ledger (`emit` called directly still works)."""

    # --- worker sessions (docs/queue.md, "Worker sessions and agents")
    agents: tuple[AgentDefinition, ...] = ()
    """Agent definitions added to the built-ins (`default`, `supervisor`); one with a
    built-in's name replaces it. `manager.agents.register(...)` adds more at run time."""

    # --- extensions (docs/extensions.md)
    extensions_repo_root: Path | None = attrs.field(factory=default_extensions_repo_root)
    """The repository's own extensions (origin repo_local, trusted: checked in `warn` at
    most); default: the `extensions/` folder next to `src/` of this checkout when it exists.
    None: none."""
    extension_roots: tuple[Path, ...] = ()
    """Folders of extensions (origin configured_root), besides those of
    $CODEX_MANAGER_EXTENSION_ROOTS (OS path separator)."""
    extension_roots_from_env: bool = True
    """Read $CODEX_MANAGER_EXTENSION_ROOTS too."""
    extension_entry_points: bool = True
    """Load installed packages' extensions (entry point group `codex_manager.extensions`)."""
    extension_trust: TrustMode = TrustMode.ENFORCED
    """disabled | warn | enforced: what an extension may subscribe to and ask for beyond its
    manifest's `[capabilities]` (the repository's own extensions: `warn` at most)."""
    extension_audit_keep: int = 1000
    """Audit records of extension (re)loads kept; older ones are deleted."""
    extension_import_timeout: float = 30.0
    """Seconds an in-process extension's import and `register` may take; past it the
    extension is refused (`import_failed`) and the load goes on without it."""

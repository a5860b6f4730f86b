"""The protocols of `ManagerApi` and `ServerApi`: the event ledger and the runtime (the
server's narrower groups first; the embedded ones extend them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from codex_manager_core.events.bus import Subscription
    from codex_manager_core.models import Event, JsonValue
    from codex_manager_core.runtime.supervisor import RuntimeHealth

Handler = TypeVar("Handler", bound=Callable[..., Any])


class EventsServerApi(Protocol):
    """`events`: the REST replay (the live stream differs in type: `Subscription` embedded,
    `EventStream` remote)."""

    async def read(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        """Stored events after `since` (ascending seq), at most `limit`."""
        ...


class RuntimeServerApi(Protocol):
    """`runtime`: the app-server methods with a route (not `call`, not the process)."""

    async def capabilities(self, *, refresh: bool = False) -> dict[str, Any]:
        """Which methods the installed codex offers (stable / experimental-only), and the
        derived feature map."""
        ...

    async def list_models(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        include_hidden: bool | None = None,
    ) -> JsonValue: ...

    async def list_experimental_features(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue: ...

    async def list_collaboration_modes(self) -> JsonValue: ...

    async def list_apps(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        thread_id: str | None = None,
        force_refetch: bool | None = None,
    ) -> JsonValue: ...

    async def list_skills(
        self, *, cwd: str | None = None, force_reload: bool | None = None
    ) -> JsonValue: ...

    async def list_mcp_servers(
        self, *, cursor: str | None = None, limit: int | None = None
    ) -> JsonValue: ...

    async def read_config(
        self, *, cwd: str | None = None, include_layers: bool | None = None
    ) -> JsonValue: ...

    async def read_config_requirements(self) -> JsonValue: ...

    async def exec_command(
        self, command: Sequence[str], *, cwd: str | None = None, timeout_ms: int | None = None
    ) -> JsonValue:
        """Run a one-off command outside any thread (`command/exec`)."""
        ...

    async def read_account(self) -> JsonValue: ...

    async def write_skill_config(self, *, path: str, enabled: bool) -> JsonValue: ...

    async def read_remote_skills(self) -> JsonValue: ...

    async def write_remote_skills(
        self, *, hazelnut_id: str, is_preload: bool | None = None
    ) -> JsonValue: ...

    async def reload_mcp(self) -> JsonValue: ...

    async def mcp_oauth_login(
        self,
        server_name: str,
        *,
        scopes: Sequence[str] | None = None,
        timeout_secs: int | None = None,
    ) -> JsonValue: ...

    async def write_config_value(
        self,
        *,
        key_path: str,
        value: Any,
        merge_strategy: str = "replace",
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue: ...

    async def write_config_batch(
        self,
        *,
        edits: Sequence[Mapping[str, Any]],
        expected_version: str | None = None,
        file_path: str | None = None,
    ) -> JsonValue: ...

    async def upload_feedback(
        self,
        *,
        classification: str,
        include_logs: bool = False,
        reason: str | None = None,
        thread_id: str | None = None,
    ) -> JsonValue:
        """Send feedback to OpenAI (`feedback/upload`)."""
        ...

    async def login_start(self, params: Mapping[str, Any]) -> JsonValue:
        """Start a login: {type: apiKey, apiKey} | {type: chatgpt} | {type: chatgptAuthTokens,
        accessToken, chatgptAccountId, chatgptPlanType?}."""
        ...

    async def login_cancel(self, login_id: str) -> JsonValue: ...

    async def logout(self) -> JsonValue: ...

    async def read_rate_limits(self) -> JsonValue: ...


class EventsApi(EventsServerApi, Protocol):
    """`manager.events`"""

    @property
    def last_seq(self) -> int:
        """The seq of the last event published (0 before the first)."""
        ...

    def subscribe(
        self,
        *,
        thread_ids: Iterable[str] | None = None,
        types: Iterable[str] | None = None,
        since: int | None = None,
        buffer: int | None = None,
        include_thread_less: bool = False,
    ) -> Subscription:
        """Events as an async iterator: with `since`, first every stored event after that seq,
        then live ones, with no gap and no duplicate."""
        ...

    def on(
        self, *types: str, thread_ids: Iterable[str] | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: call `handler(event)` (sync or async) for every live event whose type
        starts with one of `types` (all events if none)."""
        ...

    async def compact(self, *, older_than: float | None = None) -> None:
        """Drop streaming deltas of completed items older than `older_than` seconds (default:
        the configured retention)."""
        ...


class RuntimeApi(RuntimeServerApi, Protocol):
    """`manager.runtime`"""

    async def call(
        self, method: str, params: Any = None, *, timeout: float | None = None
    ) -> JsonValue:
        """Call any app-server method (errors mapped; unknown methods: MethodNotSupported)."""
        ...

    async def wait_ready(self, timeout: float | None = None) -> RuntimeHealth:
        """Wait until the runtime is ready (RuntimeUnavailable if it failed)."""
        ...

    async def restart(self, *, wait: bool = False, timeout: float | None = None) -> RuntimeHealth:
        """Restart the runtime process now (history survives; threads resume on demand)."""
        ...

    @property
    def health(self) -> RuntimeHealth:
        """The runtime's state now (starting, ready, restarting, failed...)."""
        ...

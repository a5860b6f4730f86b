"""`FakeAppServer`: how a fake app-server process should behave, and the argv that starts one.

The options are validated here, in the test's process, so that a typo fails where the test
is written; the same class decodes `--config` in the fake's own process. Nothing here runs
the fake (see `_server`).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

if TYPE_CHECKING:
    from codex_manager_core.runtime.stdio import StdioTransport

MODULE: Final = "codex_manager_core.testing.fake_app_server"
DEFAULT_USER_AGENT: Final = "fake_app_server/0.0.0-fake (fault injection)"

#: Signals whose default action does not end the process: useless for `crash_by_signal`.
_NON_FATAL_SIGNALS: Final = frozenset(
    getattr(signal, name)
    for name in (
        "SIGCHLD",
        "SIGCONT",
        "SIGURG",
        "SIGWINCH",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
    )
    if hasattr(signal, name)
)


class FakeConfigError(ValueError):
    """The fake's configuration is invalid."""


# ------------------------------------------------------------------------- configuration


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not is_int(value) or value < minimum:
            raise ValueError(f"{attribute.name} must be an integer >= {minimum}, got {value!r}")

    return check


def _optional_int_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    check = _int_at_least(minimum)

    def optional(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _is_bool(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{attribute.name} must be true or false, got {value!r}")


def _is_str(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{attribute.name} must be a string, got {value!r}")


def _is_optional_str(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _is_str(instance, attribute, value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # A bare string is iterable too; turning "echo" into ("e", "c", "h", "o") helps no one.
    if isinstance(value, str | bytes):
        raise ValueError(f"expected a list of method names, got the string {value!r}")
    return tuple(value)


def _all_str(_instance: Any, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{attribute.name} must hold method names, got {item!r}")


def _count_map(value: Mapping[str, int]) -> Mapping[str, int]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object of method -> count, got {value!r}")
    return MappingProxyType(dict(value))


def _counts_at_least(minimum: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Mapping[Any, Any]) -> None:
        for method, count in value.items():
            if not isinstance(method, str):
                raise ValueError(f"{attribute.name} keys must be method names, got {method!r}")
            if not is_int(count) or count < minimum:
                raise ValueError(
                    f"{attribute.name}[{method!r}] must be an integer >= {minimum}, got {count!r}"
                )

    return check


def _optional_path(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def _fatal_signal(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not is_int(value) or value not in {int(s) for s in signal.valid_signals()}:
        raise ValueError(f"{attribute.name} must be a signal number, got {value!r}")
    if value in _NON_FATAL_SIGNALS:
        raise ValueError(f"{attribute.name}: signal {value} does not end a process by default")


@attrs.frozen
class FakeAppServer:
    """How a fake app-server process should behave. `command()` is the argv to start one.

    Every option defaults to "behave like a well-mannered app-server".
    """

    user_agent: str = attrs.field(default=DEFAULT_USER_AGENT, validator=_is_str)
    """Returned as `userAgent` by initialize."""
    codex_home: str | None = attrs.field(default=None, validator=_is_optional_str)
    """Returned as `codexHome`; None means the fake's CODEX_HOME env var (or "")."""
    reject_experimental: bool = attrs.field(default=False, validator=_is_bool)
    """initialize with `capabilities.experimentalApi: true` fails with -32600."""

    crash_on: str | None = attrs.field(default=None, validator=_is_optional_str)
    """Exit (before answering) when a request with this method arrives."""
    crash_at: int | None = attrs.field(default=None, validator=_optional_int_at_least(1))
    """Exit on the N-th request (1-based, counting every request including initialize)."""
    crash_times: int = attrs.field(default=1, validator=_int_at_least(1))
    """With `state_dir`, only the first `crash_times` crashes happen; later processes live."""
    state_dir: str | None = attrs.field(default=None, converter=_optional_path)
    """Where counters shared across processes live; without it every process crashes and
    `overload` counts per process."""
    exit_code: int = attrs.field(default=1, validator=[_int_at_least(0)])
    """Exit code of a crash."""
    crash_by_signal: int | None = attrs.field(default=None, validator=_fatal_signal)
    """Crash by killing itself with this signal instead of exiting."""

    hang_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_all_str)
    """Never answer these methods."""
    slow_ms: int = attrs.field(default=0, validator=_int_at_least(0))
    """Delay before every answer; other requests are still answered meanwhile."""
    overload: Mapping[str, int] = attrs.field(
        factory=dict, converter=_count_map, validator=_counts_at_least(1), hash=False
    )
    """Answer -32001 to the first N calls of each of these methods."""
    garbage_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, validator=_all_str)
    """Before answering these methods print a non-JSON line and a non-object JSON line."""
    oversized_on: Mapping[str, int] = attrs.field(
        factory=dict, converter=_count_map, validator=_counts_at_least(1), hash=False
    )
    """Before answering this method print one valid notification line of at least N bytes."""

    spawn_children: int = attrs.field(default=0, validator=_int_at_least(0))
    """At start-up spawn this many `sleep 600` children in the fake's process group; their
    pids are in the initialize result as `fakeChildPids`."""
    spawn_detached_child: bool = attrs.field(default=False, validator=_is_bool)
    """Also spawn one child in a new session (escaping the group): `fakeDetachedPid`."""
    ignore_sigterm: bool = attrs.field(default=False, validator=_is_bool)
    """Ignore SIGTERM, so only SIGKILL ends the fake."""
    ignore_stdin_eof: bool = attrs.field(default=False, validator=_is_bool)
    """Keep running after stdin closes (normally the fake then exits 0 at once)."""
    stderr_lines_per_request: int = attrs.field(default=1, validator=_int_at_least(0))
    """Log lines written to stderr for each request."""
    stderr_flood_bytes: int = attrs.field(default=0, validator=_int_at_least(0))
    """At start-up, before reading stdin, write this many bytes to stderr."""

    def __attrs_post_init__(self) -> None:
        if self.exit_code > 255:
            raise ValueError(f"exit_code must be in 0..255, got {self.exit_code}")

    # -------------------------------------------------------------- serialisation

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready data (what `--config` carries)."""
        data: dict[str, Any] = {}
        for field in attrs.fields(FakeAppServer):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data[field.name] = value
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> FakeAppServer:
        """Validate `data` (as decoded from JSON); raise `FakeConfigError` when it is bad."""
        if not isinstance(data, dict):
            raise FakeConfigError(f"the configuration must be a JSON object, got {data!r}")
        known = {field.name for field in attrs.fields(FakeAppServer)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise FakeConfigError(
                f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise FakeConfigError(f"invalid configuration: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> FakeAppServer:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise FakeConfigError(f"the configuration is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    def command(self) -> list[str]:
        """The argv that starts a fake app-server with this configuration (the package's
        `__main__`)."""
        return [sys.executable, "-m", MODULE, "--config", self.to_json()]

    def transport(self, **options: Any) -> StdioTransport:
        """A RuntimeTransport running this fake, e.g.
        `Manager.open(store=MemoryStore(), transport=FakeAppServer(...).transport())`.
        `options` go to StdioTransport (env, cwd, log, stop_timeouts)."""
        # Imported here: the fake itself runs as a subprocess with only the stdlib and attrs.
        from codex_manager_core.runtime.stdio import StdioTransport

        return StdioTransport(self.command(), **options)

"""Agent definitions: the named kinds of hidden worker a job may run its turns on.

A job that needs the model (a suggested reply, a supervisor's review) does not talk in the
user's chat: it uses a worker session of its owner, one per (owner, agent) pair, and the
agent says how that worker runs: its model and effort, its sandbox, approval policy and
network access, the orientation turn it starts with, how long one of its turns may take.

Definitions come from three places, later ones overriding earlier ones by name: the
built-ins (`default`, `supervisor`), `ManagerConfig.agents`, the server's TOML agents file
(`load_agents_file`), and `manager.agents.register(...)` at run time (an extension adds its
own agents there: a job naming one is never refused as "unknown agent" once registered).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import cattrs

from codex_manager_core.errors import Conflict, InvalidInput, NotFound
from codex_manager_core.models import APPROVAL_POLICIES, FILESYSTEM_SANDBOXES, NETWORK_ACCESS_VALUES

DEFAULT_ORIENTATION: Final = (
    "You are a hidden background worker of codex-manager, not a chat with a person. Nobody "
    "reads your messages as they are written: the work you are given arrives as messages in "
    "this session, and you act only through the dynamic tools this session declares (their "
    "results are what codex-manager uses). Never use a shell, never run commands and never "
    "edit files yourself. When a request is done, answer briefly; when a tool fails, say why "
    "in one sentence."
)
"""The orientation turn of an agent whose `orientation` is None."""

_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh")


def _issue(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"agent {field}: {message}", issues=[{"path": [field], "message": message}])


def _check_name(_instance: object, _attribute: object, value: Any) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _issue(
            "name",
            f"must be 1-64 letters, digits or ._- starting with a letter or digit, got {value!r}",
        )


def _optional_text(field: str) -> Any:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _issue(field, f"must be a non-empty string or None, got {value!r}")

    return check


def _choice(field: str, allowed: tuple[str, ...]) -> Any:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if value not in allowed:
            raise _issue(field, f"must be one of {list(allowed)}, got {value!r}")

    return check


def _check_effort(_instance: object, _attribute: object, value: Any) -> None:
    if value is not None and value not in EFFORTS:
        raise _issue("effort", f"must be one of {list(EFFORTS)} or None, got {value!r}")


def _check_timeout(_instance: object, _attribute: object, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _issue("turn_timeout", f"must be a positive number of seconds, got {value!r}")


@attrs.frozen
class AgentDefinition:
    """How one kind of worker runs. Every field is checked when the definition is made
    (InvalidInput naming the field)."""

    name: str = attrs.field(validator=_check_name)
    model: str | None = attrs.field(default=None, validator=_optional_text("model"))
    """The worker's model; None: the manager's default controls decide."""
    effort: str | None = attrs.field(default=None, validator=_check_effort)
    """Reasoning effort of the worker's turns; None: the model's default."""
    sandbox: str = attrs.field(
        default="read-only", validator=_choice("sandbox", FILESYSTEM_SANDBOXES)
    )
    approval_policy: str = attrs.field(
        default="never", validator=_choice("approval_policy", APPROVAL_POLICIES)
    )
    network_access: str = attrs.field(
        default="restricted", validator=_choice("network_access", NETWORK_ACCESS_VALUES)
    )
    orientation: str | None = attrs.field(default=None, validator=_optional_text("orientation"))
    """The text of the worker's first (orientation) turn; None: `DEFAULT_ORIENTATION`."""
    turn_timeout: float = attrs.field(default=180.0, validator=_check_timeout)
    """Seconds one turn of the worker may run before the job gives up on it."""

    @property
    def orientation_text(self) -> str:
        return self.orientation if self.orientation is not None else DEFAULT_ORIENTATION


BUILTIN_AGENTS: Final = (
    AgentDefinition("default"),
    AgentDefinition(
        "supervisor",
        orientation=(
            DEFAULT_ORIENTATION + " You supervise the user's session: you review what it "
            "did and report through your tools; you never take its work over."
        ),
    ),
)


class AgentRegistry:
    """The agents a manager knows, by name (`manager.agents`)."""

    def __init__(self, definitions: Iterable[AgentDefinition] = BUILTIN_AGENTS) -> None:
        self._agents: dict[str, AgentDefinition] = {}
        for definition in definitions:
            self.register(definition, replace=True)

    def register(self, definition: AgentDefinition, *, replace: bool = False) -> AgentDefinition:
        """Add an agent; one of the same name is refused (Conflict `agent_exists`) unless
        `replace`."""
        if not isinstance(definition, AgentDefinition):
            raise InvalidInput(
                f"an agent is an AgentDefinition, got {type(definition).__name__}",
                issues=[{"path": ["definition"], "message": "not an AgentDefinition"}],
            )
        if definition.name in self._agents and not replace:
            raise Conflict(
                f"an agent named {definition.name!r} is already registered "
                "(register(..., replace=True) replaces it)",
                code="agent_exists",
            )
        self._agents[definition.name] = definition
        return definition

    def get(self, name: str) -> AgentDefinition:
        """The agent, or NotFound `unknown_agent` naming the known ones."""
        definition = self._agents.get(name) if isinstance(name, str) else None
        if definition is None:
            raise NotFound(
                f"unknown agent {name!r}; known agents: {', '.join(self.names())}",
                code="unknown_agent",
            )
        return definition

    def names(self) -> list[str]:
        return sorted(self._agents)

    def list(self) -> list[AgentDefinition]:
        return [self._agents[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __iter__(self) -> Iterator[AgentDefinition]:
        return iter(self.list())


def registry_for(configured: Iterable[AgentDefinition]) -> AgentRegistry:
    """The built-ins, overridden (by name) by the configured definitions."""
    return AgentRegistry([*BUILTIN_AGENTS, *configured])


# ---------------------------------------------------------------------- the TOML file


def _strict_str(value: object, _type: object) -> str:
    # cattrs' own hook is `str(value)`: a number would quietly become a model name.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _strict_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(float, _strict_float)
_AT_FIELD = re.compile(r"^(.*) @ \$\.?(\w*)")


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _cattrs_issue(exc: Exception) -> tuple[str, str]:
    """The field a structuring error is about, and why (an AgentDefinition validator's
    InvalidInput names its field; cattrs names a wrong type's field with `@ $.field`)."""
    for leaf in _leaves(exc):
        if isinstance(leaf, InvalidInput):
            issue = leaf.issues[0]
            return (str(issue["path"][0]) if issue["path"] else ""), str(issue["message"])
        if isinstance(leaf, cattrs.ForbiddenExtraKeysError):
            return ", ".join(sorted(leaf.extra_fields)), "unknown field"
    for message in cattrs.transform_error(exc, path="$"):
        match = _AT_FIELD.match(message)
        if match:
            return match.group(2), match.group(1)
    return "", str(exc)


def parse_agents(document: Mapping[str, Any], *, source: str) -> tuple[AgentDefinition, ...]:
    """The definitions of an agents document: `[agents.<name>]` tables of AgentDefinition
    fields (without `name`). An error (InvalidInput) names `source` and the field."""

    def fail(path: list[str], message: str) -> InvalidInput:
        dotted = ".".join(part for part in path if part)
        return InvalidInput(
            f"{source}: {dotted}: {message}",
            issues=[{"path": ["agents_file", *path], "message": message}],
        )

    unknown = sorted(set(document) - {"agents"})
    if unknown:
        raise fail(unknown[:1], "unknown table (agents are [agents.<name>] tables)")
    tables = document.get("agents", {})
    if not isinstance(tables, Mapping):
        raise fail(["agents"], "must be a table of [agents.<name>] tables")
    definitions: list[AgentDefinition] = []
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise fail(["agents", str(name)], "must be a table")
        if "name" in table:
            raise fail(["agents", str(name), "name"], "the name is the table's key")
        try:
            definitions.append(_converter.structure({**table, "name": name}, AgentDefinition))
        except Exception as exc:  # a wrong type, an unknown key, a value a validator refused
            field, reason = _cattrs_issue(exc)
            raise fail(["agents", str(name), field], reason) from None
    return tuple(definitions)


def load_agents_file(path: str | Path) -> tuple[AgentDefinition, ...]:
    """The agents of a TOML file (`[agents.<name>]` tables, see `parse_agents`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(
            f"agents file {path}: cannot be read ({exc.strerror or exc})",
            issues=[{"path": ["agents_file"], "message": "cannot be read"}],
        ) from None
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"agents file {path}: not valid TOML ({exc})",
            issues=[{"path": ["agents_file"], "message": "not valid TOML"}],
        ) from None
    return parse_agents(document, source=f"agents file {path}")


__all__ = [
    "BUILTIN_AGENTS",
    "DEFAULT_ORIENTATION",
    "AgentDefinition",
    "AgentRegistry",
    "load_agents_file",
    "parse_agents",
    "registry_for",
]

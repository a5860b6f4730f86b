"""The extension runtime's vocabulary, shared by discovery, loading, trust, dispatch, the
isolation host and the HTTP inventory: manifests, where an extension came from, how it
loaded, the snapshot of what is loaded, and what one emit of an event gave.

Field names follow the original's manifest and inventory (`agentId`, `displayName`,
`coreApiVersionRange`, `capabilities.events/actions`); the HTTP wire turns these records into
its camelCase shapes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from codex_manager_core.extensions.api import Subscription
from codex_manager_core.models import JsonValue

MANIFEST_FILE = "extension.toml"
"""Why TOML (docs/extensions.md): comments, Python's own `tomllib`, the format of
pyproject.toml that a Python extension author already writes; the original's field names
are kept."""


class OriginType(enum.StrEnum):
    """Where an extension was found, in precedence order (the original's)."""

    REPO_LOCAL = "repo_local"
    """The repository's top-level `extensions/` folder."""
    INSTALLED_PACKAGE = "installed_package"
    """An installed distribution's entry point in the group `codex_manager.extensions`."""
    CONFIGURED_ROOT = "configured_root"
    """A folder of `CODEX_MANAGER_EXTENSION_ROOTS` (OS path separator)."""
    EMBEDDED = "embedded"
    """Loaded from a path through the embedded API (`manager.extensions.load_path`)."""


@attrs.frozen
class Origin:
    type: OriginType
    path: str


class TrustMode(enum.StrEnum):
    DISABLED = "disabled"
    WARN = "warn"
    ENFORCED = "enforced"


class Isolation(enum.StrEnum):
    IN_PROCESS = "in_process"
    PROCESS = "process"
    """A subprocess speaking JSON-RPC over stdio (extensions/isolation)."""


class LoadErrorCode(enum.StrEnum):
    """The original's loading error codes."""

    MISSING_ENTRYPOINT = "missing_entrypoint"
    INVALID_MANIFEST = "invalid_manifest"
    INCOMPATIBLE_RUNTIME = "incompatible_runtime"
    IMPORT_FAILED = "import_failed"
    MISSING_REGISTER = "missing_register"
    REGISTRATION_FAILED = "registration_failed"
    TRUST_DENIED = "trust_denied"
    AGENT_ID_CONFLICT = "agent_id_conflict"


@attrs.frozen
class Diagnostic:
    code: str
    """A LoadErrorCode, or a warning's code (e.g. `undeclared_event`)."""
    message: str
    level: str = "error"
    """error | warning."""


@attrs.frozen
class RuntimeRequirement:
    core_api_version: int = 1
    core_api_version_range: str | None = None
    """A semver range the core's API version must satisfy, e.g. ">=1.0.0 <2.0.0"."""
    profiles: tuple[tuple[str, str | None], ...] = ()
    """(name, version or range): runtime profiles the extension runs on; empty: any."""


@attrs.frozen
class Capabilities:
    events: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    """`"*"` is a wildcard in either."""


@attrs.frozen
class Manifest:
    name: str
    version: str
    agent_id: str
    display_name: str
    runtime: RuntimeRequirement = RuntimeRequirement()
    entrypoint: str = "extension.py"
    """The events entrypoint: a module file relative to the extension's folder, or for an
    installed package a module name (`package.module`)."""
    capabilities: Capabilities | None = None
    """None: the manifest declares none (enforced trust denies such a module)."""
    isolation: Isolation = Isolation.IN_PROCESS
    agents: tuple[JsonValue, ...] = ()
    """Agent definitions the extension provides (AgentDefinition fields), registered with
    `manager.agents` when it loads."""


@attrs.frozen
class TrustReport:
    mode: TrustMode
    status: str
    """accepted | accepted_with_warnings | denied."""
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


@attrs.frozen
class LoadedExtension:
    """One extension in a snapshot: what was found, how it loaded, what it subscribed."""

    module_name: str
    manifest: Manifest
    origin: Origin
    manifest_path: str | None
    entrypoint_path: str | None
    subscriptions: tuple[Subscription, ...]
    trust: TrustReport
    diagnostics: tuple[Diagnostic, ...] = ()
    root: Path | None = None
    isolated: Any = attrs.field(default=None, eq=False, repr=False)
    """The running child of a process-isolated extension (closed when a snapshot no longer
    holds this extension), None in-process."""


@attrs.frozen
class Snapshot:
    """What is loaded, swapped in whole by a (re)load."""

    version: str
    """A uuid, new with every successful load."""
    loaded_at: datetime
    extensions: tuple[LoadedExtension, ...] = ()
    skipped: tuple[tuple[str, Diagnostic], ...] = ()
    """(root or name, why): what the lenient first load left out."""


# ---------------------------------------------------------------- dispatch


class EnvelopeKind(enum.StrEnum):
    ENQUEUE_RESULT = "enqueue_result"
    ACTION_RESULT = "action_result"
    HANDLER_RESULT = "handler_result"
    HANDLER_ERROR = "handler_error"


class ActionOutcome(enum.StrEnum):
    """An action request's status in an emit (the original's)."""

    PERFORMED = "performed"
    ALREADY_RESOLVED = "already_resolved"
    NOT_ELIGIBLE = "not_eligible"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    INVALID = "invalid"
    FAILED = "failed"

    @property
    def reconciled(self) -> bool:
        """Not a failure: someone else already decided, or a prior action won."""
        return self in (
            ActionOutcome.ALREADY_RESOLVED,
            ActionOutcome.NOT_ELIGIBLE,
            ActionOutcome.CONFLICT,
        )


@attrs.frozen
class Envelope:
    """What one handler gave in one emit."""

    kind: EnvelopeKind
    module: str
    event_type: str
    status: str | None = None
    """enqueue: enqueued|already_queued; action: an ActionOutcome; error: timeout|error."""
    details: JsonValue = None
    error: str | None = None
    action_type: str | None = None
    idempotency_key: str | None = None


@attrs.frozen
class EmitSummary:
    event_type: str
    correlation_id: str | None
    handlers: int
    envelopes: tuple[Envelope, ...]
    performed_action: Envelope | None = None
    """The action that won (first performed), if any."""


__all__ = [
    "MANIFEST_FILE",
    "ActionOutcome",
    "Capabilities",
    "Diagnostic",
    "EmitSummary",
    "Envelope",
    "EnvelopeKind",
    "Isolation",
    "LoadErrorCode",
    "LoadedExtension",
    "Manifest",
    "Origin",
    "OriginType",
    "RuntimeRequirement",
    "Snapshot",
    "TrustMode",
    "TrustReport",
]

"""Extension lifecycle shapes: the original's inventory (`GET /api/agents/extensions`) and
reload answers (`POST /api/agents/extensions/reload`), plus ours (`skipped`)."""

from typing import Any, TypedDict

from codex_manager_core.extensions.api import CORE_API_VERSION, RUNTIME_PROFILE
from codex_manager_core.extensions.model import Diagnostic, LoadedExtension, Snapshot
from codex_manager_core.extensions.versions import runtime_problems
from codex_manager_core.serde import iso


class Origin(TypedDict):
    type: str
    """repo_local | installed_package | configured_root | embedded (ours)."""
    path: str


class Compatibility(TypedDict):
    apiVersion: int | None
    apiVersionRange: str | None
    runtimeVersion: int
    profileId: str
    profileVersion: str
    compatible: bool
    reasons: list[str]


class Capabilities(TypedDict):
    events: list[str]
    actions: list[str]


class Trust(TypedDict):
    mode: str
    status: str
    """accepted | accepted_with_warnings | denied."""
    warnings: list[str]
    errors: list[str]


class Module(TypedDict):
    moduleName: str
    name: str
    version: str
    agentId: str
    displayName: str
    manifestPath: str | None
    entrypointPath: str | None
    events: list[str]
    """The event types the module subscribed to, in subscription order."""
    origin: Origin
    compatibility: Compatibility
    capabilities: Capabilities
    trust: Trust
    diagnostics: list[str]
    """`code: message` of each warning the load gave."""


class Skipped(TypedDict):
    """Ours: an extension the lenient first load left out, and why."""

    name: str
    code: str
    message: str


class Inventory(TypedDict):
    status: str
    snapshotVersion: str
    loadedAt: str
    modules: list[Module]
    skipped: list[Skipped]
    """Ours: what the lenient first load skipped (empty after a reload: reloads are strict)."""


class ReloadedModule(TypedDict):
    name: str
    version: str
    agentId: str
    events: list[str]


class Reloaded(TypedDict):
    status: str
    reloadId: str
    loadedCount: int
    failedCount: int
    snapshotVersion: str
    loadedAt: str
    modules: list[ReloadedModule]


class LoadError(TypedDict):
    extension: str
    code: str
    message: str


class ReloadFailedBody(TypedDict):
    """400 `reload_failed` (the previous snapshot stays) or 409 `reload_in_progress`."""

    status: str
    code: str
    reloadId: str
    message: str
    snapshotVersion: str
    errors: list[LoadError]


class RbacDenied(TypedDict, total=False):
    """401/403 (400 `invalid_role` in header mode): the original's `{status, code}`, our
    `message`; `insufficient_role` adds `required` and `role`."""

    status: str
    code: str
    message: str
    required: list[str]
    role: str


def _events(extension: LoadedExtension) -> list[str]:
    seen: list[str] = []
    for sub in extension.subscriptions:
        if sub.event_type not in seen:
            seen.append(sub.event_type)
    return seen


def _diagnostic(diagnostic: Diagnostic) -> str:
    return f"{diagnostic.code}: {diagnostic.message}"


def module(extension: LoadedExtension) -> Module:
    manifest = extension.manifest
    runtime = manifest.runtime
    reasons = runtime_problems(runtime)
    capabilities = manifest.capabilities
    return {
        "moduleName": extension.module_name,
        "name": manifest.name,
        "version": manifest.version,
        "agentId": manifest.agent_id,
        "displayName": manifest.display_name,
        "manifestPath": extension.manifest_path,
        "entrypointPath": extension.entrypoint_path,
        "events": _events(extension),
        "origin": {"type": extension.origin.type.value, "path": extension.origin.path},
        "compatibility": {
            "apiVersion": runtime.core_api_version,
            "apiVersionRange": runtime.core_api_version_range,
            "runtimeVersion": CORE_API_VERSION,
            "profileId": RUNTIME_PROFILE[0],
            "profileVersion": RUNTIME_PROFILE[1],
            "compatible": not reasons,
            "reasons": reasons,
        },
        "capabilities": {
            "events": list(capabilities.events) if capabilities else [],
            "actions": list(capabilities.actions) if capabilities else [],
        },
        "trust": {
            "mode": extension.trust.mode.value,
            "status": extension.trust.status,
            "warnings": list(extension.trust.warnings),
            "errors": list(extension.trust.errors),
        },
        "diagnostics": [_diagnostic(d) for d in extension.diagnostics],
    }


def inventory(snapshot: Snapshot) -> Inventory:
    return {
        "status": "ok",
        "snapshotVersion": snapshot.version,
        "loadedAt": iso(snapshot.loaded_at) or "",
        "modules": [module(e) for e in snapshot.extensions],
        "skipped": [
            {"name": name, "code": d.code, "message": d.message} for name, d in snapshot.skipped
        ],
    }


def reloaded(reload_id: str, snapshot: Snapshot) -> Reloaded:
    return {
        "status": "ok",
        "reloadId": reload_id,
        "loadedCount": len(snapshot.extensions),
        "failedCount": 0,
        "snapshotVersion": snapshot.version,
        "loadedAt": iso(snapshot.loaded_at) or "",
        "modules": [
            {
                "name": e.manifest.name,
                "version": e.manifest.version,
                "agentId": e.manifest.agent_id,
                "events": _events(e),
            }
            for e in snapshot.extensions
        ],
    }


def reload_failed(
    code: str,
    reload_id: str,
    message: str,
    snapshot_version: str,
    diagnostics: list[dict[str, Any]],
) -> ReloadFailedBody:
    return {
        "status": "error",
        "code": code,
        "reloadId": reload_id,
        "message": message,
        "snapshotVersion": snapshot_version,
        "errors": [
            {
                "extension": str(d.get("name", "")),
                "code": str(d.get("code", "")),
                "message": str(d.get("message", "")),
            }
            for d in diagnostics
        ],
    }


__all__ = [
    "Inventory",
    "Module",
    "RbacDenied",
    "ReloadFailedBody",
    "Reloaded",
    "inventory",
    "module",
    "reload_failed",
    "reloaded",
]

"""Reading `extension.toml` (model.MANIFEST_FILE) into a `Manifest`.

The original's field names are kept (`agentId`, `displayName`, `[runtime] coreApiVersion`,
`coreApiVersionRange`, `profiles`, `[entrypoints] events`, `[capabilities] events, actions`);
unknown fields are ignored (the original's rule), a field of the wrong type fails with
`ManifestError` naming it. A folder without a manifest gets the defaults of `default_manifest`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codex_manager_core.errors import InvalidInput
from codex_manager_core.extensions.model import (
    MANIFEST_FILE,
    Capabilities,
    Isolation,
    Manifest,
    RuntimeRequirement,
)
from codex_manager_core.models import JsonValue
from codex_manager_core.queue.agents import AgentDefinition, parse_agents

DEFAULT_ENTRYPOINT = "extension.py"
DEFAULT_VERSION = "0.0.0"


class ManifestError(ValueError):
    """A manifest that cannot be used: `field` is the dotted name of what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


def default_manifest(name: str) -> Manifest:
    """A folder without a manifest: its name as name and agentId, version 0.0.0, no
    capabilities declared."""
    return Manifest(name=name, version=DEFAULT_VERSION, agent_id=name, display_name=name)


def _str(table: Mapping[str, Any], key: str, field: str, default: str | None) -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(field, f"must be a non-empty string, got {value!r}")
    return value


def _table(table: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ManifestError(key, f"must be a table, got {type(value).__name__}")
    return value


def _strings(table: Mapping[str, Any], key: str, field: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ManifestError(field, f"must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _runtime(table: Mapping[str, Any] | None) -> RuntimeRequirement:
    if table is None:
        return RuntimeRequirement()
    version = table.get("coreApiVersion", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ManifestError("runtime.coreApiVersion", f"must be an integer, got {version!r}")
    version_range = _str(table, "coreApiVersionRange", "runtime.coreApiVersionRange", None)
    raw_profiles = table.get("profiles", [])
    if not isinstance(raw_profiles, list):
        raise ManifestError("runtime.profiles", "must be a list of {name, version?, versionRange?}")
    profiles: list[tuple[str, str | None]] = []
    for i, profile in enumerate(raw_profiles):
        field = f"runtime.profiles[{i}]"
        if not isinstance(profile, Mapping):
            raise ManifestError(field, "must be a table {name, version?, versionRange?}")
        name = _str(profile, "name", f"{field}.name", None)
        if name is None:
            raise ManifestError(f"{field}.name", "is required")
        exact = _str(profile, "version", f"{field}.version", None)
        spec = _str(profile, "versionRange", f"{field}.versionRange", None)
        # An exact version is kept as `==v`, so that both forms are one specifier string.
        profiles.append((name, spec if spec is not None else (f"=={exact}" if exact else None)))
    return RuntimeRequirement(version, version_range, tuple(profiles))


def _agents(value: Any) -> tuple[JsonValue, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ManifestError("agents", "must be an array of tables ([[agents]])")
    tables: dict[str, Any] = {}
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            raise ManifestError(f"agents[{i}]", "must be a table of AgentDefinition fields")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"agents[{i}].name", "must be a non-empty string")
        if name in tables:
            raise ManifestError(f"agents[{i}].name", f"agent {name!r} is defined twice")
        tables[name] = {k: v for k, v in entry.items() if k != "name"}
    try:
        parse_agents({"agents": tables}, source=MANIFEST_FILE)
    except InvalidInput as exc:
        raise ManifestError("agents", str(exc)) from None
    return tuple(dict(entry) for entry in value)


def agent_definitions(manifest: Manifest) -> tuple[AgentDefinition, ...]:
    """The agents a manifest provides, as definitions (checked when it was parsed)."""
    tables = {
        str(entry["name"]): {k: v for k, v in entry.items() if k != "name"}
        for entry in manifest.agents
        if isinstance(entry, Mapping)
    }
    return parse_agents({"agents": tables}, source=MANIFEST_FILE)


def parse_manifest(document: Mapping[str, Any], *, default_name: str) -> Manifest:
    """The Manifest of a parsed `extension.toml`; ManifestError names a wrong field."""
    name = _str(document, "name", "name", default_name) or default_name
    version = _str(document, "version", "version", DEFAULT_VERSION) or DEFAULT_VERSION
    agent_id = _str(document, "agentId", "agentId", name) or name
    display_name = _str(document, "displayName", "displayName", name) or name
    entrypoints = _table(document, "entrypoints") or {}
    entrypoint = _str(entrypoints, "events", "entrypoints.events", DEFAULT_ENTRYPOINT)
    caps_table = _table(document, "capabilities")
    capabilities = (
        None
        if caps_table is None
        else Capabilities(
            events=_strings(caps_table, "events", "capabilities.events"),
            actions=_strings(caps_table, "actions", "capabilities.actions"),
        )
    )
    raw_isolation = document.get("isolation", Isolation.IN_PROCESS.value)
    try:
        isolation = Isolation(raw_isolation)
    except ValueError:
        raise ManifestError(
            "isolation", f"must be 'in_process' or 'process', got {raw_isolation!r}"
        ) from None
    return Manifest(
        name=name,
        version=version,
        agent_id=agent_id,
        display_name=display_name,
        runtime=_runtime(_table(document, "runtime")),
        entrypoint=entrypoint or DEFAULT_ENTRYPOINT,
        capabilities=capabilities,
        isolation=isolation,
        agents=_agents(document.get("agents")),
    )


def read_manifest(folder: Path, *, default_name: str | None = None) -> tuple[Manifest, Path | None]:
    """The manifest of an extension folder and its path (None: the folder has none, and
    gets `default_manifest`). ManifestError when it cannot be read or is wrong."""
    name = default_name or folder.name
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return default_manifest(name), None
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError("", f"{path} cannot be read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError("", f"{path} is not valid TOML ({exc})") from None
    return parse_manifest(document, default_name=name), path


__all__ = [
    "DEFAULT_ENTRYPOINT",
    "ManifestError",
    "agent_definitions",
    "default_manifest",
    "parse_manifest",
    "read_manifest",
]

"""Session controls (model, approval policy, sandbox, network) and the settings store.

Two scopes: `session` (one thread) and `default` (the template copied into new sessions;
read-only when the configuration locks it). Every change is audited: an event
`session_controls_updated` / `session_settings_updated` and a transcript row
`session.controls.updated` (as the original wrote) saying who changed what, from what, to
what. Both carry the change, never the whole settings document: the settings are an
open-ended JSON object written key by key, and a copy of all of it per write made the
ledger grow with the square of the number of writes. The document itself is bounded
(`ManagerConfig.max_settings_bytes`, SettingsTooLarge).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

import attrs

from codex_manager_core.errors import InvalidInput, Locked, SettingsTooLarge
from codex_manager_core.models import (
    APPROVAL_POLICIES,
    FILESYSTEM_SANDBOXES,
    NETWORK_ACCESS_VALUES,
    Controls,
    SessionRecord,
    TranscriptEntry,
)
from codex_manager_core.ports.store import PatchSession, PutDefaultControls, PutTranscriptEntry
from codex_manager_core.serde import to_json
from codex_manager_core.services.context import ServiceContext

SCOPES: Final = ("session", "default")


class Keep:
    """The default of an argument that means "leave this as it is"."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep()
MAX_SETTINGS_BYTES: Final = 256 * 1024
"""The default bound of one settings document (its compact JSON), per session and scope."""
MAX_MODEL_NAME: Final = 200
AUDIT_TURN: Final = "session-controls"
#: Setting names a change summary lists before "and N more".
SUMMARY_KEYS: Final = 10


def approval_wire(policy: str) -> str:
    """The value app-server 0.163 accepts: it dropped `on-failure`, whose nearest meaning is
    `on-request` (ask when the sandbox blocks something)."""
    return "on-request" if policy == "on-failure" else policy


def sandbox_policy(controls: Controls) -> dict[str, Any]:
    """turn/start's sandboxPolicy from the sandbox mode and network access."""
    network = controls.network_access == "enabled"
    if controls.filesystem_sandbox == "danger-full-access":
        return {"type": "dangerFullAccess"}
    if controls.filesystem_sandbox == "workspace-write":
        return {"type": "workspaceWrite", "networkAccess": network}
    return {"type": "readOnly", "networkAccess": network}


def check_choice(value: object, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(
            f"{field} must be one of {list(allowed)}, got {value!r}",
            issues=[{"path": [field], "message": f"expected one of {list(allowed)}"}],
        )
    assert isinstance(value, str)
    return value


def _model(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_MODEL_NAME:
        raise InvalidInput(
            f"model must be a model name (1-{MAX_MODEL_NAME} characters) or null, got {value!r}",
            issues=[{"path": ["model"], "message": "invalid model"}],
        )
    return value.strip()


def clean_settings(
    value: object, field: str = "settings", limit: int = MAX_SETTINGS_BYTES
) -> dict[str, Any]:
    """A JSON copy of a settings object, at most `limit` bytes of compact JSON."""
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"{field} must be a JSON object", issues=[{"path": [field], "message": "not an object"}]
        )
    try:
        encoded = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(
            f"{field} must be JSON-serialisable: {exc}",
            issues=[{"path": [field], "message": "not JSON"}],
        ) from exc
    size = len(encoded.encode())
    if size > limit:
        raise SettingsTooLarge(field, size, limit)
    result: dict[str, Any] = json.loads(encoded)
    return result


def settings_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed between two settings objects, by top-level key: `{set: {key: new value},
    removed: [key, ...]}` (what an audit record carries instead of both documents)."""
    return {
        "set": {key: value for key, value in new.items() if key not in old or old[key] != value},
        "removed": [key for key in old if key not in new],
    }


def _describe_change(change: Mapping[str, Any]) -> str:
    def names(keys: list[str]) -> str:
        shown = ", ".join(keys[:SUMMARY_KEYS])
        more = len(keys) - SUMMARY_KEYS
        return shown + (f" and {more} more" if more > 0 else "")

    parts = []
    if change["set"]:
        parts.append(f"set {names(list(change['set']))}")
    if change["removed"]:
        parts.append(f"removed {names(list(change['removed']))}")
    return "; ".join(parts)


def _tuple_json(controls: Controls) -> dict[str, Any]:
    """The controls tuple without its settings (an audit record carries their change)."""
    data: dict[str, Any] = to_json(controls)
    data.pop("settings", None)
    return data


def settings_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidInput(
            f"setting key must be a non-empty string of at most 200 characters, got {key!r}",
            issues=[{"path": ["key"], "message": "invalid key"}],
        )
    return key


def check_scope(scope: str) -> str:
    return check_choice(scope, SCOPES, "scope")


def describe(controls: Controls) -> str:
    return (
        f"model={controls.model or 'default'}, approval={controls.approval_policy}, "
        f"sandbox={controls.filesystem_sandbox}, network={controls.network_access}"
    )


@attrs.frozen
class ControlsView:
    """What `get_session_controls` returns."""

    session_id: str
    controls: Controls
    defaults: Controls
    defaults_editable: bool
    default_lock_reason: str | None


@attrs.frozen
class ControlsChange:
    """What applying controls did: `status` is "ok" or "unchanged"."""

    status: str
    scope: str
    applied: Controls
    previous: Controls
    summary: str


class ControlsService:
    """Defaults and per-session controls and settings (`manager.controls`,
    `manager.settings`)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._records = ctx.records

    # ------------------------------------------------------------------ resolving

    async def defaults(self) -> Controls:
        stored = await self._ctx.store.get_default_controls()
        return stored if stored is not None else self._ctx.config.default_controls

    @staticmethod
    def resolve(
        base: Controls,
        *,
        model: Any = None,
        approval_policy: Any = None,
        network_access: Any = None,
        filesystem_sandbox: Any = None,
        settings: Any = None,
    ) -> Controls:
        """`base` with the given (validated) overrides; None keeps the base value."""
        changes: dict[str, Any] = {}
        if model is not None:
            changes["model"] = _model(model)
        if approval_policy is not None:
            changes["approval_policy"] = check_choice(
                approval_policy, APPROVAL_POLICIES, "approval_policy"
            )
        if network_access is not None:
            changes["network_access"] = check_choice(
                network_access, NETWORK_ACCESS_VALUES, "network_access"
            )
        if filesystem_sandbox is not None:
            changes["filesystem_sandbox"] = check_choice(
                filesystem_sandbox, FILESYSTEM_SANDBOXES, "filesystem_sandbox"
            )
        if settings is not None:
            changes["settings"] = clean_settings(settings)
        return attrs.evolve(base, **changes) if changes else base

    def check_defaults_editable(self) -> None:
        if self._ctx.config.defaults_locked:
            raise Locked(
                f"the default controls are locked: {self._ctx.config.defaults_lock_reason}",
                code="locked",
            )

    # ------------------------------------------------------------------ controls

    async def get(self, session_id: str) -> ControlsView:
        record = await self._records.get(session_id, allow_system=False)
        locked = self._ctx.config.defaults_locked
        return ControlsView(
            session_id,
            record.controls,
            await self.defaults(),
            not locked,
            self._ctx.config.defaults_lock_reason if locked else None,
        )

    async def apply(
        self,
        session_id: str,
        *,
        scope: str = "session",
        model: str | Keep | None = KEEP,
        approval_policy: str | None = None,
        network_access: str | None = None,
        filesystem_sandbox: str | None = None,
        settings: Mapping[str, Any] | None = None,
        keep_model: bool = False,
        actor: str | None = None,
        source: str | None = None,
    ) -> ControlsChange:
        """Apply controls to the session or the defaults; what you leave out is kept.
        `model=None` explicitly means "the runtime's default model" (`keep_model=True`
        keeps the model whatever `model` says). The next turn uses the new controls."""
        if isinstance(model, Keep):
            keep_model = True
            model = None
        record = await self._records.get(session_id, allow_system=False)
        # Every invalid value is reported at once (one InvalidInput with all the issues).
        issues: list[dict[str, Any]] = []
        messages: list[str] = []
        errors: list[InvalidInput] = []

        def check(value: Any, validate: Any, *args: Any) -> Any:
            """`validate(value, *args)`, or None (and its issues noted) if invalid; None
            stays None (keep the previous value)."""
            if value is None:
                return None
            try:
                return validate(value, *args)
            except InvalidInput as exc:
                errors.append(exc)
                issues.extend(exc.issues)
                messages.append(exc.message)
                return None

        if scope is None:
            issues.append({"path": ["scope"], "message": "required"})
            messages.append("scope must be 'session' or 'default'")
        check(scope, check_scope)
        new_model = None if keep_model else check(model, _model)
        policy = check(approval_policy, check_choice, APPROVAL_POLICIES, "approval_policy")
        network = check(network_access, check_choice, NETWORK_ACCESS_VALUES, "network_access")
        sandbox = check(
            filesystem_sandbox, check_choice, FILESYSTEM_SANDBOXES, "filesystem_sandbox"
        )
        new_settings = check(
            settings, clean_settings, "settings", self._ctx.config.max_settings_bytes
        )
        for name, value in (("actor", actor), ("source", source)):
            if value is not None and (not isinstance(value, str) or len(value) > 200):
                issues.append({"path": [name], "message": "must be a string of at most 200"})
                messages.append(f"{name} must be a string of at most 200 characters")
        if len(errors) == 1 and isinstance(errors[0], SettingsTooLarge):
            raise errors[0]  # the only problem: keep its code (HTTP 413)
        if issues:
            raise InvalidInput("invalid controls: " + "; ".join(messages), issues=issues)
        if scope == "default":
            self.check_defaults_editable()
            previous = await self.defaults()
        else:
            previous = record.controls
        applied = Controls(
            model=previous.model if keep_model else new_model,
            approval_policy=policy or previous.approval_policy,
            network_access=network or previous.network_access,
            filesystem_sandbox=sandbox or previous.filesystem_sandbox,
            settings=new_settings if new_settings is not None else previous.settings,
        )
        return await self.store_controls(record, scope, previous, applied, actor, source)

    async def set_approval_policy(self, session_id: str, approval_policy: str) -> ControlsChange:
        """The legacy single-field setter."""
        record = await self._records.get(session_id, allow_system=False)
        policy = check_choice(approval_policy, APPROVAL_POLICIES, "approval_policy")
        applied = attrs.evolve(record.controls, approval_policy=policy)  # type: ignore[arg-type]
        return await self.store_controls(
            record, "session", record.controls, applied, None, "approval-policy"
        )

    async def store_controls(
        self,
        record: SessionRecord,
        scope: str,
        previous: Controls,
        applied: Controls,
        actor: str | None,
        source: str | None,
        *,
        event_type: str = "session_controls_updated",
    ) -> ControlsChange:
        if applied == previous:
            return ControlsChange("unchanged", scope, applied, previous, "no change")
        summary = (
            f"{'Default' if scope == 'default' else 'Session'} controls updated by "
            f"{actor or 'unknown'} via {source or 'api'}: {describe(previous)} -> {describe(applied)}"
        )
        change = None
        if previous.settings != applied.settings:
            change = settings_change(previous.settings, applied.settings)
            summary += f" (settings changed: {_describe_change(change)})"
        # The tuples without the settings document, and the settings' change: a record
        # whose size does not grow with the document.
        audited = {
            "scope": scope,
            "previous": _tuple_json(previous),
            "applied": _tuple_json(applied),
            "settingsChange": change,
            "actor": actor,
            "source": source,
        }
        now = self._ctx.now()
        audit = TranscriptEntry(
            message_id=f"controls-{uuid.uuid4()}",
            turn_id=AUDIT_TURN,
            role="system",
            type="session.controls.updated",
            content=summary,
            details=audited,
            started_at=now,
            completed_at=now,
        )
        event = self._ctx.event(
            event_type,
            record.session_id,
            {
                "sessionId": record.session_id,
                "scope": scope,
                "controls": audited["applied"],
                "previous": audited["previous"],
                "settingsChange": change,
                "actor": actor,
                "source": source,
                "summary": summary,
            },
        )
        entry = PutTranscriptEntry(record.session_id, audit)
        if scope == "default":
            await self._ctx.write([PutDefaultControls(applied), entry], [event])
        else:
            current = self._records.cache.get(record.session_id, record)  # may be newer than record
            changes: dict[str, Any] = {"controls": applied}
            if applied.model and applied.model != current.model:
                changes["model"] = applied.model  # the model the next turn runs
            self._records.cache[record.session_id] = attrs.evolve(current, **changes)
            await self._ctx.write([PatchSession(record.session_id, changes), entry], [event])
        return ControlsChange("ok", scope, applied, previous, summary)

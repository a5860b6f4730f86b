"""Session controls and settings shapes (the original's section 1.9): the controls tuple
`{model|null, approvalPolicy, networkAccess, filesystemSandbox, settings}` in its two scopes,
and the settings store."""

from typing import Any, Literal, NotRequired, TypedDict, cast

from codex_manager_core import Controls, ControlsChange, ControlsView, SettingValue
from codex_manager_core.errors import InvalidInput
from codex_manager_core.serde import to_json
from codex_manager_http.wire.common import ApprovalPolicy, FilesystemSandbox, NetworkAccess

Scope = Literal["session", "default"]


class ControlsTuple(TypedDict):
    model: str | None
    """null: the runtime's default model."""
    approvalPolicy: ApprovalPolicy
    networkAccess: NetworkAccess
    filesystemSandbox: FilesystemSandbox
    settings: dict[str, Any]


class ControlsState(TypedDict):
    status: str
    sessionId: str
    controls: ControlsTuple
    defaults: ControlsTuple
    defaultsEditable: bool
    defaultLockReason: str | None


class ControlsApplied(ControlsState):
    scope: Scope
    applied: ControlsTuple
    previous: ControlsTuple
    summary: str


class SettingsState(TypedDict):
    status: str
    sessionId: str
    scope: Scope
    settings: NotRequired[dict[str, Any]]
    """The whole settings object (without `key`)."""
    key: NotRequired[str]
    found: NotRequired[bool]
    value: NotRequired[Any]


class SettingsChanged(TypedDict):
    status: str
    sessionId: str
    scope: Scope
    key: str | None
    settings: dict[str, Any]


class SettingRemoved(TypedDict):
    status: str
    """"ok", or "unchanged" when the key did not exist."""
    sessionId: str
    scope: Scope
    key: str
    removed: bool
    settings: dict[str, Any]


class ApprovalPolicyResult(TypedDict):
    status: str
    sessionId: str
    approvalPolicy: ApprovalPolicy
    changed: bool
    change: dict[str, Any]
    """Ours: the ControlsChange ({status, scope, applied, previous, summary})."""


class ControlsInput(TypedDict):
    """Omitted fields keep their value; `model: null` selects the runtime's default."""

    model: NotRequired[str | None]
    approvalPolicy: NotRequired[ApprovalPolicy | None]
    networkAccess: NotRequired[NetworkAccess | None]
    filesystemSandbox: NotRequired[FilesystemSandbox | None]
    settings: NotRequired[dict[str, Any] | None]
    """Replaces the whole settings object; omit it to keep the settings."""


class ApplyControlsBody(TypedDict):
    scope: NotRequired[Scope]
    """Default: session."""
    controls: ControlsInput
    actor: NotRequired[str | None]
    source: NotRequired[str | None]


class SettingsBody(TypedDict):
    """Either `key` + `value` (one top-level key), or `settings` + `mode` (merge: default)."""

    scope: NotRequired[Scope]
    key: NotRequired[str]
    value: NotRequired[Any]
    settings: NotRequired[dict[str, Any]]
    mode: NotRequired[Literal["merge", "replace"]]
    actor: NotRequired[str | None]
    source: NotRequired[str | None]


class ApprovalPolicyBody(TypedDict):
    approvalPolicy: ApprovalPolicy


# ---------------------------------------------------------------------- parsing


def settings_by_key(body: SettingsBody) -> bool:
    """Whether a settings write sets one key (`key` + `value`) rather than an object
    (`settings` + `mode`); 400 naming the field when the body mixes or lacks both."""
    by_key = "key" in body or "value" in body
    by_object = "settings" in body or "mode" in body
    if by_key == by_object:
        raise InvalidInput(
            "give either key and value, or settings (with mode merge or replace), not both"
            if by_key
            else "give key and value, or settings (with mode merge or replace)",
            issues=[{"path": ["settings" if by_key else "key"], "message": "one style only"}],
        )
    if by_key and ("key" not in body or "value" not in body):
        missing = "value" if "key" in body else "key"
        raise InvalidInput(
            f"{missing} is required with {'key' if missing == 'value' else 'value'}",
            issues=[{"path": [missing], "message": "required"}],
        )
    return by_key


# ---------------------------------------------------------------------- answers


def controls_tuple(controls: Controls) -> ControlsTuple:
    return cast(ControlsTuple, to_json(controls))


def controls_state(view: ControlsView) -> ControlsState:
    return {
        "status": "ok",
        "sessionId": view.session_id,
        "controls": controls_tuple(view.controls),
        "defaults": controls_tuple(view.defaults),
        "defaultsEditable": view.defaults_editable,
        "defaultLockReason": view.default_lock_reason,
    }


def controls_locked(view: ControlsView, scope: Scope) -> dict[str, Any]:
    """The extra keys of the original's 423 `locked` answer to a controls write: the scope
    and the current state (without its `status`)."""
    state: dict[str, Any] = dict(controls_state(view))
    del state["status"]
    return {"scope": scope, **state}


def controls_applied(view: ControlsView, change: ControlsChange) -> ControlsApplied:
    """The state after a write, with what changed (`status` "unchanged" when nothing did)."""
    return {
        **controls_state(view),
        "status": change.status,
        "scope": cast(Scope, change.scope),
        "applied": controls_tuple(change.applied),
        "previous": controls_tuple(change.previous),
        "summary": change.summary,
    }


def settings_state(
    session_id: str, scope: Scope, found: dict[str, Any] | SettingValue
) -> SettingsState:
    """The whole settings object, or for one key `{key, found, value}`."""
    base: SettingsState = {"status": "ok", "sessionId": session_id, "scope": scope}
    if isinstance(found, SettingValue):
        return {**base, "key": found.key, "found": found.found, "value": found.value}
    return {**base, "settings": found}


def settings_changed(
    session_id: str, scope: Scope, key: str | None, settings: dict[str, Any]
) -> SettingsChanged:
    return {
        "status": "ok",
        "sessionId": session_id,
        "scope": scope,
        "key": key,
        "settings": settings,
    }


def setting_removed(
    session_id: str, scope: Scope, key: str, removed: bool, settings: dict[str, Any]
) -> SettingRemoved:
    return {
        "status": "ok" if removed else "unchanged",
        "sessionId": session_id,
        "scope": scope,
        "key": key,
        "removed": removed,
        "settings": settings,
    }


def approval_policy_result(session_id: str, change: ControlsChange) -> ApprovalPolicyResult:
    return {
        "status": "ok",
        "sessionId": session_id,
        "approvalPolicy": change.applied.approval_policy,
        "changed": change.status == "ok",
        "change": to_json(change),
    }

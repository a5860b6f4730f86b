"""Session controls and the settings store (the original's section 1.9).

Controls are `{model|null, approvalPolicy, networkAccess, filesystemSandbox, settings}` in two
scopes: `session` and `default` (the template of new sessions; 423 `locked` when the host's
configuration locks it). Every change is audited in the session's transcript.
"""

from typing import Annotated, Any, Literal, NotRequired, TypedDict, cast

from litestar import delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from codex_manager_core import Controls, ControlsView
from codex_manager_core.errors import InvalidInput, Locked
from codex_manager_core.serde import to_json
from codex_manager_http.app import ManagerDep
from codex_manager_http.routes.sessions import (
    RESHAPED,
    ApprovalPolicy,
    ErrorBody,
    FilesystemSandbox,
    NetworkAccess,
    Reshaped,
    error_responses,
    reshaped,
)

Scope = Literal["session", "default"]
#: `scope` is a reserved handler parameter name in Litestar (the ASGI scope).
SCOPE_QUERY = Parameter(query="scope", description="session or default")


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


#: The answer to a write that would make a settings document larger than its bound.
TOO_LARGE = {
    413: ResponseSpec(
        data_container=ErrorBody,
        description="The settings would exceed their size limit (code settings_too_large; "
        "the message names the limit)",
    )
}


def _tuple(controls: Controls) -> ControlsTuple:
    return cast(ControlsTuple, to_json(controls))


def _state(view: ControlsView) -> ControlsState:
    return {
        "status": "ok",
        "sessionId": view.session_id,
        "controls": _tuple(view.controls),
        "defaults": _tuple(view.defaults),
        "defaultsEditable": view.defaults_editable,
        "defaultLockReason": view.default_lock_reason,
    }


@get(
    "/api/sessions/{session_id:str}/session-controls",
    tags=["controls"],
    summary="Read session/default controls tuple",
    responses=error_responses(403, 404, 410),
)
async def get_session_controls(manager: ManagerDep, session_id: str) -> ControlsState:
    return _state(await manager.controls.get(session_id))


@post(
    "/api/sessions/{session_id:str}/session-controls",
    tags=["controls"],
    summary="Apply session/default controls tuple",
    status_code=200,
    exception_handlers=RESHAPED,
    responses={**error_responses(400, 403, 404, 410, 423), **TOO_LARGE},
)
async def apply_session_controls(
    manager: ManagerDep, session_id: str, data: ApplyControlsBody
) -> ControlsApplied:
    """`status` is "unchanged" when the tuple was already so; the next turn uses it."""
    controls = data["controls"]
    scope = data.get("scope", "session")
    try:
        change = await manager.controls.apply(
            session_id,
            scope=scope,
            model=controls.get("model"),
            keep_model="model" not in controls,
            approval_policy=controls.get("approvalPolicy"),
            network_access=controls.get("networkAccess"),
            filesystem_sandbox=controls.get("filesystemSandbox"),
            settings=controls.get("settings"),
            actor=data.get("actor"),
            source=data.get("source"),
        )
    except Locked as exc:
        state: dict[str, Any] = dict(_state(await manager.controls.get(session_id)))
        del state["status"]
        raise reshaped(exc, "locked", scope=scope, **state) from exc
    return {
        **_state(await manager.controls.get(session_id)),
        "status": change.status,
        "scope": cast(Scope, change.scope),
        "applied": _tuple(change.applied),
        "previous": _tuple(change.previous),
        "summary": change.summary,
    }


@get(
    "/api/sessions/{session_id:str}/settings",
    tags=["controls"],
    summary="Read session settings",
    responses=error_responses(400, 403, 404, 410),
)
async def get_settings(
    manager: ManagerDep,
    session_id: str,
    settings_scope: Annotated[Scope, SCOPE_QUERY] = "session",
    key: Annotated[str | None, Parameter(description="One top-level key")] = None,
) -> SettingsState:
    """The whole settings object, or with `key` `{key, found, value}`."""
    scope = settings_scope
    found = await manager.settings.get(session_id, scope=scope, key=key)
    base: SettingsState = {"status": "ok", "sessionId": session_id, "scope": scope}
    if key is None:
        return {**base, "settings": found}
    return {**base, "key": found["key"], "found": found["found"], "value": found["value"]}


async def _locked_settings(
    manager: ManagerDep, session_id: str, scope: Scope, exc: Locked
) -> Reshaped:
    settings = await manager.settings.get(session_id, scope=scope)
    return reshaped(exc, "locked", scope=scope, sessionId=session_id, settings=settings)


@post(
    "/api/sessions/{session_id:str}/settings",
    tags=["controls"],
    summary="Upsert session settings",
    status_code=200,
    exception_handlers=RESHAPED,
    responses={**error_responses(400, 403, 404, 410, 423), **TOO_LARGE},
)
async def set_settings(manager: ManagerDep, session_id: str, data: SettingsBody) -> SettingsChanged:
    """`key` + `value` sets one top-level key; `settings` + `mode` merges (or replaces)
    top-level keys. The two styles are mutually exclusive (400). 413 `settings_too_large`
    when the resulting document would exceed the limit (256 KiB by default)."""
    scope = data.get("scope", "session")
    by_key = "key" in data or "value" in data
    by_object = "settings" in data or "mode" in data
    if by_key == by_object:
        raise InvalidInput(
            "give either key and value, or settings (with mode merge or replace), not both"
            if by_key
            else "give key and value, or settings (with mode merge or replace)",
            issues=[{"path": ["settings" if by_key else "key"], "message": "one style only"}],
        )
    if by_key and ("key" not in data or "value" not in data):
        missing = "value" if "key" in data else "key"
        raise InvalidInput(
            f"{missing} is required with {'key' if missing == 'value' else 'value'}",
            issues=[{"path": [missing], "message": "required"}],
        )
    try:
        if by_key:
            settings = await manager.settings.set(
                session_id,
                data["key"],
                data["value"],
                scope=scope,
                actor=data.get("actor"),
                source=data.get("source"),
            )
        else:
            settings = await manager.settings.update(
                session_id,
                data.get("settings", {}),
                mode=data.get("mode", "merge"),
                scope=scope,
                actor=data.get("actor"),
                source=data.get("source"),
            )
    except Locked as exc:
        raise await _locked_settings(manager, session_id, scope, exc) from exc
    return {
        "status": "ok",
        "sessionId": session_id,
        "scope": scope,
        "key": data.get("key"),
        "settings": settings,
    }


@delete(
    "/api/sessions/{session_id:str}/settings/{key:str}",
    tags=["controls"],
    summary="Delete one top-level session setting",
    status_code=200,
    exception_handlers=RESHAPED,
    responses=error_responses(400, 403, 404, 410, 423),
)
async def delete_setting(
    manager: ManagerDep,
    session_id: str,
    key: str,
    settings_scope: Annotated[Scope, SCOPE_QUERY] = "session",
    actor: str | None = None,
    source: str | None = None,
) -> SettingRemoved:
    scope = settings_scope
    try:
        removed = await manager.settings.unset(
            session_id, key, scope=scope, actor=actor, source=source
        )
    except Locked as exc:
        raise await _locked_settings(manager, session_id, scope, exc) from exc
    return {
        "status": "ok" if removed else "unchanged",
        "sessionId": session_id,
        "scope": scope,
        "key": key,
        "removed": removed,
        "settings": await manager.settings.get(session_id, scope=scope),
    }


@post(
    "/api/sessions/{session_id:str}/approval-policy",
    tags=["controls"],
    summary="Set session approval policy",
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def set_approval_policy(
    manager: ManagerDep, session_id: str, data: ApprovalPolicyBody
) -> ApprovalPolicyResult:
    """The legacy single-field setter (session-controls sets the whole tuple)."""
    change = await manager.controls.set_approval_policy(session_id, data["approvalPolicy"])
    return {
        "status": "ok",
        "sessionId": session_id,
        "approvalPolicy": change.applied.approval_policy,
        "changed": change.status == "ok",
    }


ROUTES: list[Any] = [
    get_session_controls,
    apply_session_controls,
    get_settings,
    set_settings,
    delete_setting,
    set_approval_policy,
]

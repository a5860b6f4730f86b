"""Session controls and the settings store (the original's section 1.9).

Controls are `{model|null, approvalPolicy, networkAccess, filesystemSandbox, settings}` in two
scopes: `session` and `default` (the template of new sessions; 423 `locked` when the host's
configuration locks it). Every change is audited in the session's transcript. The shapes
are in `wire/controls.py`.
"""

from typing import Annotated, Any

from litestar import delete, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from codex_manager_core.errors import Locked
from codex_manager_http.host import ManagerDep
from codex_manager_http.routes.common import RESHAPED, Reshaped, error_responses, reshaped
from codex_manager_http.wire import controls as wire
from codex_manager_http.wire.common import ErrorBody

#: `scope` is a reserved handler parameter name in Litestar (the ASGI scope).
ScopeQuery = Annotated[wire.Scope, QueryParameter(name="scope", description="session or default")]

#: The answer to a write that would make a settings document larger than its bound.
TOO_LARGE = {
    413: ResponseSpec(
        data_container=ErrorBody,
        description="The settings would exceed their size limit (code settings_too_large; "
        "the message names the limit)",
    )
}


@get(
    "/api/sessions/{session_id:str}/session-controls",
    tags=["controls"],
    summary="Read session/default controls tuple",
    responses=error_responses(403, 404, 410),
)
async def get_session_controls(
    manager: ManagerDep, session_id: FromPath[str]
) -> wire.ControlsState:
    return wire.controls_state(await manager.controls.get(session_id))


@post(
    "/api/sessions/{session_id:str}/session-controls",
    tags=["controls"],
    summary="Apply session/default controls tuple",
    status_code=200,
    exception_handlers=RESHAPED,
    responses={**error_responses(400, 403, 404, 410, 423), **TOO_LARGE},
)
async def apply_session_controls(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.ApplyControlsBody]
) -> wire.ControlsApplied:
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
        view = await manager.controls.get(session_id)
        raise reshaped(exc, "locked", **wire.controls_locked(view, scope)) from exc
    return wire.controls_applied(await manager.controls.get(session_id), change)


@get(
    "/api/sessions/{session_id:str}/settings",
    tags=["controls"],
    summary="Read session settings",
    responses=error_responses(400, 403, 404, 410),
)
async def get_settings(
    manager: ManagerDep,
    session_id: FromPath[str],
    settings_scope: ScopeQuery = "session",
    key: Annotated[str | None, QueryParameter(description="One top-level key")] = None,
) -> wire.SettingsState:
    """The whole settings object, or with `key` `{key, found, value}`."""
    found = (
        await manager.settings.get(session_id, scope=settings_scope)
        if key is None
        else await manager.settings.get_key(session_id, key, scope=settings_scope)
    )
    return wire.settings_state(session_id, settings_scope, found)


async def _locked_settings(
    manager: ManagerDep, session_id: str, scope: wire.Scope, exc: Locked
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
async def set_settings(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.SettingsBody]
) -> wire.SettingsChanged:
    """`key` + `value` sets one top-level key; `settings` + `mode` merges (or replaces)
    top-level keys. The two styles are mutually exclusive (400). 413 `settings_too_large`
    when the resulting document would exceed the limit (256 KiB by default)."""
    scope = data.get("scope", "session")
    by_key = wire.settings_by_key(data)
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
    return wire.settings_changed(session_id, scope, data.get("key"), settings)


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
    session_id: FromPath[str],
    key: FromPath[str],
    settings_scope: ScopeQuery = "session",
    actor: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
) -> wire.SettingRemoved:
    scope = settings_scope
    try:
        removed = await manager.settings.unset(
            session_id, key, scope=scope, actor=actor, source=source
        )
    except Locked as exc:
        raise await _locked_settings(manager, session_id, scope, exc) from exc
    # A second read for the answer: the core's delete says only whether the key existed.
    settings = await manager.settings.get(session_id, scope=scope)
    return wire.setting_removed(session_id, scope, key, removed, settings)


@post(
    "/api/sessions/{session_id:str}/approval-policy",
    tags=["controls"],
    summary="Set session approval policy",
    status_code=200,
    responses=error_responses(400, 403, 404, 410),
)
async def set_approval_policy(
    manager: ManagerDep, session_id: FromPath[str], data: JSONBody[wire.ApprovalPolicyBody]
) -> wire.ApprovalPolicyResult:
    """The legacy single-field setter (session-controls sets the whole tuple)."""
    change = await manager.controls.set_approval_policy(session_id, data["approvalPolicy"])
    return wire.approval_policy_result(session_id, change)


ROUTES: list[Any] = [
    get_session_controls,
    apply_session_controls,
    get_settings,
    set_settings,
    delete_setting,
    set_approval_policy,
]

"""Session settings: free-form JSON the operator and automations keep per session (or as
defaults for new sessions), next to the controls (`manager.settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from codex_manager_core.models import SettingValue
from codex_manager_core.services.context import ServiceContext
from codex_manager_core.services.controls import (
    ControlsService,
    check_choice,
    check_scope,
    clean_settings,
    settings_key,
)


class SettingsService:
    def __init__(self, ctx: ServiceContext, controls: ControlsService) -> None:
        self._ctx = ctx
        self._records = ctx.records
        self._controls = controls

    async def get(self, session_id: str, *, scope: str = "session") -> dict[str, Any]:
        """The session's settings document (or, with scope="default", the defaults')."""
        record = await self._records.get(session_id, allow_system=False)
        check_scope(scope)
        settings = (
            record.controls.settings
            if scope == "session"
            else (await self._controls.defaults()).settings
        )
        return dict(settings)

    async def get_key(self, session_id: str, key: str, *, scope: str = "session") -> SettingValue:
        """One top-level key: whether it is set, and its value."""
        key = settings_key(key)
        settings = await self.get(session_id, scope=scope)
        return SettingValue(key, key in settings, settings.get(key))

    async def set(
        self,
        session_id: str,
        key: str,
        value: Any,
        *,
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        key = settings_key(key)
        return await self._change_settings(
            session_id, scope, lambda old: {**old, key: value}, actor, source
        )

    async def update(
        self,
        session_id: str,
        settings: Mapping[str, Any],
        *,
        mode: str = "merge",
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> dict[str, Any]:
        """Merge top-level keys into the settings, or replace them all (`mode`)."""
        check_choice(mode, ("merge", "replace"), "mode")
        new = clean_settings(settings, "settings", self._ctx.config.max_settings_bytes)
        return await self._change_settings(
            session_id,
            scope,
            (lambda old: {**old, **new}) if mode == "merge" else (lambda old: new),
            actor,
            source,
        )

    async def unset(
        self,
        session_id: str,
        key: str,
        *,
        scope: str = "session",
        actor: str | None = None,
        source: str | None = None,
    ) -> bool:
        """Remove one top-level key; returns whether it existed."""
        key = settings_key(key)
        existed = key in (await self.get(session_id, scope=scope))
        if scope == "default":
            self._controls.check_defaults_editable()  # locked: refused even when there is no such key
        if existed:
            await self._change_settings(
                session_id,
                scope,
                lambda old: {k: v for k, v in old.items() if k != key},
                actor,
                source,
            )
        return existed

    async def _change_settings(
        self,
        session_id: str,
        scope: str,
        change: Any,
        actor: str | None,
        source: str | None,
    ) -> dict[str, Any]:
        record = await self._records.get(session_id, allow_system=False)
        check_scope(scope)
        if scope == "default":
            self._controls.check_defaults_editable()
            previous = await self._controls.defaults()
        else:
            previous = record.controls
        new_settings = clean_settings(
            change(dict(previous.settings)), "settings", self._ctx.config.max_settings_bytes
        )
        applied = attrs.evolve(previous, settings=new_settings)
        await self._controls.store_controls(
            record, scope, previous, applied, actor, source, event_type="session_settings_updated"
        )
        return new_settings

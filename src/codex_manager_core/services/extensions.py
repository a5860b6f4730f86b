"""`manager.extensions`: what extensions are loaded, loading them, reloading them, and the
audit of every attempt (docs/extensions.md).

The loaded extensions are one immutable `Snapshot`, swapped in whole (one attribute
assignment) by a successful load: dispatch reads `snapshot()` / `subscriptions_for(...)`
without locks. The first load (when the Manager opens, before events flow) is lenient: a
bad extension is skipped with its diagnostic (`Snapshot.skipped`). `reload`, `reload_one`
and `load_path` are strict and atomic: any error raises ReloadFailed and keeps the previous
snapshot. Every attempt leaves one audit record in the store (bounded).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import anyio.to_thread
import attrs

from codex_manager_core.config import ManagerConfig
from codex_manager_core.errors import Conflict, InvalidInput, NotFound, ReloadFailed
from codex_manager_core.extensions.api import Subscription
from codex_manager_core.extensions.discovery import (
    Candidate,
    EntryPoints,
    default_entry_points,
    discover,
    is_extension_folder,
    roots_from_env,
)
from codex_manager_core.extensions.loader import (
    IsolatedLoader,
    LoadFailed,
    conflict,
    default_isolated_loader,
    load_candidate,
)
from codex_manager_core.extensions.manifest import agent_definitions
from codex_manager_core.extensions.model import (
    Diagnostic,
    LoadedExtension,
    Origin,
    OriginType,
    Snapshot,
)
from codex_manager_core.extensions.trust import action_allowed, covers
from codex_manager_core.models import JsonObject
from codex_manager_core.ports import Clock, Store
from codex_manager_core.ports.store import AuditRecord, Batch, PutAuditRecord
from codex_manager_core.queue.agents import AgentRegistry

logger = logging.getLogger("codex_manager_core.extensions")

Write = Callable[[Batch], Awaitable[Any]]

_UNSET: Any = object()


def _failures(diagnostics: Iterable[tuple[str, Diagnostic]]) -> list[dict[str, str]]:
    return [{"name": name, "code": d.code, "message": d.message} for name, d in diagnostics]


class ExtensionsService:
    """`manager.extensions` (protocol: api.extensions.ExtensionsApi)."""

    def __init__(
        self,
        config: ManagerConfig,
        store: Store,
        clock: Clock,
        agents: AgentRegistry,
        *,
        write: Write | None = None,
        isolated: IsolatedLoader | None = _UNSET,
        entry_points: EntryPoints | None = _UNSET,
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._agents = agents
        self._write: Write = write or store.apply
        self._isolated: IsolatedLoader | None = (
            default_isolated_loader() if isolated is _UNSET else isolated
        )
        if entry_points is _UNSET:
            entry_points = default_entry_points if config.extension_entry_points else None
        self._entry_points: EntryPoints | None = entry_points
        self._snapshot = Snapshot(version="", loaded_at=clock.utcnow())
        self._orphans: list[Any] = []
        """Children of isolated extensions a swap left out, closed after it."""
        self._embedded: list[Path] = []
        self._busy = False

    # ------------------------------------------------------------------ reads

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def subscriptions_for(self, event_type: str) -> list[tuple[LoadedExtension, Subscription]]:
        """The handlers of `event_type` in dispatch order: priority, module name, index."""
        found = [
            (extension, sub)
            for extension in self._snapshot.extensions
            for sub in extension.subscriptions
            if covers(sub.event_type, event_type)
        ]
        found.sort(key=lambda pair: (pair[1].priority, pair[0].module_name, pair[1].index))
        return found

    def action_allowed(
        self, extension: LoadedExtension, action_type: str
    ) -> tuple[bool, str | None]:
        """trust.action_allowed: (allowed, warning or refusal message)."""
        return action_allowed(extension, action_type)

    async def audit(self, limit: int = 100) -> list[AuditRecord]:
        """The newest audit records, newest first."""
        return await self._store.list_extension_audit(limit)

    # ------------------------------------------------------------------ loading

    def _candidates(self) -> tuple[list[Candidate], list[tuple[str, Diagnostic]]]:
        roots = list(self._config.extension_roots)
        if self._config.extension_roots_from_env:
            roots += roots_from_env()
        return discover(
            repo_root=self._config.extensions_repo_root,
            roots=roots,
            embedded=self._embedded,
            entry_points=self._entry_points,
        )

    async def _load(
        self, candidates: Iterable[Candidate], keep: Iterable[LoadedExtension] = ()
    ) -> tuple[list[LoadedExtension], list[tuple[str, Diagnostic]]]:
        """Load `candidates` in order after the already loaded `keep`: the loaded ones,
        and (name, diagnostic) of each that failed."""
        loaded = list(keep)
        failed: list[tuple[str, Diagnostic]] = []
        for candidate in candidates:
            try:
                extension = await load_candidate(
                    candidate,
                    trust=self._config.extension_trust,
                    isolated=self._isolated,
                    import_timeout=self._config.extension_import_timeout,
                )
            except LoadFailed as exc:
                failed.append((str(candidate.root), exc.diagnostic))
                continue
            clash = conflict(loaded, extension)
            if clash is not None:
                failed.append((extension.module_name, clash))
                continue
            loaded.append(extension)
        return loaded, failed

    def _swap(
        self, extensions: Iterable[LoadedExtension], skipped: Iterable[tuple[str, Diagnostic]] = ()
    ) -> Snapshot:
        extensions = tuple(extensions)
        for extension in extensions:
            for definition in agent_definitions(extension.manifest):
                self._agents.register(definition, replace=True)
        snapshot = Snapshot(
            version=str(uuid.uuid4()),
            loaded_at=self._clock.utcnow(),
            extensions=extensions,
            skipped=tuple(skipped),
        )
        before, self._snapshot = self._snapshot, snapshot
        self._orphans.extend(_children(before.extensions, keep=extensions))
        return snapshot

    async def aclose(self) -> None:
        """End the children of process-isolated extensions (the Manager closes)."""
        self._orphans.extend(_children(self._snapshot.extensions, keep=()))
        self._snapshot = attrs.evolve(self._snapshot, extensions=())
        await self._close_orphans()

    async def _close_orphans(self) -> None:
        orphans, self._orphans = self._orphans, []
        for handle in orphans:
            try:
                await handle.close()
            except Exception:
                logger.exception("an isolated extension's process did not close cleanly")

    async def load_initial(self) -> Snapshot:
        """The first load (lenient): bad extensions are skipped, with their diagnostics in
        `Snapshot.skipped` and the log."""
        async with self._exclusive():
            before = self._snapshot.version or None
            candidates, problems = await anyio.to_thread.run_sync(self._candidates)
            loaded, failed = await self._load(candidates)
            skipped = [*problems, *failed]
            for name, diagnostic in skipped:
                logger.warning(
                    "extension %s skipped: %s: %s", name, diagnostic.code, diagnostic.message
                )
            snapshot = self._swap(loaded, skipped)
            await self._close_orphans()
            if not loaded and not skipped:
                return snapshot  # nothing found: nothing to audit (every open would write)
            await self._record(
                result="success",
                before=before,
                after=snapshot.version,
                impacted=[e.module_name for e in loaded],
                error=_summary(skipped) if skipped else None,
            )
            return snapshot

    async def reload(
        self,
        *,
        actor: str = "system",
        role: str = "system",
        origin: JsonObject | None = None,
        reload_id: str | None = None,
    ) -> Snapshot:
        """Rediscover and reload everything, strictly: any error raises ReloadFailed (with
        every extension's diagnostic) and keeps the previous snapshot. A reload while
        another runs: Conflict `reload_in_progress`. `reload_id`: the audit record's id
        (a new uuid without one); a reload refused as in progress is audited `failed`."""
        if self._busy:
            version = self._snapshot.version or None
            await self._record(
                result="failed",
                before=version,
                after=version,
                impacted=[],
                error="reload_in_progress: another reload is running",
                actor=actor,
                role=role,
                origin=origin,
                reload_id=reload_id,
            )
        async with self._exclusive():
            candidates, problems = await anyio.to_thread.run_sync(self._candidates)
            loaded, failed = await self._load(candidates)
            return await self._commit(
                loaded, [*problems, *failed], actor, role, origin, reload_id=reload_id
            )

    async def reload_one(
        self,
        name: str,
        *,
        actor: str = "system",
        role: str = "system",
        origin: JsonObject | None = None,
    ) -> Snapshot:
        """Reload one loaded extension (re-imported from its folder), strictly; the others
        stay as they are."""
        async with self._exclusive():
            current = {e.module_name: e for e in self._snapshot.extensions}
            if name not in current:
                raise NotFound(
                    f"no loaded extension {name!r}; loaded: {sorted(current) or 'none'}",
                    code="unknown_extension",
                )
            old = current[name]
            discovered, _ = await anyio.to_thread.run_sync(self._candidates)
            candidate = await anyio.to_thread.run_sync(_candidate_of, old, discovered)
            others = [e for e in self._snapshot.extensions if e.module_name != name]
            loaded, failed = await self._load([candidate], keep=others)
            if not failed:
                position = self._snapshot.extensions.index(old)
                loaded = [*others[:position], loaded[-1], *others[position:]]
            return await self._commit(loaded, failed, actor, role, origin, impacted=[name])

    async def load_path(
        self,
        path: str | Path,
        *,
        actor: str = "embedded",
        role: str = "system",
    ) -> LoadedExtension:
        """Load one extension folder (origin `embedded`), strictly; it is kept by later
        reloads. The same folder again replaces its earlier load."""
        folder, resolved = await anyio.to_thread.run_sync(_extension_folder, path)
        async with self._exclusive():
            others = [e for e in self._snapshot.extensions if e.root != resolved]
            candidate = Candidate(resolved, Origin(OriginType.EMBEDDED, str(folder)), folder.name)
            loaded, failed = await self._load([candidate], keep=others)
            await self._commit(loaded, failed, actor, role, None)
            if resolved not in self._embedded:
                self._embedded.append(resolved)
            return loaded[-1]

    async def record_denied(
        self,
        *,
        actor: str,
        role: str,
        origin: JsonObject | None = None,
        reason: str,
        reload_id: str | None = None,
    ) -> None:
        """Audit a reload the HTTP RBAC refused (result `forbidden`)."""
        version = self._snapshot.version or None
        await self._record(
            result="forbidden",
            before=version,
            after=version,
            impacted=[],
            error=reason,
            actor=actor,
            role=role,
            origin=origin,
            reload_id=reload_id,
        )

    # ------------------------------------------------------------------ internals

    async def _commit(
        self,
        loaded: list[LoadedExtension],
        failed: list[tuple[str, Diagnostic]],
        actor: str,
        role: str,
        origin: JsonObject | None,
        *,
        impacted: list[str] | None = None,
        reload_id: str | None = None,
    ) -> Snapshot:
        before = self._snapshot.version or None
        if failed:
            # What this attempt loaded is dropped: its isolated children end.
            self._orphans.extend(_children(loaded, keep=self._snapshot.extensions))
            await self._close_orphans()
            summary = _summary(failed)
            await self._record(
                result="failed",
                before=before,
                after=before,
                impacted=[name for name, _ in failed],
                error=summary,
                actor=actor,
                role=role,
                origin=origin,
                reload_id=reload_id,
            )
            raise ReloadFailed(
                f"extension reload failed, the previous extensions stay loaded: {summary}",
                _failures(failed),
            )
        snapshot = self._swap(loaded)
        await self._close_orphans()
        await self._record(
            result="success",
            before=before,
            after=snapshot.version,
            impacted=impacted if impacted is not None else [e.module_name for e in loaded],
            error=None,
            actor=actor,
            role=role,
            origin=origin,
            reload_id=reload_id,
        )
        return snapshot

    async def _record(
        self,
        *,
        result: str,
        before: str | None,
        after: str | None,
        impacted: list[str],
        error: str | None,
        actor: str = "system",
        role: str = "system",
        origin: JsonObject | None = None,
        reload_id: str | None = None,
    ) -> None:
        record = AuditRecord(
            reload_id=reload_id or str(uuid.uuid4()),
            recorded_at=self._clock.utcnow(),
            actor_role=role,
            actor_id=actor,
            result=result,
            trust_mode=self._config.extension_trust.value,
            request_origin=dict(origin or {}),
            snapshot_before=before,
            snapshot_after=after,
            error_summary=error,
            impacted_extensions=tuple(impacted),
        )
        try:
            await self._write(Batch((PutAuditRecord(record, self._config.extension_audit_keep),)))
        except Exception:  # the (re)load itself stands; the audit gap is logged
            logger.exception("extension audit record %s not written", record.reload_id)

    def _exclusive(self) -> _Exclusive:
        return _Exclusive(self)


@attrs.define
class _Exclusive:
    """One (re)load at a time: another gets Conflict `reload_in_progress` at once."""

    service: ExtensionsService

    async def __aenter__(self) -> None:
        if self.service._busy:
            raise Conflict("an extension reload is already in progress", code="reload_in_progress")
        self.service._busy = True

    async def __aexit__(self, *exc: object) -> None:
        self.service._busy = False


def _extension_folder(path: str | Path) -> tuple[Path, Path]:
    """(absolute, resolved) of an extension folder; InvalidInput when it is not one."""
    folder = Path(path).absolute()
    if not folder.is_dir() or not is_extension_folder(folder):
        raise InvalidInput(
            f"{folder} is not an extension folder (no extension.toml or extension.py)",
            issues=[{"path": ["path"], "message": "not an extension folder"}],
        )
    return folder, folder.resolve()


def _summary(failed: Iterable[tuple[str, Diagnostic]]) -> str:
    return "; ".join(f"{name}: {d.code}: {d.message}" for name, d in failed)


def _candidate_of(extension: LoadedExtension, discovered: list[Candidate]) -> Candidate:
    """The candidate an extension was loaded from (rediscovered when it is still found,
    so an installed package's module file is current)."""
    root = extension.root
    if root is not None:
        for candidate in discovered:
            if candidate.root.resolve() == root.resolve():
                return candidate
    return Candidate(
        root or Path(extension.origin.path),
        extension.origin,
        extension.module_name,
        Path(extension.entrypoint_path)
        if extension.origin.type is OriginType.INSTALLED_PACKAGE and extension.entrypoint_path
        else None,
    )


__all__ = ["ExtensionsService"]


def _children(
    extensions: Iterable[LoadedExtension], *, keep: Iterable[LoadedExtension]
) -> list[Any]:
    """The isolated children of `extensions` that `keep` does not hold."""
    kept = {id(e.isolated) for e in keep if e.isolated is not None}
    return [e.isolated for e in extensions if e.isolated is not None and id(e.isolated) not in kept]

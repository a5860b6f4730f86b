"""Write batches: the only way state changes reach a Store.

A `Batch` is a list of declarative mutations plus the events that describe them. A store
applies a batch atomically: every mutation and every event, or none (the events get their
`seq` in the same transaction, so the ledger can never say something happened that the
state does not show, or the reverse). A `TransitionRequest` (or `TransitionJob`) whose row
is not in an expected status makes the whole batch fail with `StoreConflict`, which is how
"exactly one answer wins" (or one runner takes a job) is enforced.

The mutation types live with their domain (`ports.store.<domain>`); `Mutation` is their
union, one line per domain.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs

from codex_manager_core.models import EventDraft
from codex_manager_core.ports.store.actions import ActionMutation
from codex_manager_core.ports.store.extension_audit import ExtensionAuditMutation
from codex_manager_core.ports.store.jobs import JobMutation
from codex_manager_core.ports.store.ledger import LedgerMutation
from codex_manager_core.ports.store.meta import MetaMutation
from codex_manager_core.ports.store.projects import ProjectMutation
from codex_manager_core.ports.store.requests import RequestMutation
from codex_manager_core.ports.store.sessions import SessionMutation
from codex_manager_core.ports.store.transcript import TranscriptMutation
from codex_manager_core.ports.store.turns import TurnMutation
from codex_manager_core.ports.store.workers import WorkerMutation

Mutation: TypeAlias = (
    ProjectMutation
    | SessionMutation
    | TurnMutation
    | RequestMutation
    | TranscriptMutation
    | MetaMutation
    | LedgerMutation
    | JobMutation
    | WorkerMutation
    | ActionMutation
    | ExtensionAuditMutation
)


@attrs.frozen
class Batch:
    """Mutations are applied in order (a later one sees what an earlier one did), then the
    events are appended with consecutive seqs. Besides StoreConflict, a value that cannot be
    stored (a naive datetime, a payload that is not JSON, an unknown field in a patch) fails
    the batch with TypeError/ValueError, also with nothing written."""

    mutations: tuple[Mutation, ...] = ()
    events: tuple[EventDraft, ...] = ()


__all__ = ["Batch", "Mutation"]

"""The Store port, split by domain.

Each domain module (`meta`, `projects`, `sessions`, `turns`, `requests`, `transcript`,
`ledger`, `jobs`, `workers`,
`actions`, `extension_audit`) holds that domain's mutation types, its queries and its read protocol;
`batch` assembles the `Mutation` union and `Batch`; `port` composes the `Store` protocol. A new
domain adds its own module here, one line to each of those two, and its adapter modules
(`store/sqlite/<domain>.py`, a section of `store/memory.py`). Nothing here loads an
adapter.
"""

from codex_manager_core.ports.store.actions import (
    ActionReads,
    ActionReceipt,
    PutActionReceipt,
)
from codex_manager_core.ports.store.batch import Batch, Mutation
from codex_manager_core.ports.store.errors import StoreConflict, StoreCorrupt
from codex_manager_core.ports.store.extension_audit import (
    AuditRecord,
    ExtensionAuditReads,
    PutAuditRecord,
)
from codex_manager_core.ports.store.jobs import (
    DeleteJobs,
    JobQuery,
    JobReads,
    PatchJob,
    PutJob,
    TransitionJob,
)
from codex_manager_core.ports.store.ledger import CompactDeltas, EventQuery, LedgerReads
from codex_manager_core.ports.store.meta import MetaReads, SetMeta
from codex_manager_core.ports.store.port import Store, StoreStats
from codex_manager_core.ports.store.projects import DeleteProject, ProjectReads, PutProject
from codex_manager_core.ports.store.requests import (
    PutRequest,
    RequestQuery,
    RequestReads,
    TransitionRequest,
)
from codex_manager_core.ports.store.sessions import (
    DeleteSession,
    Page,
    PatchSession,
    PutDefaultControls,
    PutSession,
    SessionQuery,
    SessionReads,
)
from codex_manager_core.ports.store.transcript import PutTranscriptEntry, TranscriptReads
from codex_manager_core.ports.store.turns import PatchTurn, PutTurn, TurnReads
from codex_manager_core.ports.store.workers import (
    DeleteWorkers,
    PutWorker,
    WorkerReads,
    WorkerRecord,
)

__all__ = [
    "ActionReads",
    "ActionReceipt",
    "AuditRecord",
    "Batch",
    "CompactDeltas",
    "DeleteJobs",
    "DeleteProject",
    "DeleteSession",
    "DeleteWorkers",
    "EventQuery",
    "ExtensionAuditReads",
    "JobQuery",
    "JobReads",
    "LedgerReads",
    "MetaReads",
    "Mutation",
    "Page",
    "PatchJob",
    "PatchSession",
    "PatchTurn",
    "ProjectReads",
    "PutActionReceipt",
    "PutAuditRecord",
    "PutDefaultControls",
    "PutJob",
    "PutProject",
    "PutRequest",
    "PutSession",
    "PutTranscriptEntry",
    "PutTurn",
    "PutWorker",
    "RequestQuery",
    "RequestReads",
    "SessionQuery",
    "SessionReads",
    "SetMeta",
    "Store",
    "StoreConflict",
    "StoreCorrupt",
    "StoreStats",
    "TranscriptReads",
    "TransitionJob",
    "TransitionRequest",
    "TurnReads",
    "WorkerReads",
    "WorkerRecord",
]

"""`import-original`: move the original Codex Manager's `.data/` into our store.

`plan_import` reads the original's files strictly (`original_files`) and compares them with
the store: the result, an `ImportPlan`, holds the counts and the store mutations; nothing
is written. `apply_import` writes the plan in ONE `Batch`, so a failure leaves nothing
half-written.

What is imported, and how:
- every project (id, name, working directory, times);
- a `SessionRecord` for every thread id the original knew (titles, project assignments,
  controls, legacy approval policies, system-owned flags, worker mappings, turn timings,
  supplemental transcript). A session is a codex thread, so the record's id IS the thread
  id. Values the original did not keep: `title` "New chat" (source default) when it had
  no title override, else the title with source `user` (an override outranks the
  runtime's name, as in the original); `cwd` the project's working directory; `archived`
  False and `status` "notLoaded" (the runtime's thread list corrects both when the manager
  next lists threads); `materialized` True (the original only persisted threads it had
  seen turns of, or ones the runtime keeps); `created_at`/`updated_at` the first and last
  turn time known, else the import time;
- controls: `sessionControlsById` (tuple + settings), else the legacy
  `sessionApprovalPolicyById` over the default tuple, else a snapshot of the defaults (as
  the original gave every new chat); `defaultSessionControls` become our defaults;
- `projectAgentSessionByKey["owner::agent"]` becomes a worker mapping, its session
  system-owned; `systemOwnedSessionIds` become system-owned sessions;
- turn timings become completed turn records; supplemental transcript rows become our
  transcript entries (in the original's sequence order).

Idempotent: whatever is already in the store is KEPT as it is, never overwritten: a
project, session, turn, worker mapping or transcript entry with the same id, and defaults
that are already set. So importing twice changes nothing the second time, and an import
never undoes what was changed in codex-manager since. Such items count as skipped
("already in the store").
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import attrs

from codex_manager_core.migrate.original_files import (
    METADATA_FILE,
    TRANSCRIPT_FILE,
    OriginalDataError,
    OriginalMetadata,
    OriginalTranscript,
    read_metadata,
    read_transcript,
)
from codex_manager_core.models import (
    Controls,
    Project,
    SessionRecord,
    TitleSource,
    TranscriptEntry,
    TurnRecord,
    TurnStatus,
    utcnow,
)
from codex_manager_core.ports.store import (
    Batch,
    Mutation,
    PutDefaultControls,
    PutProject,
    PutSession,
    PutTranscriptEntry,
    PutTurn,
    PutWorker,
    Store,
    WorkerRecord,
)

DEFAULT_TITLE = "New chat"
ALREADY = "already in the store"


@attrs.frozen
class ImportCounts:
    projects: int = 0
    sessions: int = 0
    titled: int = 0
    assigned: int = 0
    with_controls: int = 0
    with_settings: int = 0
    system_owned: int = 0
    workers: int = 0
    defaults: int = 0
    turns: int = 0
    transcript_rows: int = 0


@attrs.frozen
class ImportPlan:
    """What an import would write (`mutations`, counted in `counts`) and what it leaves out
    (`skipped`: reason -> how many)."""

    source: Path
    counts: ImportCounts
    skipped: dict[str, int]
    mutations: tuple[Mutation, ...]
    renamed: tuple[tuple[str, str], ...] = ()
    """Projects whose name was taken (names are unique): (original name, new name)."""

    @property
    def empty(self) -> bool:
        return not self.mutations

    def summary(self, *, dry_run: bool = False) -> str:
        c = self.counts
        verb = "would import" if dry_run else "imported"
        lines = [
            f"{'Dry run: ' if dry_run else ''}{verb} from {self.source}:",
            f"  projects:            {c.projects}",
            f"  sessions:            {c.sessions}",
            f"    titled:            {c.titled}",
            f"    in a project:      {c.assigned}",
            f"    with controls:     {c.with_controls}",
            f"    with settings:     {c.with_settings}",
            f"    system-owned:      {c.system_owned}",
            f"  worker mappings:     {c.workers}",
            f"  default controls:    {c.defaults}",
            f"  turn timings:        {c.turns}",
            f"  transcript rows:     {c.transcript_rows}",
        ]
        for before, after in self.renamed:
            lines.append(f"project {before!r} renamed {after!r}: the name is taken")
        if self.skipped:
            lines.append("skipped:")
            lines.extend(f"  {n} {reason}" for reason, n in sorted(self.skipped.items()))
        if self.empty:
            lines.append("nothing to change (already imported?)")
        return "\n".join(lines)


def read_original(data_dir: Path) -> tuple[OriginalMetadata, OriginalTranscript | None]:
    """Both files, strictly; OriginalDataError for a missing directory, a directory without
    either file, or a file that is corrupt or of the wrong shape."""
    if not data_dir.exists():
        raise OriginalDataError(data_dir, "", "no such directory")
    if not data_dir.is_dir():
        raise OriginalDataError(data_dir, "", "is not a directory")
    metadata = read_metadata(data_dir)
    transcript = read_transcript(data_dir)
    if metadata is None and transcript is None:
        raise OriginalDataError(
            data_dir,
            "",
            f"holds neither {METADATA_FILE} nor {TRANSCRIPT_FILE}: "
            "is it the original Codex Manager's .data directory?",
        )
    return metadata or OriginalMetadata(), transcript


async def plan_import(data_dir: Path, store: Store, *, now: datetime | None = None) -> ImportPlan:
    meta, transcript = read_original(data_dir)
    now = now or utcnow()
    skipped: Counter[str] = Counter()
    muts: list[Mutation] = []
    counts: dict[str, int] = Counter()

    # projects (names are unique, case-insensitively: a taken one gets a suffix)
    taken = {project.name.casefold() for project in await store.list_projects()}
    renamed: list[tuple[str, str]] = []
    for p in meta.projects.values():
        if await store.get_project(p.project_id) is not None:
            skipped[f"projects {ALREADY}"] += 1
            continue
        name = p.name.strip()
        number = 1
        while name.casefold() in taken:
            number += 1
            name = f"{p.name.strip()} ({number})"
        if name != p.name:
            renamed.append((p.name, name))
        taken.add(name.casefold())
        created = p.created_at or p.updated_at or now
        muts.append(
            PutProject(
                Project(p.project_id, name, p.working_directory, created, p.updated_at or created)
            )
        )
        counts["projects"] += 1

    # defaults
    defaults = meta.default_controls
    if defaults is not None:
        if await store.get_default_controls() is not None:
            skipped[f"default controls {ALREADY}"] += 1
        else:
            muts.append(PutDefaultControls(defaults))
            counts["defaults"] += 1
    template = defaults or await store.get_default_controls() or Controls()

    # workers: "owner::agent" -> thread
    workers: dict[str, tuple[str, str]] = {}
    for key, thread_id in meta.agent_sessions.items():
        owner, sep, agent = key.partition("::")
        if not sep or not owner or not agent:
            skipped["worker mappings whose key is not owner::agent"] += 1
            continue
        workers[thread_id] = (owner, agent)
        if await store.get_worker(owner, agent) is not None:
            skipped[f"worker mappings {ALREADY}"] += 1
            continue
        muts.append(PutWorker(WorkerRecord(owner, agent, thread_id, now)))
        counts["workers"] += 1

    # sessions
    threads = transcript.by_thread if transcript is not None else {}
    ids: dict[str, None] = {}
    for source in (
        meta.titles,
        meta.session_project,
        meta.session_controls,
        meta.legacy_approval,
        workers,
        meta.system_owned,
        meta.turn_timings,
        threads,
    ):
        ids.update(dict.fromkeys(source))
    known_projects = set(meta.projects)
    for sid in ids:
        if not sid.strip():
            skipped["entries with an empty session id"] += 1
            continue
        existing = await store.get_session(sid)
        if existing is None and await store.get_tombstone(sid) is not None:
            skipped["sessions deleted in codex-manager"] += 1
            continue
        timings = meta.turn_timings.get(sid, {})
        if existing is not None:
            skipped[f"sessions {ALREADY}"] += 1
        else:
            project_id = meta.session_project.get(sid)
            if (
                project_id is not None
                and project_id not in known_projects
                and await store.get_project(project_id) is None
            ):
                skipped["assignments to a project the original does not have"] += 1
                project_id = None
            controls = meta.session_controls.get(sid)
            if controls is None and sid in meta.legacy_approval:
                controls = attrs.evolve(
                    template,
                    approval_policy=meta.legacy_approval[sid],  # type: ignore[arg-type]
                )
            has_controls = controls is not None
            controls = controls or template
            system = sid in meta.system_owned or sid in workers
            times = [t.started_at for t in timings.values()] + [
                t.completed_at for t in timings.values() if t.completed_at is not None
            ]
            title = meta.titles.get(sid)
            project = meta.projects.get(project_id) if project_id else None
            muts.append(
                PutSession(
                    SessionRecord(
                        session_id=sid,
                        title=title or DEFAULT_TITLE,
                        title_source=TitleSource.USER if title else TitleSource.DEFAULT,
                        cwd=project.working_directory if project else None,
                        project_id=project_id,
                        archived=False,
                        system_owned=system,
                        materialized=True,
                        status="notLoaded",
                        model=controls.model,
                        preview="",
                        created_at=min(times, default=now),
                        updated_at=max(times, default=now),
                        controls=controls,
                    )
                )
            )
            counts["sessions"] += 1
            counts["titled"] += bool(title)
            counts["assigned"] += project_id is not None
            counts["with_controls"] += has_controls
            explicit = meta.session_controls.get(sid)
            counts["with_settings"] += bool(explicit is not None and explicit.settings)
            counts["system_owned"] += system
        for turn_id, timing in timings.items():
            if not turn_id.strip():
                skipped["turn timings with an empty turn id"] += 1
                continue
            if await store.get_turn(turn_id) is not None:
                skipped[f"turn timings {ALREADY}"] += 1
                continue
            status = TurnStatus.COMPLETED if timing.completed_at else TurnStatus.INTERRUPTED
            muts.append(
                PutTurn(
                    TurnRecord(
                        turn_id,
                        sid,
                        status,
                        timing.started_at,
                        timing.completed_at or timing.started_at,
                    )
                )
            )
            counts["turns"] += 1
        rows = threads.get(sid, ())
        if rows:
            have = {e.message_id for e in await store.list_transcript_entries(sid)}
            for row in rows:
                if row.message_id in have:
                    skipped[f"transcript rows {ALREADY}"] += 1
                    continue
                have.add(row.message_id)
                muts.append(
                    PutTranscriptEntry(
                        sid,
                        TranscriptEntry(
                            message_id=row.message_id,
                            turn_id=row.turn_id,
                            role=row.role,
                            type=row.type,
                            content=row.content,
                            status=row.status,
                            details=row.details,
                            started_at=row.started_at,
                            completed_at=row.completed_at,
                            anchor_item_id=row.anchor_item_id,
                        ),
                    )
                )
                counts["transcript_rows"] += 1
    return ImportPlan(
        source=data_dir,
        counts=ImportCounts(**counts),
        skipped=dict(skipped),
        mutations=tuple(muts),
        renamed=tuple(renamed),
    )


async def apply_import(plan: ImportPlan, store: Store) -> None:
    """Write the plan in one transaction (nothing, if it is empty)."""
    if plan.mutations:
        await store.apply(Batch(mutations=plan.mutations))


async def import_original(data_dir: Path, store: Store, *, dry_run: bool = False) -> ImportPlan:
    """Plan, and unless `dry_run`, apply. The store must be open."""
    plan = await plan_import(data_dir, store)
    if not dry_run:
        await apply_import(plan, store)
    return plan


__all__ = [
    "ImportCounts",
    "ImportPlan",
    "OriginalDataError",
    "apply_import",
    "import_original",
    "plan_import",
    "read_original",
]

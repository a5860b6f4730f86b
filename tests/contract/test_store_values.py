"""Store contract, values: what a record may hold and what `apply()` refuses.

Both adapters (the `store` fixture of test_store_contract: MemoryStore and SqliteStore, on
asyncio and trio) encode records through the same row codec; these cases pin what that
codec promises: a value of the wrong type fails the whole batch with an error naming the
record and field, and every kind of value comes back as it was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from codex_manager_core.models import Controls, Project, RequestStatus, Tombstone
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import (
    Batch,
    DeleteSession,
    Mutation,
    PatchSession,
    PutDefaultControls,
    PutProject,
    PutRequest,
    PutSession,
    PutTranscriptEntry,
    PutTurn,
    SetMeta,
    TransitionRequest,
)
from tests.contract.test_store_contract import (
    at,
    draft,
    entry,
    everything,
    project,
    request,
    session,
    store,
    turn,
)

__all__ = ["store"]  # the adapters fixture, shared with the main contract suite

BAD_VALUES: list[tuple[str, Any, type[Exception], str]] = [
    ("session bool", PutSession(session("s1", archived="yes")), TypeError, r"session\.archived"),
    ("session text", PutSession(session("s1", title=3)), TypeError, r"session\.title"),
    (
        "session naive datetime",
        PutSession(session("s1", created_at=datetime(2026, 1, 1))),
        ValueError,
        r"session\.created_at.*timezone",
    ),
    (
        "session controls not JSON",
        PutSession(session("s1", controls=Controls(settings={"when": at(0)}))),
        TypeError,
        r"session\.controls.*JSON",
    ),
    (
        "session tools not a sequence",
        PutSession(session("s1", dynamic_tools={"name": "x"})),
        TypeError,
        r"session\.dynamic_tools",
    ),
    ("turn enum", PutTurn(turn("u1", status="bogus")), ValueError, r"turn\.status.*TurnStatus"),
    (
        "request params not JSON",
        PutRequest(request("r1", params={"ids": {1, 2}})),
        TypeError,
        r"request\.params.*JSON",
    ),
    ("request rpc id", PutRequest(request("r1", rpc_id=1.5)), TypeError, r"request\.rpc_id"),
    ("request generation", PutRequest(request("r1", generation="1")), TypeError, "generation"),
    (
        "project name",
        PutProject(attrs.evolve(project("p1", "Alpha"), name=None)),
        TypeError,
        r"project\.name",
    ),
    (
        "transcript content",
        PutTranscriptEntry("t1", entry("m1", content=None)),
        TypeError,
        r"transcript\.content",
    ),
    ("transcript thread", PutTranscriptEntry(None, entry("m1")), TypeError, "thread_id"),  # type: ignore[arg-type]
    (
        "tombstone naive datetime",
        DeleteSession(Tombstone("s1", "gone", datetime(2026, 1, 1))),
        ValueError,
        r"tombstone\.deleted_at.*timezone",
    ),
    ("default controls", PutDefaultControls("on-request"), TypeError, "Controls"),  # type: ignore[arg-type]
    ("a record of another type", PutSession(turn("u1")), TypeError, "SessionRecord"),  # type: ignore[arg-type]
    ("not a mutation", "PutSession", TypeError, "not a store mutation"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("mutation", "error", "match"),
    [pytest.param(m, e, r, id=name) for name, m, e, r in BAD_VALUES],
)
async def test_a_value_that_cannot_be_stored_fails_the_batch_naming_its_field(
    store: Store, mutation: Mutation, error: type[Exception], match: str
) -> None:
    await store.apply(Batch(mutations=(PutSession(session("s1")),)))
    before = await everything(store)
    batch = Batch(mutations=(SetMeta("k", "v"), mutation), events=(draft(),))
    with pytest.raises(error, match=match):
        await store.apply(batch)
    assert await everything(store) == before
    assert await store.get_meta("k") is None


@pytest.mark.anyio
async def test_a_patch_value_of_the_wrong_type_names_its_field(store: Store) -> None:
    await store.apply(Batch(mutations=(PutSession(session("s1")), PutRequest(request("r1")))))
    with pytest.raises(TypeError, match=r"session\.preview"):
        await store.apply(Batch(mutations=(PatchSession("s1", {"preview": 12}),)))
    bad = TransitionRequest("r1", (RequestStatus.PENDING,), RequestStatus.RESOLVED, {"reason": 1})
    with pytest.raises(TypeError, match=r"request\.reason"):
        await store.apply(Batch(mutations=(bad,)))
    assert await store.get_session("s1") == session("s1")
    assert await store.get_request("r1") == request("r1")


@pytest.mark.anyio
async def test_every_kind_of_value_reads_back_as_written(store: Store) -> None:
    odd_controls = Controls(
        model=None,
        approval_policy="never",
        network_access="enabled",
        filesystem_sandbox="danger-full-access",
        settings={"nested": {"list": [1, 2.5, None, True, "é"]}, "empty": {}},
    )
    records: list[Mutation] = [
        PutSession(
            session(
                "s1",
                cwd=None,
                model=None,
                archived=True,
                system_owned=True,
                controls=odd_controls,
                dynamic_tools=(),
                runtime_thread_id="t-runtime",
                model_provider="openai",
            )
        ),
        PutRequest(request("r-str", rpc_id="abc", thread_id=None, resolution=None)),
        PutRequest(
            request(
                "r-int",
                rpc_id=0,
                status=RequestStatus.RESOLVED,
                resolved_at=at(5),
                resolution={"decision": "accept", "n": [1]},
                reason="answered",
                expires_at=at(60),
            )
        ),
        PutTurn(turn("u1", completed_at=at(3), final_text="", error=None)),
        PutTranscriptEntry("s1", entry("m1", details=None, started_at=None, status="error")),
        PutProject(Project("p1", "Ünïcode", None, at(0), at(0))),
        PutDefaultControls(odd_controls),
    ]
    await store.apply(Batch(mutations=tuple(records)))
    assert await store.get_session("s1") == records[0].session  # type: ignore[union-attr]
    assert await store.get_request("r-str") == records[1].request  # type: ignore[union-attr]
    assert await store.get_request("r-int") == records[2].request  # type: ignore[union-attr]
    assert await store.get_turn("u1") == records[3].turn  # type: ignore[union-attr]
    assert await store.list_transcript_entries("s1") == [records[4].entry]  # type: ignore[union-attr]
    assert await store.get_project("p1") == records[5].project  # type: ignore[union-attr]
    assert await store.get_default_controls() == odd_controls
    stored = await store.get_request("r-str")
    assert stored is not None
    assert type(stored.rpc_id) is str
    read = await store.get_session("s1")
    assert read is not None
    assert read.created_at.tzinfo is UTC

"""The ServerApi contract: the embedded Manager and the RemoteManager give the same typed
results and raise the same errors, over the same state.

One server per module (server_api_fixtures: real uvicorn, the real codex binary, a
ScriptedModel, on asyncio in its own thread); each test does the same calls both ways and
compares the records (attrs equality: every field, times to the microsecond). The client
side runs on asyncio and trio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from codex_manager_client import RemoteManager
from codex_manager_core import (
    Conflict,
    Event,
    Gone,
    InvalidInput,
    Manager,
    NotFound,
    RequestStatus,
    TurnStatus,
)
from tests.contract.server_api_fixtures import (
    APPROVE,
    ASK,
    CALL,
    OPERATOR_TOOL,
    Embedded,
    Server,
    start_server,
)
from tests.integration.manager_fixtures import next_event
from tests.user_input import PLAN_MODE

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 20.0  # bound for anything the runtime does in well under a second


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("server-api"))


@pytest.fixture
async def remote(server: Server) -> AsyncIterator[RemoteManager]:
    async with RemoteManager(server=server.url, timeout=WAIT) as manager:
        yield manager


@pytest.fixture
def embedded(server: Server) -> Embedded:
    return Embedded(server)


@pytest.fixture(params=["embedded", "remote"])
def api(request: pytest.FixtureRequest, server: Server) -> Any:
    """Each way in, for the tests that only check what one side raises or returns."""
    if request.param == "embedded":
        return Embedded(server)
    return request.getfixturevalue("remote")


async def until_event(server: Server, since: int, types: list[str], thread_id: str) -> Event:
    """The first event of one of `types` about `thread_id` after `since` (in the server's
    loop: event-driven, bounded by WAIT)."""

    async def wait(manager: Manager) -> Event:
        async with manager.events.subscribe(
            thread_ids=[thread_id], types=types, since=since
        ) as events:
            return await next_event(events, lambda _: True, timeout=WAIT, message=str(types))

    return await anyio.to_thread.run_sync(server.portal.call, wait, server.manager)


async def same_record(embedded: Embedded, remote: RemoteManager, sid: str) -> None:
    """Both ways read the same record. The runtime's notifications (thread status after an
    archive, a turn's end) may touch it between two reads, only ever forward: the embedded
    read equals the remote read before it or the one after it."""
    before = await remote.sessions.get(sid)
    seen = await embedded.sessions.get(sid)
    after = await remote.sessions.get(sid)
    assert seen in (before, after), f"{seen} is neither {before} nor {after}"


# ---------------------------------------------------------------------- sessions


async def test_sessions_read_and_change_the_same_way(
    embedded: Embedded, remote: RemoteManager
) -> None:
    created = await remote.sessions.create(title="contract one", approval_policy="never")
    sid = created.session_id
    assert await embedded.sessions.get(sid) == created
    assert await remote.sessions.get(sid) == created

    renamed = await embedded.sessions.rename(sid, "renamed both ways")
    assert await remote.sessions.get(sid) == renamed
    assert (await remote.sessions.rename(sid, "renamed again")).title == "renamed again"
    await same_record(embedded, remote, sid)

    listed_remote = await remote.sessions.list(limit=200)
    listed_embedded = await embedded.sessions.list(limit=200)
    assert listed_remote == listed_embedded
    assert sid in {record.session_id for record in listed_remote.items}

    detail_remote = await remote.sessions.detail(sid)
    detail_embedded = await embedded.sessions.detail(sid)
    assert detail_remote.record == detail_embedded.record
    assert detail_remote.transcript == detail_embedded.transcript

    forked = await remote.sessions.fork(sid, title="the fork")
    assert await embedded.sessions.get(forked.session_id) == forked


async def test_a_turn_and_its_transcript_read_the_same_way(
    server: Server, embedded: Embedded, remote: RemoteManager
) -> None:
    record = await remote.sessions.create(title="turns")
    sid = record.session_id
    handle = await remote.turns.send(sid, "hello contract")
    assert handle.session_id == sid
    assert 0 < handle.since_seq <= server.manager.events.last_seq
    result = await embedded.turns.wait(sid, handle.turn_id, timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED
    assert result.final_text == "reply to: hello contract"

    assert await remote.transcript.get(sid) == await embedded.transcript.get(sid)
    assert await remote.transcript.get(sid, limit=None) == await embedded.transcript.get(
        sid, limit=None
    )
    await same_record(embedded, remote, sid)

    entry = {
        "messageId": "note-1",
        "turnId": handle.turn_id,
        "role": "system",
        "type": "note",
        "content": "a note from the contract",
    }
    upserted = await remote.transcript.upsert(sid, entry)
    assert upserted.message_id == "note-1"
    page = await embedded.transcript.get(sid, limit=None)
    assert any(row.get("messageId") == "note-1" for row in page.entries)

    waited = await remote.turns.wait(sid, handle.turn_id, timeout=WAIT, since=handle.since_seq)
    assert waited == result
    again = await remote.turns.send_and_wait(sid, "second", timeout=WAIT)
    assert again.final_text == "reply to: second"
    assert again == await embedded.turns.wait(sid, again.turn_id, timeout=WAIT)
    async with remote.events.subscribe(thread_ids=[sid], since=handle.since_seq) as stream:
        first = await anext(aiter(stream))
    (stored,) = await embedded.events.read(since=handle.since_seq, thread_ids=[sid], limit=1)
    assert (first.seq, first.type, first.payload) == (stored.seq, stored.type, stored.payload)

    events_remote = await remote.events.read(since=handle.since_seq, thread_ids=[sid])
    events_embedded = await embedded.events.read(since=handle.since_seq, thread_ids=[sid])
    assert events_remote == events_embedded
    assert events_remote, "the turn wrote events"
    assert await remote.events.read(
        since=handle.since_seq, types=["app_server.turn"], limit=5
    ) == await embedded.events.read(since=handle.since_seq, types=["app_server.turn"], limit=5)


async def test_archive_and_delete_the_same_way(embedded: Embedded, remote: RemoteManager) -> None:
    record = await remote.sessions.create(title="to archive")
    sid = record.session_id
    with pytest.raises(Conflict):  # no rollout before the first message
        await remote.sessions.archive(sid)
    handle = await remote.turns.send(sid, "materialize")
    await embedded.turns.wait(sid, handle.turn_id, timeout=WAIT)

    archived = await remote.sessions.archive(sid)
    assert archived.archived
    await same_record(embedded, remote, sid)
    assert await remote.sessions.list(archived=True) == await embedded.sessions.list(archived=True)
    unarchived = await embedded.sessions.unarchive(sid)
    assert not unarchived.archived
    await same_record(embedded, remote, sid)

    deleted = await remote.sessions.delete(sid)
    assert (deleted.session_id, deleted.title) == (sid, "to archive")
    for side in (embedded, remote):
        with pytest.raises(Gone):
            await side.sessions.get(sid)


# ---------------------------------------------------------------------- projects


async def test_projects_the_same_way(
    server: Server, embedded: Embedded, remote: RemoteManager
) -> None:
    directory = server.host.root / "work"
    project = await remote.projects.create("Contract project", str(directory))
    assert await embedded.projects.get(project.project_id) == project
    assert await remote.projects.get(project.project_id) == project
    assert await remote.projects.list() == await embedded.projects.list()

    renamed = await remote.projects.rename(project.project_id, "Contract renamed")
    assert renamed.working_directory == str(directory)  # left out: kept
    assert await embedded.projects.get(project.project_id) == renamed
    cleared = await embedded.projects.rename(project.project_id, "Contract renamed", None)
    assert await remote.projects.get(project.project_id) == cleared

    record = await remote.sessions.create(title="in a project")
    await remote.projects.assign_session(record.session_id, project.project_id)
    assigned = await embedded.sessions.get(record.session_id)
    assert assigned.project_id == project.project_id
    assert await remote.sessions.list(project_id=project.project_id) == (
        await embedded.sessions.list(project_id=project.project_id)
    )
    assert await remote.projects.agent_sessions(project.project_id) == (
        await embedded.projects.agent_sessions(project.project_id)
    )

    moved = await remote.projects.move_sessions(project.project_id, "unassigned")
    assert (moved.project_id, moved.destination, moved.moved) == (
        project.project_id,
        "unassigned",
        1,
    )
    assert (await remote.sessions.get(record.session_id)).project_id is None
    deleted = await remote.projects.delete_sessions(project.project_id)
    assert (deleted.deleted, deleted.skipped) == (0, 0)
    await remote.projects.delete(project.project_id)
    for side in (embedded, remote):
        with pytest.raises(NotFound):
            await side.projects.get(project.project_id)


# ---------------------------------------------------------------------- controls, settings


async def test_controls_and_settings_the_same_way(
    embedded: Embedded, remote: RemoteManager
) -> None:
    sid = (await remote.sessions.create(title="controls")).session_id
    assert await remote.controls.get(sid) == await embedded.controls.get(sid)

    change = await remote.controls.apply(sid, approval_policy="never", settings={"a": 1})
    assert change.status == "ok"
    assert change.applied.approval_policy == "never"
    assert await remote.controls.get(sid) == await embedded.controls.get(sid)
    again = await embedded.controls.apply(sid, approval_policy="never", settings={"a": 1})
    assert again.status == "unchanged"
    set_remote = await remote.controls.set_approval_policy(sid, "untrusted")
    set_embedded = await embedded.controls.set_approval_policy(sid, "untrusted")
    assert (set_remote.status, set_embedded.status) == ("ok", "unchanged")
    assert set_remote.applied == set_embedded.applied == set_embedded.previous

    assert await remote.settings.set(sid, "b", {"x": [1, 2]}) == await embedded.settings.get(sid)
    assert await remote.settings.get(sid) == {"a": 1, "b": {"x": [1, 2]}}
    assert await remote.settings.get_key(sid, "b") == await embedded.settings.get_key(sid, "b")
    assert await remote.settings.get_key(sid, "zz") == await embedded.settings.get_key(sid, "zz")
    merged = await remote.settings.update(sid, {"c": "three"})
    assert merged == await embedded.settings.get(sid) == {"a": 1, "b": {"x": [1, 2]}, "c": "three"}
    assert await remote.settings.unset(sid, "a") is True
    assert await embedded.settings.unset(sid, "a") is False
    assert await remote.settings.update(sid, {"only": True}, mode="replace") == {"only": True}
    assert await embedded.settings.get(sid) == {"only": True}
    assert await remote.settings.get(sid, scope="default") == await embedded.settings.get(
        sid, scope="default"
    )
    assert await remote.session(sid).settings.get() == {"only": True}


# ---------------------------------------------------------------------- approvals


async def test_a_real_approval_lists_and_decides_the_same_way(
    server: Server, embedded: Embedded, remote: RemoteManager
) -> None:
    sid = (
        await remote.sessions.create(
            title="approvals", approval_policy="on-request", filesystem_sandbox="read-only"
        )
    ).session_id
    handle = await remote.turns.send(sid, f"{APPROVE} run it")
    asked = await until_event(server, handle.since_seq, ["approval"], sid)
    approval_id = asked.payload["approvalId"]

    pending_remote = await remote.approvals.list(sid)
    assert pending_remote == await embedded.approvals.list(sid)
    assert [request.request_id for request in pending_remote] == [approval_id]
    assert await remote.session(sid).approvals.list() == pending_remote
    assert await remote.tool_input.list(sid) == await embedded.tool_input.list(sid) == []
    assert await remote.tool_calls.list(sid) == await embedded.tool_calls.list(sid) == []

    decided = await remote.approvals.decide(approval_id, "accept")
    assert decided.status is not RequestStatus.PENDING
    assert decided == await embedded.approvals.get(approval_id)
    with pytest.raises(Conflict):
        await remote.approvals.decide(approval_id, "decline")
    result = await embedded.turns.wait(sid, handle.turn_id, timeout=WAIT)
    assert result.status is TurnStatus.COMPLETED
    assert await remote.approvals.list(sid) == []


async def test_a_question_and_a_tool_call_answer_the_same_way(
    server: Server, embedded: Embedded, remote: RemoteManager
) -> None:
    asked_sid = (await remote.sessions.create(title="question")).session_id
    handle = await remote.turns.send(asked_sid, f"{ASK} now", collaboration_mode=PLAN_MODE)
    asked = await until_event(server, handle.since_seq, ["tool_user_input_requested"], asked_sid)
    pending = await remote.tool_input.list(asked_sid)
    assert pending == await embedded.tool_input.list(asked_sid)
    assert [request.request_id for request in pending] == [asked.payload["requestId"]]
    answered = await remote.tool_input.answer(
        pending[0].request_id, answers={"color": {"answers": ["Blue"]}}
    )
    assert answered == await embedded.requests.get(pending[0].request_id)
    assert (await embedded.turns.wait(asked_sid, handle.turn_id, timeout=WAIT)).status is (
        TurnStatus.COMPLETED
    )

    called = await remote.sessions.create(title="tool call", dynamic_tools=[OPERATOR_TOOL])
    assert called.dynamic_tools == ({"type": "function", **OPERATOR_TOOL},)
    assert await embedded.sessions.get(called.session_id) == called
    handle = await remote.turns.send(called.session_id, f"{CALL} now")
    call = await until_event(server, handle.since_seq, ["tool_call_requested"], called.session_id)
    pending = await remote.tool_calls.list(called.session_id)
    assert pending == await embedded.tool_calls.list(called.session_id)
    assert [request.request_id for request in pending] == [call.payload["requestId"]]
    responded = await remote.tool_calls.respond(pending[0].request_id, text="ship it")
    assert responded == await embedded.requests.get(pending[0].request_id)
    result = await embedded.turns.wait(called.session_id, handle.turn_id, timeout=WAIT)
    assert result.final_text == f"reply to: {CALL} now"


# ---------------------------------------------------------------------- jobs, health


async def test_jobs_health_and_runtime_reads(embedded: Embedded, remote: RemoteManager) -> None:
    assert await remote.jobs.list() == await embedded.jobs.list()
    health = await remote.health()
    assert health.runtime.state == (await embedded.health()).runtime.state
    assert health.data_dir is not None
    models_remote = await remote.runtime.list_models()
    models_embedded = await embedded.runtime.list_models()
    assert isinstance(models_remote, dict)
    assert isinstance(models_embedded, dict)
    assert models_remote["data"] == models_embedded["data"]


async def test_a_suggestion_job_waits_and_reads_the_same_way(
    embedded: Embedded, remote: RemoteManager
) -> None:
    sid = (await remote.sessions.create(title="suggest")).session_id
    handle = await remote.turns.send(sid, "something to follow up")
    await embedded.turns.wait(sid, handle.turn_id, timeout=WAIT)
    job = await remote.suggestions.enqueue(sid, draft="next")
    assert job.session_id == sid
    ended = await remote.jobs.wait(job.job_id, timeout=WAIT)
    assert ended.state.value in {"completed", "failed", "canceled"}
    assert ended == await embedded.jobs.get(job.job_id)
    assert await remote.jobs.get(job.job_id) == ended
    page = await remote.jobs.list(owner=job.project_id)
    assert page == await embedded.jobs.list(owner=job.project_id)
    state = await remote.suggestions.upsert(sid, "key-1", "complete", suggestion="do this")
    assert state == await embedded.suggestions.get(sid, "key-1")


# ---------------------------------------------------------------------- errors


async def test_errors_are_the_core_errors_both_ways(api: Any) -> None:
    with pytest.raises(NotFound):
        await api.sessions.get("no-such-session")
    with pytest.raises(NotFound):
        await api.jobs.get("no-such-job")
    with pytest.raises(NotFound):
        await api.projects.rename("no-such-project", "x")
    sid = (await api.sessions.create(title="errors")).session_id
    with pytest.raises(InvalidInput):
        await api.controls.apply(sid, approval_policy="sometimes")
    with pytest.raises(InvalidInput):
        await api.sessions.rename(sid, "")
    with pytest.raises(Conflict):
        await api.turns.interrupt(sid)
    await api.sessions.delete(sid)
    with pytest.raises(Gone):
        await api.sessions.rename(sid, "after delete")


async def test_a_server_that_is_not_there_is_a_transport_error() -> None:
    from codex_manager_client.errors import TransportError

    async with RemoteManager(server="http://127.0.0.1:9", timeout=2.0) as manager:
        with pytest.raises(TransportError, match=r"127\.0\.0\.1:9/api/sessions"):
            await manager.sessions.list()


# ---------------------------------------------------------------------- the blocking facade


def test_the_blocking_remote_opens_calls_and_closes_in_separate_steps(server: Server) -> None:
    from codex_manager_client import connect
    from codex_manager_core.blocking import Closed

    cm = connect(server.url, timeout=WAIT)  # "cell 1"
    record = cm.sessions.create(title="blocking remote")  # "cell 2"
    embedded = server.portal.call(server.manager.sessions.get, record.session_id)
    assert cm.sessions.get(record.session_id) == embedded == record
    assert cm.session(record.session_id).get() == record
    assert cm.controls.get(record.session_id) == server.portal.call(
        server.manager.controls.get, record.session_id
    )
    with pytest.raises(NotFound):
        cm.sessions.get("no-such-session")
    assert isinstance(cm.extensions.list(), dict)  # untyped: a group outside ServerApi
    cm.close()  # "cell 3"
    cm.close()
    with pytest.raises(Closed):
        cm.sessions.list()

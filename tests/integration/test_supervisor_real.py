"""The supervisor extension on the REAL codex binary (offline): one ScriptedModel plays both
the user's model (it asks codex to apply a patch: `apply_patch` through `exec_command`,
which under `on-request` with a read-only sandbox makes codex send
`item/fileChange/requestApproval`) and the supervisor's worker (it answers the
instructions' action intents, judging the risk the test gives it and deciding only as the
instruction's policy lines allow). Requests are told apart by their text.

Shown: auto-approve at low risk -> the approval accepted by the job (`action_executed` and
`approval_resolved` name `job:<id>`), the explainability row and the turn review in the
transcript; auto-reject at high risk -> declined; settings changed over HTTP
(`POST /api/sessions/{id}/settings`) decide the next approval; a new session renamed after its first
message.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from codex_manager_core import Manager
from codex_manager_core.models import Event
from codex_manager_core.queue.agents import DEFAULT_ORIENTATION
from codex_manager_core.testing import Reply, Step
from codex_manager_core.testing.scripted_model import RecordedRequest, exec_command
from codex_manager_http.app import create_app
from codex_manager_http.settings import ServerSettings
from tests.integration.manager_fixtures import next_event, running_manager
from tests.unit.supervisor_fixtures import install_supervisor

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 90.0
PATCH = "*** Begin Patch\n*** Add File: {name}\n+hello\n*** End Patch\n"
REVIEW_MARK = "A coding agent asks to apply file changes"
RENAME_MARK = "Give it a short title"
TURN_REVIEW_MARK = "Review it as the project's supervisor"
RISKS = ("low", "med", "high")


def templates(text: str) -> list[dict[str, Any]]:
    """The intent templates the instruction lists (lines `- {json}  (...)`)."""
    decoder = json.JSONDecoder()
    found = []
    for line in text.splitlines():
        if line.startswith("- {"):
            intent, _ = decoder.raw_decode(line[2:])
            found.append(intent)
    return found


def decision(text: str, risk: str) -> str | None:
    """What the instruction's policy allows at `risk` (its first matching rule)."""
    level = RISKS.index(risk)
    for verb, bound, action in re.findall(r"risk at or (above|below) (\w+): (\w+)", text):
        limit = RISKS.index(bound)
        if (verb == "above" and level >= limit) or (verb == "below" and level <= limit):
            return action
    return None


class Model:
    """The scripted model of both sides; `risk` is what the supervisor judges next."""

    def __init__(self) -> None:
        self.risk = "low"
        self.reviews = 0
        self.renames = 0
        self.saw_diff: list[bool] = []

    def __call__(self, request: RecordedRequest) -> Step:
        text = request.last_user_text or ""
        if DEFAULT_ORIENTATION[:40] in text:
            return Reply("ready")
        if REVIEW_MARK in text:
            # The instruction carries the diff (from the fileChange item as it started).
            self.saw_diff.append("+hello" in text or "hello\\n" in text)
            self.reviews += 1
            return Reply(self.review(text))
        if TURN_REVIEW_MARK in text:
            return Reply(self.fill(text, "The turn added one file; nothing risky."))
        if RENAME_MARK in text:
            self.renames += 1
            [intent] = templates(text)
            intent["payload"]["title"] = "Greeting file"
            return Reply(json.dumps({"kind": "action_intents", "intents": [intent]}))
        match = re.match(r"write (\S+)", text)
        if match is None:
            return Reply("ok")
        call_id = f"call_{match.group(1).replace('.', '_')}"
        if request.output_for(call_id) is None:
            patch = PATCH.format(name=match.group(1))
            return exec_command(f"apply_patch <<'EOF'\n{patch}EOF", escalate=False, call_id=call_id)
        return Reply("done")

    def fill(self, text: str, content: str) -> str:
        intents = []
        for intent in templates(text):
            if intent["kind"] == "transcript.upsert":
                intent["payload"]["content"] = content
                details = intent["payload"].get("details") or {}
                if "risk" in details:
                    details["risk"] = self.risk
                intents.append(intent)
        return json.dumps({"kind": "action_intents", "intents": intents})

    def review(self, text: str) -> str:
        document = json.loads(self.fill(text, f"Adds a greeting file; risk {self.risk}."))
        action = decision(text, self.risk)
        for intent in templates(text):
            payload = intent["payload"]
            if action in ("accept", "decline") and intent["kind"] == "approval.decide":
                payload["decision"] = action
                document["intents"].append(intent)
            elif action == "steer" and intent["kind"] == "turn.steer.create":
                payload["input"] = "Do not add files."
                document["intents"].append(intent)
        return json.dumps(document)


async def approval_of(manager: Manager, session: str, file: str) -> tuple[str, str]:
    """Send `write <file>` and wait for its file-change approval: (turn id, approval id)."""
    events = manager.events.subscribe(thread_ids=[session], types=["approval"])
    try:
        turn = await manager.turns.send(session, f"write {file}")
        approval = await next_event(
            events,
            lambda e: e.type == "approval" and e.payload.get("turnId") == turn.turn_id,
            timeout=WAIT,
            message="the file-change approval",
        )
    finally:
        events.close()
    assert approval.payload["method"] == "item/fileChange/requestApproval"
    return turn.turn_id, approval.payload["approvalId"]


async def resolution(manager: Manager, session: str, turn_id: str, approval_id: str) -> Event:
    """The approval's `approval_resolved` event, once the turn it held has ended."""
    await manager.turns.wait(session, turn_id, timeout=WAIT)
    events = await manager.events.read(
        thread_ids=[session], types=["approval_resolved"], limit=1000
    )
    [resolved] = [e for e in events if e.payload.get("approvalId") == approval_id]
    return resolved


def settings(**auto: str) -> dict[str, Any]:
    actions = {name: {"enabled": True, "threshold": level} for name, level in auto.items()}
    return {
        "fileChange": {"diffExplainability": True, "autoActions": actions},
        "turnReview": {"enabled": True},
    }


async def test_supervisor_decides_file_changes_by_the_session_settings(tmp_path: Path) -> None:
    model = Model()
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        install_supervisor(manager)
        session = (
            await manager.sessions.create(
                approval_policy="on-request", filesystem_sandbox="read-only"
            )
        ).session_id
        await manager.settings.set(session, "supervisor", settings(approve="low", reject="high"))

        # Low risk, approve at low: accepted by the supervisor's job.
        turn_1, approval_1 = await approval_of(manager, session, "a.txt")
        resolved_1 = await resolution(manager, session, turn_1, approval_1)
        assert (env.workdir / "a.txt").read_text() == "hello\n"

        # Settings changed over HTTP, as the web UI's Session Controls do: reject at low
        # now (reject wins over approve at low).
        app = create_app(manager, ServerSettings())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            answer = await http.post(
                f"/api/sessions/{session}/settings",
                json={"key": "supervisor", "value": settings(approve="low", reject="low")},
            )
        assert answer.status_code == 200, answer.text
        turn_2, approval_2 = await approval_of(manager, session, "b.txt")
        resolved_2 = await resolution(manager, session, turn_2, approval_2)

        # High risk with reject at high (approve at low does not match): declined.
        model.risk = "high"
        await manager.settings.set(session, "supervisor", settings(approve="low", reject="high"))
        turn_3, approval_3 = await approval_of(manager, session, "c.txt")
        resolved_3 = await resolution(manager, session, turn_3, approval_3)

        executed = await manager.events.read(
            thread_ids=[session], types=["action_executed"], limit=1000
        )
        jobs = {
            job.payload["approvalId"]: job
            for job in (await manager.jobs.list(types=["agent_instruction"], limit=100)).items
            if job.payload.get("jobKind") == "file_change_supervisor_review"
        }
        rows = (await manager.transcript.get(session, limit=None)).entries
        with anyio.fail_after(WAIT):
            reviews = await reviewed(manager, session, turn_1)
    for approval, resolved, verdict in (
        (approval_1, resolved_1, "accept"),
        (approval_2, resolved_2, "decline"),
        (approval_3, resolved_3, "decline"),
    ):
        actor = f"job:{jobs[approval].job_id}"
        assert resolved.payload["decision"] == verdict, resolved.payload
        assert resolved.payload["actor"] == actor, resolved.payload
        decided = [
            e
            for e in executed
            if e.payload["kind"] == "approval.decide" and e.payload["actor"] == actor
        ]
        assert [e.payload["status"] for e in decided] == ["performed"]
    assert not (env.workdir / "b.txt").exists()
    assert not (env.workdir / "c.txt").exists()
    explain = [r for r in rows if r.get("type") == "fileChange.explainability"]
    assert len(explain) == 3
    assert explain[0]["messageId"].startswith(f"file-change-explain::{session}:{turn_1}:")
    assert explain[0]["content"] == "Adds a greeting file; risk low."
    # A row's details are the original's: a JSON string.
    assert json.loads(explain[0]["details"])["risk"] == "low"
    assert reviews["content"] == "The turn added one file; nothing risky."
    assert model.saw_diff == [True, True, True]


async def reviewed(manager: Manager, session: str, turn_id: str) -> Any:
    """The turn review row once its job ended."""
    page = await manager.jobs.list(types=["agent_instruction"], limit=100)
    [job] = [
        j
        for j in page.items
        if j.payload.get("jobKind") == "turn_supervisor_review" and j.payload["turnId"] == turn_id
    ]
    await manager.jobs.wait(job.job_id, timeout=WAIT)
    rows = (await manager.transcript.get(session, limit=None)).entries
    [row] = [
        r for r in rows if r.get("messageId") == f"turn-supervisor-review::{session}:{turn_id}"
    ]
    return row


async def test_a_new_session_is_renamed_after_its_first_message(tmp_path: Path) -> None:
    model = Model()
    async with running_manager(tmp_path, model) as env:
        manager = env.manager
        install_supervisor(manager)
        session = (await manager.sessions.create()).session_id
        await manager.settings.set(session, "supervisor", {"initialRename": {"enabled": True}})
        events = manager.events.subscribe(thread_ids=[session], types=["action_executed"])
        try:
            turn = await manager.turns.send(session, "hello there")
            executed = await next_event(
                events,
                lambda e: e.payload.get("kind") == "session.rename",
                timeout=WAIT,
                message="the rename",
            )
        finally:
            events.close()
        await manager.turns.wait(session, turn.turn_id, timeout=WAIT)
        # A second message: the title is no longer the default, no second rename job.
        second = await manager.turns.send(session, "and again")
        await manager.turns.wait(session, second.turn_id, timeout=WAIT)
        record = await manager.sessions.get(session)
    assert executed.payload["status"] == "performed"
    assert executed.payload["actor"].startswith("job:")
    assert record.title == "Greeting file"
    assert model.renames == 1

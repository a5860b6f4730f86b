"""The demo model (`make run` without a Codex login) on the real codex binary: a session
where the user asks to run a command twice gets an approval request and the command's own
reply each time, and plain messages in between are echoed (issue 7, point 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex_manager_core import Event, RequestStatus, TurnStatus
from codex_manager_core.testing import ScriptedModel, write_offline_config
from codex_manager_http.demo import DEMO_COMMAND, demo_script
from tests.integration.manager_fixtures import next_event, open_manager

pytestmark = [pytest.mark.anyio, pytest.mark.real_runtime]

WAIT = 30.0


def is_approval(event: Event) -> bool:
    return event.type == "approval" and event.payload.get("status") == "pending"


async def test_every_run_message_asks_its_own_approval_and_gets_its_own_reply(
    tmp_path: Path,
) -> None:
    async with ScriptedModel(lambda request: demo_script(request, chunk_delay=0)) as model:
        # As `serve --demo` configures it: codex asks before leaving the sandbox.
        write_offline_config(
            tmp_path / "codex-home", base_url=model.base_url, approval_policy="on-request"
        )
        async with open_manager(tmp_path, model) as env:
            manager = env.manager
            session = await manager.sessions.create(title="demo")
            sid = session.session_id
            async with manager.events.subscribe(thread_ids=[sid]) as events:
                for attempt in ("run it", "hello in between", "run it again"):
                    turn = await manager.turns.send(sid, attempt)
                    if attempt.startswith("run "):
                        approval = await next_event(
                            events, is_approval, timeout=WAIT, message=f"approval for {attempt!r}"
                        )
                        assert approval.payload["turnId"] == turn.turn_id
                        assert DEMO_COMMAND in str(approval.payload["details"].get("command"))
                        decided = await manager.approvals.decide(
                            approval.payload["approvalId"], "accept", actor="test"
                        )
                        assert decided.status is RequestStatus.RESOLVED
                    result = await manager.turns.wait(sid, turn.turn_id, timeout=WAIT)
                    assert result.status is TurnStatus.COMPLETED, result
                    assert result.final_text is not None
                    if attempt.startswith("run "):
                        assert result.final_text.startswith("The command finished."), result
                        assert "hello from the codex-manager demo" in result.final_text
                    else:
                        assert result.final_text.startswith(
                            "(demo model) You said: hello in between."
                        ), result
            asked = await manager.events.read(thread_ids=[sid], types=["approval"], limit=100)
            assert [event.type for event in asked] == ["approval", "approval_resolved"] * 2
            assert len(model.requests) == 5  # run: 2 requests, hello: 1, run again: 2

"""The `agent_instruction` payload (the original's field names, strictly parsed), its dedupe
key, and how its failures are classified for retries."""

from __future__ import annotations

from typing import Any

import pytest

from codex_manager_core.errors import InvalidInput, NotFound, RuntimeUnavailable, TurnFailed
from codex_manager_core.queue.agent_instruction import (
    AgentInstruction,
    ResponseMode,
    dedupe_key,
    output_message_id,
)
from codex_manager_core.queue.definitions import structure
from codex_manager_core.services.agent_jobs import classify
from codex_manager_core.services.turn_waits import TurnErrorNotice

BASE: dict[str, Any] = {"agent": "supervisor", "jobKind": "review", "instructionText": "Look"}


def parse(**more: Any) -> AgentInstruction:
    return structure({**BASE, **more}, AgentInstruction, "payload")


def test_the_originals_fields_parse_with_their_types() -> None:
    payload = parse(
        projectId="p1",
        sourceSessionId="s1",
        threadId="s1",
        turnId="t1",
        expectResponse="action_intents",
        bootstrapInstruction={"key": "k", "instructionText": "Be brief"},
        supplementalTargets=[{"messageId": "m", "type": "x", "placeholderTexts": ["..."]}],
        completionSignal={"kind": "suggested_request", "requestKey": "r1"},
    )
    assert payload.expect_response is ResponseMode.ACTION_INTENTS
    assert payload.bootstrap_instruction is not None
    assert payload.bootstrap_instruction.instruction_text == "Be brief"
    assert payload.supplemental_targets[0].placeholder_texts == ("...",)
    assert payload.owner == "p1"
    assert parse(sourceSessionId="s9").owner == "session:s9"


@pytest.mark.parametrize(
    ("more", "path"),
    [
        ({"expectResponse": "bogus"}, ["expectResponse"]),
        ({"expectResponse": True}, ["expectResponse"]),
        ({"instructionText": 3}, ["instructionText"]),
        ({"instructionText": "   "}, ["instructionText"]),
        ({"surprise": 1}, None),
        ({"supplementalTargets": [{"messageId": "m", "type": "t"}] * 9}, ["supplementalTargets"]),
        ({"completionSignal": {"kind": "x"}}, ["completionSignal", "requestKey"]),
    ],
)
def test_a_payload_that_does_not_fit_names_the_field(more: dict[str, Any], path: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(**more)
    if path is not None:
        assert refused.value.issues[0]["path"] == path, refused.value.issues
    else:
        assert "surprise" in refused.value.message


def test_the_dedupe_key_is_the_originals() -> None:
    assert dedupe_key(parse(projectId="p1", dedupeKey="suggest:s1")) == "p1:suggest:s1"
    assert dedupe_key(parse(projectId="p1", threadId="s1", turnId="t1")) == "p1:s1:t1:review"
    assert output_message_id("job_1") == "agent-job-output::job_1"


def notice(status: int | None) -> TurnErrorNotice:
    info = {"httpConnectionFailed": {"httpStatusCode": status}} if status else None
    return TurnErrorNotice("failed", None, info, will_retry=False, seq=1)


def test_failures_of_the_runtime_or_model_are_retryable_refusals_are_not() -> None:
    assert classify(TurnFailed("s", "t", "500", notice=notice(500))) == "retryable"
    assert classify(TurnFailed("s", "t", "no answer")) == "retryable"
    assert classify(TurnFailed("s", "t", "429", notice=notice(429))) == "retryable"
    assert classify(TurnFailed("s", "t", "401", notice=notice(401))) == "fatal"
    assert classify(RuntimeUnavailable("restarting")) == "retryable"
    assert classify(NotFound("codex app-server: no rollout found for thread id x")) == "retryable"
    assert classify(NotFound("no agent 'x'", code="unknown_agent")) == "fatal"
    assert classify(InvalidInput("action intent 0 was forbidden")) == "fatal"

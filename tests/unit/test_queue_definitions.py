"""Job types and their policies (`queue/definitions.py`, `queue/policies.py`): payload
validation naming the field, retry delays and classification, each dedupe mode's decision,
and the registry's errors. All pure: no event loop."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from codex_manager_core.errors import (
    CallTimeout,
    Conflict,
    InvalidInput,
    NotFound,
    RuntimeUnavailable,
    TimedOut,
)
from codex_manager_core.queue.definitions import JobType, JobTypes
from codex_manager_core.queue.model import Job, JobPriority, JobState
from codex_manager_core.queue.policies import (
    CancelPolicy,
    CancelStrategy,
    DedupeAction,
    DedupeMode,
    DedupePolicy,
    RetryPolicy,
    dedupe_decision,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class Target:
    message_id: str


@attrs.frozen
class Payload:
    instruction_text: str
    targets: list[Target] = attrs.Factory(list)
    count: int = 0


@attrs.frozen
class Result:
    text: str


def make_type(**kwargs: Any) -> JobType[Payload, Result]:
    return JobType(type="echo", payload=Payload, result=Result, **kwargs)


def issues_of(data: Any) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInput) as caught:
        make_type().parse_payload(data)
    return caught.value.issues


def test_a_payload_round_trips_with_camel_case_keys() -> None:
    job_type = make_type()
    data = {"instructionText": "hi", "targets": [{"messageId": "m1"}], "count": 2}
    payload = job_type.parse_payload(data)
    assert payload == Payload("hi", [Target("m1")], 2)
    assert job_type.dump_payload(payload) == data
    assert job_type.parse_result(job_type.dump_result(Result("ok"))) == Result("ok")


def test_an_invalid_payload_names_each_field_by_its_path() -> None:
    assert issues_of({}) == [{"path": ["instructionText"], "message": "required"}]
    bad_int = issues_of({"instructionText": "a", "count": "many"})
    assert [issue["path"] for issue in bad_int] == [["count"]]
    nested = issues_of({"instructionText": "a", "targets": [{"messageId": "m"}, {}]})
    assert nested == [{"path": ["targets", 1, "messageId"], "message": "required"}]
    assert issues_of({"instructionText": "a", "extra": 1}) == [
        {"path": ["extra"], "message": "unknown field"}
    ]
    with pytest.raises(InvalidInput, match=r"targets\[1\]\.messageId: required"):
        make_type().parse_payload({"instructionText": "a", "targets": [{"messageId": "m"}, {}]})
    with pytest.raises(InvalidInput, match="JSON object"):
        make_type().parse_payload(["not", "an", "object"])


def test_a_payload_scalar_must_have_its_json_type() -> None:
    """No silent conversion: a number where a string belongs (or a string, or a boolean,
    where a number belongs) names the field and the type it must have."""
    [text] = issues_of({"instructionText": 5})
    assert text["path"] == ["instructionText"]
    assert "must be a string, not int" in text["message"]
    [count] = issues_of({"instructionText": "a", "count": True})
    assert count["path"] == ["count"]
    assert "must be an integer, not bool" in count["message"]
    [numeric] = issues_of({"instructionText": "a", "count": "3"})
    assert "must be an integer, not str" in numeric["message"]


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0, jitter=0.0)
    delays = [policy.delay(attempt, random.Random(0)) for attempt in range(1, 12)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) == 10.0
    assert policy.delay(10_000, random.Random(0)) == 10.0  # no overflow far out


def test_retry_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    rng = random.Random(7)
    for attempt in range(1, 8):
        full = min(8.0, 2.0 ** (attempt - 1))
        samples = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(full * 0.75 <= delay <= full for delay in samples)
        assert len(set(samples)) > 1  # it does vary


def test_the_default_classification_retries_only_runtime_unavailability_and_timeouts() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == 2
    assert policy.classify(CallTimeout("turn/start", 5)) == "retryable"
    assert policy.classify(RuntimeUnavailable("restarting")) == "retryable"
    assert policy.classify(TimedOut("too slow")) == "retryable"
    assert policy.classify(ValueError("bug")) == "fatal"
    assert policy.classify(InvalidInput("bad")) == "fatal"
    assert policy.should_retry(1, CallTimeout("x", 1))
    assert not policy.should_retry(2, CallTimeout("x", 1))  # attempts used up
    assert not policy.should_retry(1, ValueError("bug"))


def test_a_custom_classifier_or_class_list_decides_instead() -> None:
    by_classes = RetryPolicy(retryable=(Conflict,))
    assert by_classes.classify(Conflict("busy")) == "retryable"
    assert by_classes.classify(CallTimeout("x", 1)) == "fatal"
    by_function = RetryPolicy(classifier=lambda exc: "retryable" if "500" in str(exc) else "fatal")
    assert by_function.classify(RuntimeError("HTTP 500")) == "retryable"
    assert by_function.classify(RuntimeError("HTTP 400")) == "fatal"


def job(job_id: str, state: JobState, seconds: int = 0) -> Job:
    return Job(
        job_id=job_id,
        type="echo",
        version=1,
        owner="p",
        priority=JobPriority.BACKGROUND,
        state=state,
        payload={},
        created_at=T0 + timedelta(seconds=seconds),
        dedupe_key="k",
    )


@pytest.mark.parametrize("mode", list(DedupeMode))
def test_without_a_live_duplicate_every_mode_enqueues(mode: DedupeMode) -> None:
    done = [job("old", JobState.COMPLETED), job("bad", JobState.FAILED)]
    assert dedupe_decision([], mode).action is DedupeAction.ENQUEUE
    assert dedupe_decision(done, mode).action is DedupeAction.ENQUEUE


def test_each_dedupe_mode_against_a_queued_and_a_running_duplicate() -> None:
    queued = [job("q2", JobState.QUEUED, 2), job("q1", JobState.QUEUED, 1)]
    running = [job("r", JobState.RUNNING)]
    single = dedupe_decision(running, DedupeMode.SINGLE_FLIGHT)
    assert (single.action, single.existing) == (DedupeAction.JOIN, running[0])
    single_queued = dedupe_decision(queued, DedupeMode.SINGLE_FLIGHT)
    assert single_queued.existing == queued[1]  # the oldest
    drop = dedupe_decision(queued, DedupeMode.DROP_DUPLICATE)
    assert (drop.action, drop.existing) == (DedupeAction.DROP, queued[1])
    merge = dedupe_decision([*running, *queued], DedupeMode.MERGE_DUPLICATE)
    assert (merge.action, merge.existing) == (DedupeAction.MERGE, queued[1])
    # A running duplicate alone does not stop drop_duplicate or merge_duplicate.
    assert dedupe_decision(running, DedupeMode.DROP_DUPLICATE).action is DedupeAction.ENQUEUE
    assert dedupe_decision(running, DedupeMode.MERGE_DUPLICATE).action is DedupeAction.ENQUEUE
    assert dedupe_decision(queued, DedupeMode.NONE).action is DedupeAction.ENQUEUE


def test_merge_is_required_with_merge_duplicate_and_only_then() -> None:
    def key(payload: Payload) -> str:
        return payload.instruction_text

    def merge(old: Payload, new: Payload) -> Payload:
        return new

    with pytest.raises(ValueError, match="merge is required"):
        DedupePolicy(mode=DedupeMode.MERGE_DUPLICATE, key=key)
    with pytest.raises(ValueError, match="merge is required"):
        DedupePolicy(mode=DedupeMode.SINGLE_FLIGHT, key=key, merge=merge)
    with pytest.raises(ValueError, match="needs a key"):
        DedupePolicy(mode=DedupeMode.DROP_DUPLICATE)
    policy = DedupePolicy(mode="merge_duplicate", key=key, merge=merge)
    assert make_type(dedupe=policy).dedupe_key(Payload("k1")) == "k1"
    assert make_type().dedupe_key(Payload("k1")) is None


def test_cancel_policy_defaults() -> None:
    assert CancelPolicy() == CancelPolicy(CancelStrategy.INTERRUPT_TURN, 1.5)
    assert make_type(cancel=CancelPolicy("mark_canceled")).cancel.strategy is (
        CancelStrategy.MARK_CANCELED
    )


def test_the_registry_refuses_a_duplicate_and_names_an_unknown_type() -> None:
    types = JobTypes()
    echo = types.register(make_type())
    assert types.get("echo") is echo
    assert "echo" in types
    with pytest.raises(Conflict, match="already registered") as duplicate:
        types.register(make_type(version=2))
    assert duplicate.value.code == "job_type_exists"
    with pytest.raises(NotFound, match=r"'nope'.*registered: echo") as unknown:
        types.get("nope")
    assert unknown.value.code == "unknown_job_type"


async def _run(ctx: Any, payload: Any) -> Result:
    return Result(payload.instruction_text)


def test_the_decorator_registers_the_handler_as_a_job_type() -> None:
    types = JobTypes()
    decorate = types.job_type(
        "shout", payload=Payload, result=Result, priority="interactive", timeout=5
    )
    shout = decorate(_run)
    assert types.get("shout") is shout
    assert shout.run is _run
    assert (shout.priority, shout.timeout, shout.version) == (JobPriority.INTERACTIVE, 5, 1)
    assert types.names() == ["shout"]


def test_a_job_type_needs_attrs_classes() -> None:
    with pytest.raises(TypeError, match="attrs class"):
        JobType(type="x", payload=dict, result=Result)

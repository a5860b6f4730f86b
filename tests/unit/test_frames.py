"""Frames of `GET /api/stream`: event rendering, the original's compatibility frames and
aliases, part numbering and resume inside an event, which frames a thread filter lets
through, the frame cache, and command/query validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from codex_manager_core.models import Event
from codex_manager_http.frames import (
    ALIASES,
    BROADCAST_ALIASES,
    INVALID_COMMAND,
    KEEP,
    MAX_THREAD_IDS,
    THREAD_ALIASES,
    CommandError,
    EventFrames,
    FrameCache,
    Ping,
    StreamQuery,
    Subscribe,
    Unsubscribe,
    encode_event,
    error_frame,
    event_frames,
    lagged_frame,
    parse_command,
    parse_query,
    pong_frame,
    ready_frame,
    subscribed_frame,
)

AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
AT_ISO = "2026-01-02T03:04:05.678Z"


def notification(
    method: str, params: Any, *, seq: int = 7, thread_id: str | None = "thr-1"
) -> Event:
    event_type = "app_server.test"  # the name is irrelevant to rendering
    payload = {
        "source": "app_server",
        "signalType": "notification",
        "eventType": event_type,
        "method": method,
        "receivedAt": AT_ISO,
        "context": {"threadId": thread_id, "turnId": None},
        "params": params,
        "session": None,
    }
    return Event(seq, event_type, thread_id, payload, AT)


# ---------------------------------------------------------------------- event frames


def test_a_manager_event_is_one_frame_with_seq_and_at() -> None:
    event = Event(12, "project_upserted", None, {"projectId": "p1", "name": "x"}, AT)
    assert event_frames(event) == [
        {
            "type": "project_upserted",
            "threadId": None,
            "payload": {"projectId": "p1", "name": "x"},
            "seq": 12,
            "part": 0,
            "at": AT_ISO,
        }
    ]


def test_a_notification_also_becomes_the_raw_notification_frame_with_the_same_seq() -> None:
    params = {"threadId": "thr-1", "turnId": "t1", "itemId": "i1", "delta": "hé"}
    event = notification("item/agentMessage/delta", params)
    frames = event_frames(event)
    assert [frame["type"] for frame in frames] == ["app_server.test", "notification"]
    assert frames[0]["payload"] is event.payload
    assert frames[1] == {
        "type": "notification",
        "threadId": "thr-1",
        "payload": {"method": "item/agentMessage/delta", "params": params},
        "seq": 7,
        "part": 1,
        "at": AT_ISO,
    }


def test_a_server_request_event_has_no_raw_notification_frame() -> None:
    event = notification("item/commandExecution/requestApproval", {"threadId": "thr-1"})
    event.payload["signalType"] = "request"
    assert [frame["type"] for frame in event_frames(event)] == ["app_server.test"]


def test_a_non_app_server_event_that_looks_like_one_is_left_alone() -> None:
    payload = {"signalType": "notification", "method": "account/updated", "params": {}}
    event = Event(3, "transcript_updated", "thr-1", payload, AT)
    assert [frame["type"] for frame in event_frames(event)] == ["transcript_updated"]


@pytest.mark.parametrize(("method", "alias"), sorted(ALIASES.items()))
def test_aliases_carry_the_params_and_the_events_thread(method: str, alias: str) -> None:
    params = {"threadId": "thr-1", "value": 42}
    thread_id = "thr-1" if method in THREAD_ALIASES else None
    frames = event_frames(notification(method, params, thread_id=thread_id))
    assert [frame["type"] for frame in frames] == ["app_server.test", "notification", alias]
    assert frames[2] == {
        "type": alias,
        "threadId": thread_id,
        "payload": params,
        "seq": 7,
        "part": 2,
        "at": AT_ISO,
    }


def test_the_alias_table_is_the_originals() -> None:
    assert dict(THREAD_ALIASES) == {
        "turn/plan/updated": "turn_plan_updated",
        "turn/diff/updated": "turn_diff_updated",
        "thread/tokenUsage/updated": "thread_token_usage_updated",
    }
    assert dict(BROADCAST_ALIASES) == {
        "app/list/updated": "app_list_updated",
        "mcpServer/oauthLogin/completed": "mcp_oauth_completed",
        "account/updated": "account_updated",
        "account/login/completed": "account_login_completed",
        "account/rateLimits/updated": "account_rate_limits_updated",
    }


def test_encoded_frames_are_compact_json_equal_to_the_frames() -> None:
    event = notification("turn/diff/updated", {"diff": 'ü\n"quoted"', "n": [1, 2.5, None]})
    encoded = encode_event(event).texts
    assert [json.loads(text) for text in encoded] == event_frames(event)
    assert all(", " not in text and "\\u00fc" not in text for text in encoded)


class Opaque:
    def __str__(self) -> str:
        return "opaque"


def test_payloads_that_are_not_plain_json_still_encode() -> None:
    event = Event(1, "custom", None, {"when": AT, "what": Opaque()}, AT)
    (text,) = encode_event(event).texts
    frame = json.loads(text)
    assert frame["seq"] == 1
    assert frame["payload"]["what"] == "opaque"
    assert frame["payload"]["when"].startswith("2026-01-02")


# ---------------------------------------------------------------------- parts and resume


def test_the_frames_of_an_event_are_numbered_by_part() -> None:
    event = notification("turn/plan/updated", {"threadId": "thr-1", "plan": []})
    assert [(frame["seq"], frame["part"]) for frame in event_frames(event)] == [
        (7, 0),
        (7, 1),
        (7, 2),
    ]


def event_stream(events: list[Event]) -> list[EventFrames]:
    return [encode_event(event) for event in events]


def identities(texts: list[str]) -> list[tuple[int, int]]:
    return [(json.loads(text)["seq"], json.loads(text)["part"]) for text in texts]


def test_a_client_cut_between_sibling_frames_resumes_with_seq_and_part_losslessly() -> None:
    """Cut the stream after every single frame; resuming with (seq, part) of the last frame
    received gives exactly the rest, in order, with nothing twice."""
    events = [
        notification("item/agentMessage/delta", {"delta": "a"}, seq=1),
        Event(2, "transcript_updated", "thr-1", {"n": 1}, AT),
        notification("turn/diff/updated", {"diff": "d"}, seq=3),
        notification("account/updated", {"authMode": None}, seq=4, thread_id=None),
        notification("item/agentMessage/delta", {"delta": "b"}, seq=5),
    ]
    stream = event_stream(events)
    for following in (None, frozenset({"thr-1"}), frozenset({"thr-2"})):
        everything = [text for frames in stream for text in frames.parts_for(following)]
        for cut in range(len(everything) + 1):
            received = everything[:cut]
            if received:
                seq, part = identities(received)[-1]
            else:
                seq, part = 0, 0  # nothing yet: since=0 (no event 0)
            rest = [
                text
                for frames in stream
                if frames.seq >= seq
                for text in frames.parts_for(following, part if frames.seq == seq else None)
            ]
            assert received + rest == everything, (following, cut)
    # Resuming with the seq alone (as before `part` existed) loses the siblings after the
    # cut: of the 2 + 1 + 3 + 3 + 2 frames, cut after each in turn, 1 + 0 + 3 + 3 + 1 = 8.
    everything = [text for frames in stream for text in frames.parts_for(None)]
    lost = 0
    for cut in range(1, len(everything) + 1):
        seq = identities(everything[:cut])[-1][0]
        rest = [text for frames in stream if frames.seq > seq for text in frames.parts_for(None)]
        lost += len(everything) - cut - len(rest)
    assert lost == 8


def test_resume_after_the_last_part_or_past_the_event_sends_nothing_of_it() -> None:
    frames = encode_event(notification("turn/plan/updated", {"plan": []}))
    assert identities(list(frames.parts_for(None, 0))) == [(7, 1), (7, 2)]
    assert frames.parts_for(None, 2) == ()
    assert frames.parts_for(None, 99) == ()


def test_a_socket_following_other_threads_gets_only_the_originals_broadcast_frames() -> None:
    other = frozenset({"thr-2"})
    # The runtime's thread-less notification with a broadcast alias: only the alias.
    account = encode_event(notification("account/updated", {"x": 1}, thread_id=None))
    assert [json.loads(t)["type"] for t in account.parts_for(other)] == ["account_updated"]
    assert [json.loads(t)["type"] for t in account.parts_for(None)] == [
        "app_server.test",
        "notification",
        "account_updated",
    ]
    # A thread-less notification without an alias (configWarning, ...): nothing.
    warning = encode_event(notification("configWarning", {"summary": "x"}, thread_id=None))
    assert warning.parts_for(other) == ()
    assert len(warning.parts_for(None)) == 2
    # Another thread's notification, even one with a thread-scoped alias: nothing.
    plan = encode_event(notification("turn/plan/updated", {"plan": []}))
    assert plan.parts_for(other) == ()
    assert len(plan.parts_for(frozenset({"thr-1", "thr-2"}))) == 3
    # The manager's own thread-less events and session deletions/moves: the event frame.
    for event in (
        Event(1, "project_upserted", None, {"project": {}}, AT),
        Event(2, "runtime_state_changed", None, {"state": "ready"}, AT),
        Event(3, "session_deleted", "thr-1", {"sessionId": "thr-1"}, AT),
        Event(4, "session_project_updated", "thr-1", {"sessionId": "thr-1"}, AT),
    ):
        assert identities(list(encode_event(event).parts_for(other))) == [(event.seq, 0)]
    # Other manager events of another thread: nothing.
    transcript = encode_event(Event(5, "transcript_updated", "thr-1", {}, AT))
    assert transcript.parts_for(other) == ()


# ---------------------------------------------------------------------- cache


def test_the_cache_encodes_each_event_once() -> None:
    cache = FrameCache(capacity=3)
    event = notification("item/agentMessage/delta", {"delta": "x"})
    first = cache.frames(event)
    assert cache.frames(event) is first
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_cache_drops_its_oldest_entries() -> None:
    cache = FrameCache(capacity=2)
    events = [Event(seq, "x", None, {"n": seq}, AT) for seq in (1, 2, 3)]
    for event in events:
        cache.frames(event)
    assert len(cache) == 2
    cache.frames(events[2])
    cache.frames(events[0])  # evicted: encoded again
    assert (cache.hits, cache.misses) == (1, 4)
    with pytest.raises(ValueError, match="positive"):
        FrameCache(capacity=0)


# ---------------------------------------------------------------------- control frames


def test_control_frames() -> None:
    assert json.loads(ready_frame("thr-1", 9)) == {"type": "ready", "threadId": "thr-1", "seq": 9}
    assert json.loads(ready_frame(None, 0)) == {"type": "ready", "threadId": None, "seq": 0}
    assert json.loads(pong_frame()) == {"type": "pong"}
    assert json.loads(lagged_frame(41)) == {"type": "lagged", "seq": 41}
    assert json.loads(error_frame("bad")) == {
        "type": "error",
        "message": "invalid websocket command",
        "detail": "bad",
    }
    assert json.loads(subscribed_frame(("a", "b"), None, 3, 10)) == {
        "type": "subscribed",
        "threadIds": ["a", "b"],
        "types": None,
        "since": 3,
        "part": None,
        "seq": 10,
    }
    assert json.loads(subscribed_frame(None, None, 3, 10, 1))["part"] == 1
    assert json.loads(subscribed_frame(None, ("x.",), None, 10))["types"] == ["x."]


# ---------------------------------------------------------------------- commands


def test_the_originals_commands() -> None:
    assert parse_command('{"type":"ping"}') == Ping()
    assert parse_command('{"type":"unsubscribe"}') == Unsubscribe()
    assert parse_command('{"type":"subscribe","threadId":"thr-1"}') == Subscribe(
        ("thr-1",), KEEP, None
    )
    assert parse_command(b'{"type":"subscribe","threadId":null}') == Subscribe(None, KEEP, None)


def test_our_subscribe_command() -> None:
    command = parse_command(
        json.dumps(
            {
                "type": "subscribe",
                "threadIds": ["a", "b", "a"],
                "since": 5,
                "types": ["app_server.", "approval"],
            }
        )
    )
    assert command == Subscribe(("a", "b"), ("app_server.", "approval"), 5)
    assert parse_command('{"type":"subscribe","since":0}') == Subscribe(KEEP, KEEP, 0)
    assert parse_command('{"type":"subscribe","threadIds":null,"types":null}') == Subscribe(
        None, None, None
    )
    assert parse_command('{"type":"subscribe","threadIds":[]}') == Subscribe((), KEEP, None)
    assert parse_command('{"type":"subscribe","since":7,"part":1}') == Subscribe(KEEP, KEEP, 7, 1)
    assert parse_command('{"type":"subscribe","since":7,"part":null}') == Subscribe(
        KEEP, KEEP, 7, None
    )


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("not json", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('"ping"', "must be a JSON object, got a string"),
        ("{}", "no string field 'type'"),
        ('{"type": 3}', "no string field 'type'"),
        ('{"type": "shout"}', "unknown command type 'shout'"),
        ('{"type": "subscribe", "threadId": 5}', "threadId must be a string, got a number"),
        ('{"type": "subscribe", "threadId": ""}', "1-200 characters"),
        ('{"type": "subscribe", "threadId": "a/b"}', "letters, digits"),
        ('{"type": "subscribe", "threadIds": "abc"}', "threadIds must be an array"),
        ('{"type": "subscribe", "threadIds": ["a", 1]}', "threadIds[1] must be a string"),
        ('{"type": "subscribe", "threadId": "a", "threadIds": ["b"]}', "not both"),
        ('{"type": "subscribe", "types": "app_server."}', "types must be an array"),
        ('{"type": "subscribe", "types": [""]}', "types[0] must be 1-200"),
        ('{"type": "subscribe", "types": [null]}', "types[0] must be a string, got null"),
        ('{"type": "subscribe", "since": "5"}', "since must be a non-negative integer"),
        ('{"type": "subscribe", "since": -1}', "since must be a non-negative integer, got -1"),
        ('{"type": "subscribe", "since": 1.5}', "since must be a non-negative integer"),
        ('{"type": "subscribe", "since": true}', "got a boolean"),
        ('{"type": "subscribe", "threadid": "a"}', "unknown subscribe fields: 'threadid'"),
        ('{"type": "subscribe", "part": 1}', "part needs since"),
        ('{"type": "subscribe", "since": 3, "part": -1}', "part must be a non-negative integer"),
        ('{"type": "subscribe", "since": 3, "part": "1"}', "part must be a non-negative integer"),
    ],
)
def test_invalid_commands_say_what_is_wrong(raw: str | bytes, detail: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(raw)
    assert detail in caught.value.detail
    assert INVALID_COMMAND == "invalid websocket command"


def test_at_most_a_thousand_thread_ids() -> None:
    ids = [f"t{n}" for n in range(MAX_THREAD_IDS)]
    command = parse_command(json.dumps({"type": "subscribe", "threadIds": ids}))
    assert isinstance(command, Subscribe)
    assert command.thread_ids == tuple(ids)
    with pytest.raises(CommandError, match="at most 1000 threads, got 1001"):
        parse_command(json.dumps({"type": "subscribe", "threadIds": [*ids, "one-more"]}))


# ---------------------------------------------------------------------- query


def test_query_parameters() -> None:
    assert parse_query([]) == StreamQuery(None, None, None)
    assert parse_query([("threadId", "thr-1")]).thread_ids == ("thr-1",)
    assert parse_query([("threadId", "")]) == StreamQuery()
    query = parse_query(
        [("since", "12"), ("types", "app_server.turn., approval"), ("types", "notification")]
    )
    assert query == StreamQuery(None, ("app_server.turn.", "approval", "notification"), 12)
    assert parse_query({"types": [","]}).types is None
    assert parse_query({"token": ["secret"], "since": ["0"]}).since == 0
    assert parse_query([("since", "12"), ("part", "1")]) == StreamQuery(None, None, 12, 1)
    assert parse_query([("since", "12"), ("part", "")]).part is None


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ([("since", "-1")], "since must be a non-negative integer"),
        ([("since", "abc")], "since must be a non-negative integer"),
        ([("since", "1"), ("since", "2")], "give since once"),
        ([("threadId", "a"), ("threadId", "b")], "give threadId once"),
        ([("threadId", "a b")], "letters, digits"),
        ([("part", "1")], "part needs since"),
        ([("since", "3"), ("part", "x")], "part must be a non-negative integer"),
        ([("since", "3"), ("part", "1"), ("part", "2")], "give part once"),
    ],
)
def test_invalid_queries(query: list[tuple[str, str]], detail: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_query(query)
    assert detail in caught.value.detail

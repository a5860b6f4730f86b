"""`ThreadIds`: session ids out, runtime thread ids in, translated at the runtime boundary."""

from __future__ import annotations

from codex_manager_core.thread_ids import ThreadIds


def test_nothing_bound_returns_the_same_objects() -> None:
    ids = ThreadIds()
    params = {"threadId": "s1", "input": []}
    assert ids.outgoing(params) is params
    assert ids.incoming(params) is params
    assert ids.runtime_id("s1") == "s1"
    # Binding a session to its own id is "nothing bound".
    ids.bind("s1", "s1")
    ids.bind("s2", None)
    assert len(ids) == 0


def test_outgoing_names_the_runtime_thread() -> None:
    ids = ThreadIds()
    ids.bind("s1", "t9")
    params = {"threadId": "s1", "turnId": "u1"}
    assert ids.outgoing(params) == {"threadId": "t9", "turnId": "u1"}
    assert params == {"threadId": "s1", "turnId": "u1"}  # the caller's dict is untouched
    other = {"threadId": "s2"}
    assert ids.outgoing(other) is other
    assert ids.outgoing(None) is None
    assert ids.outgoing(["threadId"]) == ["threadId"]


def test_incoming_names_the_session_everywhere_a_thread_id_appears() -> None:
    ids = ThreadIds()
    ids.bind("s1", "t9")
    assert ids.incoming({"threadId": "t9", "turn": {"id": "u1"}}) == {
        "threadId": "s1",
        "turn": {"id": "u1"},
    }
    started = {"thread": {"id": "t9", "forkedFromId": None, "preview": ""}}
    assert ids.incoming(started) == {"thread": {"id": "s1", "forkedFromId": None, "preview": ""}}
    forked = {"thread": {"id": "t10", "forkedFromId": "t9"}, "conversationId": "t9"}
    assert ids.incoming(forked) == {
        "thread": {"id": "t10", "forkedFromId": "s1"},
        "conversationId": "s1",
    }
    unrelated = {"threadId": "t1", "thread": {"id": "t1"}}
    assert ids.incoming(unrelated) is unrelated
    assert ids.incoming("text") == "text"


def test_rebinding_and_forgetting() -> None:
    ids = ThreadIds()
    ids.bind("s1", "t1")
    ids.bind("s1", "t2")  # a second replacement: the first thread is no longer the session
    assert ids.runtime_id("s1") == "t2"
    assert ids.incoming({"threadId": "t1"}) == {"threadId": "t1"}
    assert ids.incoming({"threadId": "t2"}) == {"threadId": "s1"}
    ids.forget("s1")
    ids.forget("never-bound")
    assert len(ids) == 0
    assert ids.incoming({"threadId": "t2"}) == {"threadId": "t2"}

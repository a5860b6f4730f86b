"""Session ids and the runtime's thread ids, translated at the runtime boundary.

A session's id is the id of the runtime thread first created for it, and usually the two
stay equal. But codex keeps a thread that has no rollout yet (nothing was sent in it) only
in memory: after any restart of the runtime, `thread/read` answers "thread not loaded" and
`thread/resume` "no rollout found" (docs/runtime.md, "Threads across restarts"). Such a
thread holds nothing but its settings, so the manager starts a new thread for the session
on its next use (`SessionThreadsMixin._ensure_thread`) and keeps the
session id: the session the user was told about stays the one they use.

From then on the session's thread has another id. `ThreadIds` holds those pairs and
translates in one place: what goes to the runtime carries the thread's id, and what comes
from it (notifications, server requests, results) carries the session id again. Everything
else (the store, the ledger, subscribers, clients) only ever sees session ids. With no pair
bound (the common case) both directions return their argument untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: Keys whose value is a thread id, at the top level of params/results and in their
#: `thread` object (`thread/started`, `thread/read`, `thread/fork` ...).
_THREAD_KEYS: Final = ("threadId", "conversationId", "forkedFromId", "parentThreadId")


class ThreadIds:
    """The sessions whose runtime thread has another id than the session."""

    __slots__ = ("_to_runtime", "_to_session")

    def __init__(self) -> None:
        self._to_runtime: dict[str, str] = {}
        self._to_session: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._to_runtime)

    def bind(self, session_id: str, runtime_id: str | None) -> None:
        """From now on, session `session_id` is the runtime's thread `runtime_id` (None,
        or the session id itself: the same id, nothing to translate)."""
        self.forget(session_id)
        if runtime_id is not None and runtime_id != session_id:
            self._to_runtime[session_id] = runtime_id
            self._to_session[runtime_id] = session_id

    def forget(self, session_id: str) -> None:
        runtime_id = self._to_runtime.pop(session_id, None)
        if runtime_id is not None:
            self._to_session.pop(runtime_id, None)

    def runtime_id(self, session_id: str) -> str:
        return self._to_runtime.get(session_id, session_id)

    def outgoing(self, params: Any) -> Any:
        """Call params for the runtime: `threadId` names the session's thread."""
        if not self._to_runtime or not isinstance(params, Mapping):
            return params
        thread_id = params.get("threadId")
        runtime_id = self._to_runtime.get(thread_id) if isinstance(thread_id, str) else None
        if runtime_id is None:
            return params
        return {**params, "threadId": runtime_id}

    def incoming(self, value: Any) -> Any:
        """Params or a result from the runtime, with session ids for thread ids. Returns
        `value` itself when nothing needed translating."""
        if not self._to_session or not isinstance(value, Mapping):
            return value
        translated = self._translate(value)
        thread = value.get("thread")
        if isinstance(thread, Mapping):
            inner = self._translate(thread, "id")
            if inner is not thread:
                translated = {**translated, "thread": inner}
        return translated

    def _translate(self, mapping: Mapping[str, Any], *extra: str) -> Mapping[str, Any]:
        changed: dict[str, str] = {}
        for key in (*extra, *_THREAD_KEYS):
            value = mapping.get(key)
            if isinstance(value, str) and (session_id := self._to_session.get(value)):
                changed[key] = session_id
        return {**mapping, **changed} if changed else mapping

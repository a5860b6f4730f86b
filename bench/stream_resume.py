"""A client of `GET /api/stream` that resumes exactly, for fault scripts and tests.

A client that is cut off resumes with the `seq` and `part` of the last event frame it
received (`since=<seq>&part=<part>`), and then gets exactly the frames it had not received,
also when the cut fell between the frames of one event (docs/stream.md). This module makes
that easy to check against a real server:

    base = "http://127.0.0.1:3001"                  # or ws://...; token= if one is set
    steady = await collect_frames(base, thread_id=sid, since=start, until=turn_end(turn_id))
    flaky = await resume_repeatedly(base, thread_id=sid, since=start,
                                    until=turn_end(turn_id), cut=lambda: rng.randint(1, 5))
    diff = compare_frames(steady, flaky.frames)   # diff.lost == 0, diff.duplicated == 0 ...
    print(flaky.connections - 1, "resumes")

`collect_frames` is one uninterrupted subscriber; `resume_repeatedly` reads `cut()` event
frames per connection, closes it, and reconnects from its cursor until `until` matches.
Start both from the same `since` (e.g. the `ready` seq read before the turn started, or
`TurnHandle.since_seq`). Every wait is bounded (`TimeoutError` saying what it waited for).
Runs on asyncio (the `websockets` client).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import anyio
import attrs
from websockets.asyncio.client import ClientConnection, connect

Frame = dict[str, Any]
FramePredicate = Callable[[Frame], bool]

#: Frames that are not events (they carry no `part`; `lagged` carries a `seq`).
CONTROL_TYPES = frozenset({"ready", "subscribed", "pong", "error", "lagged"})


class StreamError(Exception):
    """The server answered with an `error` frame, or said the client `lagged`."""


@attrs.frozen
class Cursor:
    """Where a client is in the stream: after frame `part` of event `seq` (part None: after
    the whole event)."""

    seq: int
    part: int | None = None

    @classmethod
    def after(cls, frame: Mapping[str, Any]) -> Cursor:
        part = frame.get("part")
        return cls(int(frame["seq"]), part if isinstance(part, int) else None)


def turn_end(turn_id: str | None = None) -> FramePredicate:
    """The last frame of a turn for a subscriber of its thread: the raw `notification`
    frame (part 1) of `turn/completed` (of `turn_id`, or of any turn)."""

    def matches(frame: Frame) -> bool:
        payload = frame.get("payload")
        if frame.get("type") != "notification" or not isinstance(payload, dict):
            return False
        if payload.get("method") != "turn/completed":
            return False
        turn = (payload.get("params") or {}).get("turn") or {}
        return turn_id is None or turn.get("id") == turn_id

    return matches


def stream_url(
    base: str,
    *,
    since: int | None = None,
    part: int | None = None,
    thread_id: str | None = None,
    types: Iterable[str] | None = None,
    token: str | None = None,
) -> str:
    """The `/api/stream` URL of the server at `base` (http(s):// or ws(s):// origin)."""
    origin = base.rstrip("/")
    for plain, secure in (("http://", "ws://"), ("https://", "wss://")):
        if origin.startswith(plain):
            origin = secure + origin[len(plain) :]
    query: dict[str, str] = {}
    if thread_id is not None:
        query["threadId"] = thread_id
    if since is not None:
        query["since"] = str(since)
    if part is not None:
        query["part"] = str(part)
    if types is not None:
        query["types"] = ",".join(types)
    if token is not None:
        query["token"] = token
    return f"{origin}/api/stream" + (f"?{urlencode(query)}" if query else "")


async def _next(ws: ClientConnection, deadline: float, what: str) -> Frame:
    try:
        with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
            raw = await ws.recv()
    except TimeoutError:
        raise TimeoutError(f"no frame in time while waiting for {what}") from None
    frame: Frame = json.loads(raw)
    if frame.get("type") == "error":
        raise StreamError(f"the server refused the subscription: {frame.get('detail')}")
    if frame.get("type") == "lagged":
        raise StreamError(f"the client lagged at seq {frame.get('seq')}")
    return frame


async def _read(
    url: str,
    *,
    count: int | None,
    until: FramePredicate | None,
    deadline: float,
    headers: Mapping[str, str] | None,
) -> tuple[list[Frame], bool]:
    """Event frames of one connection: at most `count`, or up to and including the first
    that matches `until`; (frames, whether `until` matched)."""
    frames: list[Frame] = []
    async with connect(url, additional_headers=dict(headers or {}), max_size=None) as ws:
        try:
            ready = await _next(ws, deadline, "the ready frame")
            if ready.get("type") != "ready":
                raise StreamError(f"expected the ready frame first, got {ready!r}")
            while count is None or len(frames) < count:
                frame = await _next(ws, deadline, "event frames")
                if frame.get("type") in CONTROL_TYPES:
                    continue
                frames.append(frame)
                if until is not None and until(frame):
                    return frames, True
        finally:
            # Cut off, as by a network failure: no closing handshake, which would also wait
            # (up to websockets' close_timeout) behind the frames still unread.
            ws.transport.abort()
    return frames, False


async def collect_frames(
    base: str,
    *,
    since: int | None = None,
    part: int | None = None,
    thread_id: str | None = None,
    types: Iterable[str] | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    until: FramePredicate | None = None,
    limit: int | None = None,
    timeout: float = 30.0,
) -> list[Frame]:
    """One connection from (`since`, `part`): its event frames up to and including the first
    that matches `until`, or the first `limit` of them (one of the two is needed)."""
    if until is None and limit is None:
        raise ValueError("give until or limit, or the collection would never end")
    url = stream_url(base, since=since, part=part, thread_id=thread_id, types=types, token=token)
    frames, _ = await _read(
        url, count=limit, until=until, deadline=anyio.current_time() + timeout, headers=headers
    )
    return frames


@attrs.frozen
class ResumeRun:
    frames: list[Frame]
    """Every event frame received, over all connections, in order."""
    cuts: list[int]
    """After how many frames of `frames` each connection but the last ended."""

    @property
    def connections(self) -> int:
        """How many connections it took (resumes = connections - 1)."""
        return len(self.cuts) + 1

    @property
    def cuts_inside_an_event(self) -> int:
        """Cuts that fell between two frames of one event (the case `part` exists for)."""
        frames = self.frames
        return sum(
            1
            for cut in self.cuts
            if 0 < cut < len(frames) and (frames[cut - 1]["seq"] == frames[cut]["seq"])
        )


async def resume_repeatedly(
    base: str,
    *,
    since: int,
    until: FramePredicate,
    cut: Callable[[], int],
    thread_id: str | None = None,
    types: Iterable[str] | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    max_connections: int = 10_000,
    timeout: float = 120.0,
) -> ResumeRun:
    """A client cut off again and again: each connection reads `cut()` (>= 1) event frames,
    closes, and the next resumes from the cursor of the last frame read, until a frame
    matches `until` (within `timeout` seconds and `max_connections` connections)."""
    deadline = anyio.current_time() + timeout
    cursor = Cursor(since)
    frames: list[Frame] = []
    cuts: list[int] = []
    for _ in range(max_connections):
        count = cut()
        if count < 1:
            raise ValueError(f"cut() must return at least 1, got {count}")
        url = stream_url(
            base,
            since=cursor.seq,
            part=cursor.part,
            thread_id=thread_id,
            types=types,
            token=token,
        )
        got, done = await _read(url, count=count, until=until, deadline=deadline, headers=headers)
        frames.extend(got)
        if got:
            cursor = Cursor.after(got[-1])
        if done:
            return ResumeRun(frames, cuts)
        cuts.append(len(frames))
    raise TimeoutError(f"`until` did not match within {max_connections} connections")


@attrs.frozen
class FrameDiff:
    lost: list[tuple[int, int]]
    """(seq, part) of frames the uninterrupted subscriber got and the resuming one did not."""
    duplicated: list[tuple[int, int]]
    unexpected: list[tuple[int, int]]
    """Frames only the resuming subscriber got."""
    different: list[tuple[int, int]]
    """Frames both got, with different contents."""
    in_order: bool

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unexpected or self.different) and (
            self.in_order
        )


def frame_id(frame: Mapping[str, Any]) -> tuple[int, int]:
    return int(frame["seq"]), int(frame.get("part", 0))


def compare_frames(expected: list[Frame], got: list[Frame]) -> FrameDiff:
    """Compare, frame by frame, what an uninterrupted subscriber received (`expected`) with
    what a resuming one received (`got`)."""
    wanted = {frame_id(frame): frame for frame in expected}
    seen: dict[tuple[int, int], Frame] = {}
    duplicated = []
    for frame in got:
        key = frame_id(frame)
        if key in seen:
            duplicated.append(key)
        seen[key] = frame
    return FrameDiff(
        lost=[key for key in wanted if key not in seen],
        duplicated=duplicated,
        unexpected=[key for key in seen if key not in wanted],
        different=[key for key in wanted if key in seen and seen[key] != wanted[key]],
        in_order=[frame_id(frame) for frame in got] == sorted(frame_id(frame) for frame in got),
    )

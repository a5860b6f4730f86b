"""The frames of `GET /api/stream`: rendering ledger events, parsing client commands.

Every ledger event becomes one frame `{type, threadId, payload, seq, part, at}` (the
original's envelope plus our `seq`, `part` and `at`). A notification from the runtime
(`app_server.*` with `signalType: notification`) also becomes the original's raw
`notification` frame `{method, params}` and, for a few methods, an alias frame whose payload
is the params. The frames of one event share its seq and are numbered by `part` (0, 1, 2 in
the order they are sent), so (seq, part) identifies a frame and is a client's exact resume
point: `since=seq&part=part` sends what follows that frame, also the rest of a half-received
event (`since` alone: what follows the whole event).

A socket following some threads gets every frame of their events, and of the events of other
threads or of none only the frames the original broadcast to every socket
(`EventFrames.broadcast`): the manager's own thread-less events (projects, runtime state),
`session_deleted`/`session_project_updated` of any session, and the account/app/MCP alias
frames. The runtime's other thread-less notifications (config warnings, remote-control
status, the raw frames of account notifications) go only to sockets following every thread.

Frames are encoded once per event, not once per socket: `FrameCache` keeps the encoded
frames of the most recent events, so fanning one event out to many sockets encodes it once.

Commands (`parse_command`) are validated here completely, so the handler only acts on
well-formed ones; anything else raises `CommandError` whose `detail` says what was wrong.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
import msgspec

from codex_manager_core.events.bus import BROADCAST_TYPES
from codex_manager_core.models import Event
from codex_manager_core.serde import iso

#: The original's error message for every invalid command (clients match on it).
INVALID_COMMAND: Final = "invalid websocket command"
#: Most thread ids one subscription may name.
MAX_THREAD_IDS: Final = 1000
#: Most type prefixes one subscription may name.
MAX_TYPES: Final = 100
#: Longest accepted thread id / type prefix (the ledger's own limits).
MAX_ID_CHARS: Final = 200

#: Notification aliases whose frame carries the event's thread (the original's
#: thread-scoped ones).
THREAD_ALIASES: Final[Mapping[str, str]] = {
    "turn/plan/updated": "turn_plan_updated",
    "turn/diff/updated": "turn_diff_updated",
    "thread/tokenUsage/updated": "thread_token_usage_updated",
}
#: Notification aliases the original broadcast to every socket (they belong to no thread,
#: so filtered sockets get them too, as thread-less events).
BROADCAST_ALIASES: Final[Mapping[str, str]] = {
    "app/list/updated": "app_list_updated",
    "mcpServer/oauthLogin/completed": "mcp_oauth_completed",
    "account/updated": "account_updated",
    "account/login/completed": "account_login_completed",
    "account/rateLimits/updated": "account_rate_limits_updated",
}
ALIASES: Final[Mapping[str, str]] = {**THREAD_ALIASES, **BROADCAST_ALIASES}

_encoder = msgspec.json.Encoder()


def encode(frame: Mapping[str, Any]) -> str:
    """One frame as compact JSON text (UTF-8 kept as is)."""
    try:
        return _encoder.encode(frame).decode()
    except (TypeError, msgspec.EncodeError):
        # Not plain JSON data (ledger payloads always are; this is a safety net).
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, default=str)


# ---------------------------------------------------------------------- event frames


def event_frames(event: Event) -> list[dict[str, Any]]:
    """The frames of one ledger event, in the order they are sent (`part` 0, 1, ...)."""
    thread_id = event.thread_id
    seq = event.seq
    at = iso(event.at)
    payload = event.payload
    frames: list[dict[str, Any]] = [
        {
            "type": event.type,
            "threadId": thread_id,
            "payload": payload,
            "seq": seq,
            "part": 0,
            "at": at,
        }
    ]
    if (
        event.type.startswith("app_server.")
        and isinstance(payload, Mapping)
        and payload.get("signalType") == "notification"
    ):
        method = payload.get("method")
        params = payload.get("params")
        frames.append(
            {
                "type": "notification",
                "threadId": thread_id,
                "payload": {"method": method, "params": params},
                "seq": seq,
                "part": 1,
                "at": at,
            }
        )
        alias = ALIASES.get(method) if isinstance(method, str) else None
        if alias is not None:
            # The original sent `params ?? {}`.
            frames.append(
                {
                    "type": alias,
                    "threadId": thread_id,
                    "payload": params if params is not None else {},
                    "seq": seq,
                    "part": 2,
                    "at": at,
                }
            )
    return frames


def broadcast_parts(event: Event, frames: Sequence[Mapping[str, Any]]) -> tuple[int, ...]:
    """The parts of `event` that reach a socket whose thread filter leaves its thread out."""
    if (event.thread_id is None and not event.type.startswith("app_server.")) or (
        event.type in BROADCAST_TYPES
    ):
        return tuple(range(len(frames)))  # the manager's own broadcast events
    return tuple(
        part for part, frame in enumerate(frames) if frame["type"] in _BROADCAST_ALIAS_TYPES
    )


_BROADCAST_ALIAS_TYPES: Final = frozenset(BROADCAST_ALIASES.values())


@attrs.frozen
class EventFrames:
    """The encoded frames of one event (`texts[part]`)."""

    seq: int
    thread_id: str | None
    texts: tuple[str, ...]
    broadcast: tuple[int, ...]
    """The parts sent to a socket that follows other threads (`broadcast_parts`)."""

    def parts_for(
        self, thread_ids: frozenset[str] | None, after_part: int | None = None
    ) -> tuple[str, ...]:
        """The texts a socket following `thread_ids` (None: every thread) gets, after part
        `after_part` when it resumes in the middle of this event."""
        if thread_ids is None or self.thread_id in thread_ids:
            if after_part is None:
                return self.texts  # the common case: everything, nothing to compute
            parts: Iterable[int] = range(len(self.texts))
        else:
            parts = self.broadcast
        if after_part is not None:
            parts = (part for part in parts if part > after_part)
        texts = self.texts
        return tuple(texts[part] for part in parts)


def encode_event(event: Event) -> EventFrames:
    frames = event_frames(event)
    return EventFrames(
        event.seq,
        event.thread_id,
        tuple(encode(frame) for frame in frames),
        broadcast_parts(event, frames),
    )


class FrameCache:
    """Encoded frames of the most recent events, by seq (seq is unique in one ledger).

    Sockets read the same events at about the same time, so a small window makes every
    event encoded once however many sockets receive it. Not thread-safe: one event loop.
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._frames: dict[int, EventFrames] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._frames)

    def frames(self, event: Event) -> EventFrames:
        found = self._frames.get(event.seq)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        encoded = encode_event(event)
        frames = self._frames
        if len(frames) >= self.capacity:
            # Dicts keep insertion order: drop the oldest entry.
            del frames[next(iter(frames))]
        frames[event.seq] = encoded
        return encoded


# ---------------------------------------------------------------------- control frames


def ready_frame(thread_id: str | None, seq: int) -> str:
    return encode({"type": "ready", "threadId": thread_id, "seq": seq})


def pong_frame() -> str:
    return '{"type":"pong"}'


def error_frame(detail: str) -> str:
    return encode({"type": "error", "message": INVALID_COMMAND, "detail": detail})


def lagged_frame(seq: int) -> str:
    """Sent between two events (never inside one): `since=seq` resumes exactly."""
    return encode({"type": "lagged", "seq": seq})


def subscribed_frame(
    thread_ids: Sequence[str] | None,
    types: Sequence[str] | None,
    since: int | None,
    seq: int,
    part: int | None = None,
) -> str:
    return encode(
        {
            "type": "subscribed",
            "threadIds": None if thread_ids is None else list(thread_ids),
            "types": None if types is None else list(types),
            "since": since,
            "part": part,
            "seq": seq,
        }
    )


# ---------------------------------------------------------------------- commands


class CommandError(ValueError):
    """An invalid command or query; `detail` says what was wrong (sent to the client)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@attrs.frozen
class Keep:
    """A subscribe field the command left out: the socket keeps its current value."""


KEEP: Final = Keep()


@attrs.frozen
class Subscribe:
    """Replace the socket's subscription.

    `thread_ids`: the threads (None: every thread; KEEP: as before). `types`: type
    prefixes (None: every type; KEEP: as before). `since`: replay the events after this
    seq first (None: live events only). `part`: with `since`, first the frames of event
    `since` after this part (the client got the event only up to that frame).
    """

    thread_ids: tuple[str, ...] | Keep | None = KEEP
    types: tuple[str, ...] | Keep | None = KEEP
    since: int | None = None
    part: int | None = None


@attrs.frozen
class Unsubscribe:
    """Drop every filter: all events (but those of system sessions), live."""


@attrs.frozen
class Ping:
    pass


Command = Subscribe | Unsubscribe | Ping


def _thread_id(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise CommandError(f"{where} must be a string, got {_kind(value)}")
    _check_token(value, where)
    return value


def _check_token(value: str, where: str) -> None:
    if not value or len(value) > MAX_ID_CHARS:
        raise CommandError(f"{where} must be 1-{MAX_ID_CHARS} characters long")
    if not all(char.isascii() and (char.isalnum() or char in "._:-") for char in value):
        raise CommandError(f"{where} may hold only letters, digits and ._:- (got {value!r})")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _thread_ids(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise CommandError(f"threadIds must be an array of strings or null, got {_kind(value)}")
    if len(value) > MAX_THREAD_IDS:
        raise CommandError(f"threadIds may name at most {MAX_THREAD_IDS} threads, got {len(value)}")
    return tuple(
        dict.fromkeys(_thread_id(item, f"threadIds[{index}]") for index, item in enumerate(value))
    )


def _types(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise CommandError(f"types must be an array of strings or null, got {_kind(value)}")
    if len(value) > MAX_TYPES:
        raise CommandError(f"types may hold at most {MAX_TYPES} prefixes, got {len(value)}")
    checked: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise CommandError(f"types[{index}] must be a string, got {_kind(item)}")
        if not item or len(item) > MAX_ID_CHARS:
            raise CommandError(f"types[{index}] must be 1-{MAX_ID_CHARS} characters long")
        checked.append(item)
    return tuple(dict.fromkeys(checked))


def _since(value: object, where: str = "since") -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{where} must be a non-negative integer, got {_kind(value)}")
    if value < 0:
        raise CommandError(f"{where} must be a non-negative integer, got {value}")
    return value


def _part(value: object, since: int | None, where: str = "part") -> int | None:
    checked = _since(value, where)
    if checked is not None and since is None:
        raise CommandError(f"{where} needs since (the seq of the event it is a part of)")
    return checked


_SUBSCRIBE_FIELDS: Final = frozenset({"type", "threadId", "threadIds", "types", "since", "part"})


def parse_command(raw: str | bytes) -> Command:
    """A client command, validated (CommandError otherwise)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            raise CommandError("the command is not UTF-8 text") from None
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        raise CommandError("the command is not valid JSON") from None
    if not isinstance(message, dict):
        raise CommandError(f"a command must be a JSON object, got {_kind(message)}")
    kind = message.get("type")
    if kind == "ping":
        return Ping()
    if kind == "unsubscribe":
        return Unsubscribe()
    if kind != "subscribe":
        if not isinstance(kind, str):
            raise CommandError("the command has no string field 'type'")
        raise CommandError(
            f"unknown command type {kind[:50]!r} (expected subscribe, unsubscribe or ping)"
        )
    unknown = sorted(set(message) - _SUBSCRIBE_FIELDS)
    if unknown:
        raise CommandError(f"unknown subscribe fields: {', '.join(repr(k[:50]) for k in unknown)}")
    has_one = "threadId" in message
    has_many = "threadIds" in message
    if has_one and has_many:
        raise CommandError("give either threadId or threadIds, not both")
    thread_ids: tuple[str, ...] | Keep | None = KEEP
    if has_one:
        one = message["threadId"]
        thread_ids = None if one is None else (_thread_id(one, "threadId"),)
    elif has_many:
        thread_ids = _thread_ids(message["threadIds"])
    types: tuple[str, ...] | Keep | None = KEEP
    if "types" in message:
        types = _types(message["types"])
    since = _since(message.get("since"))
    return Subscribe(thread_ids, types, since, _part(message.get("part"), since))


@attrs.frozen
class StreamQuery:
    """The query of `GET /api/stream`: the initial subscription."""

    thread_id: str | None = None
    types: tuple[str, ...] | None = None
    since: int | None = None
    part: int | None = None

    @property
    def thread_ids(self) -> tuple[str, ...] | None:
        return None if self.thread_id is None else (self.thread_id,)


def parse_query(get_all: Mapping[str, Sequence[str]] | Iterable[tuple[str, str]]) -> StreamQuery:
    """`threadId` (the original's), `since`, `part` and `types` (comma-separated, may
    repeat)."""
    values: dict[str, list[str]] = collections.defaultdict(list)
    items = get_all.items() if isinstance(get_all, Mapping) else get_all
    for key, value in items:
        if isinstance(value, str):
            values[key].append(value)
        else:
            values[key].extend(value)
    thread_id: str | None = None
    threads = values.get("threadId", [])
    if len(threads) > 1:
        raise CommandError("give threadId once (subscribe with threadIds for many threads)")
    if threads and threads[0] != "":
        thread_id = _thread_id(threads[0], "threadId")
    since = _query_int(values, "since")
    part = _query_int(values, "part")
    if part is not None and since is None:
        raise CommandError("part needs since (the seq of the event it is a part of)")
    types: tuple[str, ...] | None = None
    if "types" in values:
        prefixes = [part.strip() for value in values["types"] for part in value.split(",")]
        types = _types([prefix for prefix in prefixes if prefix]) or None
    return StreamQuery(thread_id, types, since, part)


def _query_int(values: Mapping[str, list[str]], name: str) -> int | None:
    given = values.get(name, [])
    if len(given) > 1:
        raise CommandError(f"give {name} once")
    if not given or given[0] == "":
        return None
    text = given[0].strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise CommandError(f"{name} must be a non-negative integer, got {given[0][:50]!r}")
    return int(text)

"""The frames of `GET /api/stream`: rendering ledger events, parsing client commands.

Every ledger event becomes one frame `{type, threadId, payload, seq, at}` (the original's
envelope plus our `seq` and `at`). A notification from the runtime (`app_server.*` with
`signalType: notification`) also becomes the original's raw `notification` frame
`{method, params}` and, for a few methods, an alias frame whose payload is the params. The
frames of one event share its seq: a frame is identified by (seq, type).

Frames are encoded once per event, not once per socket: `FrameCache` keeps the encoded
texts of the most recent events, so fanning one event out to many sockets encodes it once.

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
    """The frames of one ledger event, in the order they are sent."""
    thread_id = event.thread_id
    seq = event.seq
    at = iso(event.at)
    payload = event.payload
    frames: list[dict[str, Any]] = [
        {"type": event.type, "threadId": thread_id, "payload": payload, "seq": seq, "at": at}
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
                    "at": at,
                }
            )
    return frames


def encode_event(event: Event) -> tuple[str, ...]:
    return tuple(encode(frame) for frame in event_frames(event))


class FrameCache:
    """Encoded frames of the most recent events, by seq (seq is unique in one ledger).

    Sockets read the same events at about the same time, so a small window makes every
    event encoded once however many sockets receive it. Not thread-safe: one event loop.
    """

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._frames: dict[int, tuple[str, ...]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._frames)

    def frames(self, event: Event) -> tuple[str, ...]:
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
    return encode({"type": "lagged", "seq": seq})


def subscribed_frame(
    thread_ids: Sequence[str] | None, types: Sequence[str] | None, since: int | None, seq: int
) -> str:
    return encode(
        {
            "type": "subscribed",
            "threadIds": None if thread_ids is None else list(thread_ids),
            "types": None if types is None else list(types),
            "since": since,
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
    seq first (None: live events only).
    """

    thread_ids: tuple[str, ...] | Keep | None = KEEP
    types: tuple[str, ...] | Keep | None = KEEP
    since: int | None = None


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


_SUBSCRIBE_FIELDS: Final = frozenset({"type", "threadId", "threadIds", "types", "since"})


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
    return Subscribe(thread_ids, types, _since(message.get("since")))


@attrs.frozen
class StreamQuery:
    """The query of `GET /api/stream`: the initial subscription."""

    thread_id: str | None = None
    types: tuple[str, ...] | None = None
    since: int | None = None

    @property
    def thread_ids(self) -> tuple[str, ...] | None:
        return None if self.thread_id is None else (self.thread_id,)


def parse_query(get_all: Mapping[str, Sequence[str]] | Iterable[tuple[str, str]]) -> StreamQuery:
    """`threadId` (the original's), `since` and `types` (comma-separated, may repeat)."""
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
    since: int | None = None
    given_since = values.get("since", [])
    if len(given_since) > 1:
        raise CommandError("give since once")
    if given_since and given_since[0] != "":
        text = given_since[0].strip()
        if not text.isascii() or not text.isdigit() or len(text) > 19:
            raise CommandError(f"since must be a non-negative integer, got {given_since[0][:50]!r}")
        since = int(text)
    types: tuple[str, ...] | None = None
    if "types" in values:
        prefixes = [part.strip() for value in values["types"] for part in value.split(",")]
        types = _types([prefix for prefix in prefixes if prefix]) or None
    return StreamQuery(thread_id, types, since)

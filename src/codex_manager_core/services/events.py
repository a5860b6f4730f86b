"""The event ledger as users see it: subscribe (replay, then live), read pages, handlers,
and compaction of streaming deltas (`manager.events`)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any, Final, TypeVar

from codex_manager_core.errors import InvalidInput, StoreUnavailable
from codex_manager_core.events.bus import EventFilter, Subscription
from codex_manager_core.models import Event, Lagged
from codex_manager_core.ports.store import CompactDeltas, EventQuery
from codex_manager_core.services.context import ServiceContext, check_id

logger = logging.getLogger("codex_manager_core.manager")

Handler = TypeVar("Handler", bound=Callable[..., Any])
MAX_EVENT_PAGE: Final = 1000


class EventsService:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    @property
    def last_seq(self) -> int:
        """The seq of the last event published (0 before the first)."""
        return self._ctx.bus.last_seq

    def subscribe(
        self,
        *,
        thread_ids: Iterable[str] | None = None,
        types: Iterable[str] | None = None,
        since: int | None = None,
        buffer: int | None = None,
        include_thread_less: bool = False,
    ) -> Subscription:
        """Events as an async iterator: with `since`, first every stored event after that
        seq, then live ones, with no gap and no duplicate. Filters: thread ids (many) and
        type prefixes. A subscriber that falls `buffer` events behind receives
        `Lagged(seq)` and ends; subscribe again with `since=seq`."""
        thread_list = (
            None
            if thread_ids is None
            else [check_id(t, "thread_id") for t in _many(thread_ids, "thread_ids")]
        )
        type_list = None if types is None else [_check_type(t) for t in _many(types, "types")]
        if since is not None and (
            not isinstance(since, int) or isinstance(since, bool) or since < 0
        ):
            raise InvalidInput(
                f"since must be a non-negative integer, got {since!r}",
                issues=[{"path": ["since"], "message": "invalid"}],
            )
        if buffer is not None and (not isinstance(buffer, int) or buffer < 1):
            raise InvalidInput(
                "buffer must be a positive integer",
                issues=[{"path": ["buffer"], "message": "invalid"}],
            )
        return self._ctx.bus.subscribe(
            EventFilter.of(thread_list, type_list, include_thread_less=include_thread_less),
            since=since,
            buffer=buffer,
        )

    async def read(
        self,
        *,
        since: int = 0,
        limit: int = 100,
        thread_ids: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> list[Event]:
        """Stored events after `since` (ascending seq), at most `limit`."""
        if not isinstance(since, int) or isinstance(since, bool) or since < 0:
            raise InvalidInput(
                "since must be a non-negative integer",
                issues=[{"path": ["since"], "message": "invalid"}],
            )
        if (
            not isinstance(limit, int)
            or isinstance(limit, bool)
            or not 1 <= limit <= MAX_EVENT_PAGE
        ):
            raise InvalidInput(
                f"limit must be an integer from 1 to {MAX_EVENT_PAGE}",
                issues=[{"path": ["limit"], "message": "out of range"}],
            )
        return await self._ctx.store.read_events(
            EventQuery(
                since=since,
                limit=limit,
                thread_ids=None
                if thread_ids is None
                else frozenset(check_id(t, "thread_id") for t in _many(thread_ids, "thread_ids")),
                type_prefixes=None
                if types is None
                else tuple(_check_type(t) for t in _many(types, "types")),
            )
        )

    def on(
        self, *types: str, thread_ids: Iterable[str] | None = None
    ) -> Callable[[Handler], Handler]:
        """Decorator: call `handler(event)` (sync or async) for every live event whose type
        starts with one of `types` (all events if none). Handlers run in their own task,
        one event at a time, and their errors are logged, never raised into the manager.

            @manager.events.on("app_server.item.agent_message.delta")
            async def show(event): print(event.payload["params"]["delta"], end="")
        """

        def register(handler: Handler) -> Handler:
            subscription = self.subscribe(
                thread_ids=thread_ids, types=list(types) or None, include_thread_less=True
            )
            self._ctx.spawn(f"handler {handler!r}", self._run_handler, handler, subscription)
            return handler

        return register

    async def _run_handler(
        self, handler: Callable[[Event], Any], subscription: Subscription
    ) -> None:
        while True:
            async with subscription:
                async for item in subscription:
                    if isinstance(item, Lagged):
                        logger.warning(
                            "handler %r fell behind; resuming from seq %d", handler, item.seq
                        )
                        subscription = self._ctx.bus.subscribe(subscription.filter, since=item.seq)
                        break
                    try:
                        result = handler(item)
                        if inspect.isawaitable(result):
                            await result
                    except Exception:
                        logger.exception("event handler %r failed on %s", handler, item.type)
                else:
                    return

    async def compact(self, *, older_than: float | None = None) -> None:
        """Drop streaming deltas of completed items older than `older_than` seconds (default:
        the configured retention). The completed items keep their full content."""
        age = self._ctx.config.delta_retention if older_than is None else older_than
        if age is None:
            return
        await self._ctx.write([CompactDeltas(self._ctx.now() - timedelta(seconds=age))])

    async def compaction_loop(self) -> None:
        while True:
            await self._ctx.clock.sleep(self._ctx.config.compaction_interval)
            try:
                await self.compact()
            except StoreUnavailable as exc:
                logger.warning("ledger compaction skipped: %s", exc.reason)
            except Exception:
                logger.exception("ledger compaction failed")


def _many(values: Iterable[str], what: str) -> Iterable[str]:
    """A list of strings: a lone string would otherwise be taken letter by letter."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise InvalidInput(
            f"{what} must be a list of strings, got {values!r}",
            issues=[{"path": [what], "message": "not a list"}],
        )
    return values


def _check_type(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidInput(
            f"event type filters must be non-empty strings, got {value!r}",
            issues=[{"path": ["types"], "message": "invalid"}],
        )
    return value

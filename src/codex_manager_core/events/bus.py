"""Fan-out of ledger events to subscribers, with replay and without back-pressure.

`EventBus.publish` is called by the ledger writer right after a batch committed, in seq
order. It never waits: each subscriber has a bounded buffer, and one that is full is cut
off and told `Lagged(seq)`, where `seq` is the last event it consumed; it resumes with
`since=seq` and catches up from the store. A slow consumer therefore costs the runtime and
the other consumers nothing.

A subscription with `since` first replays the stored events after `since`, then continues
live with no gap and no duplicate: it registers for live events and notes the last
published seq in the same synchronous step, replays (since, that seq] from the store, then
drains what arrived live meanwhile.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Final, Self

import anyio
import attrs

from codex_manager_core.models import Event, Lagged
from codex_manager_core.ports import Store
from codex_manager_core.ports.store import EventQuery

DEFAULT_BUFFER = 10_000
REPLAY_PAGE = 1000


#: Events about one session that every subscriber asking for thread-less events also gets,
#: as the original broadcast them: a list view must learn that a session it does not follow
#: was deleted or moved to another project.
BROADCAST_TYPES: Final = frozenset({"session_deleted", "session_project_updated"})


@attrs.frozen
class EventFilter:
    """Which events a subscriber wants.

    - `thread_ids`: only events of these threads (None: every thread). Events of
      system-owned sessions are delivered only to subscribers naming their thread.
    - `include_thread_less`: with `thread_ids`, also deliver events that belong to no
      thread (project and runtime events) and the broadcast session events
      (`BROADCAST_TYPES`).
    - `types`: type prefixes, e.g. ("app_server.item.", "approval"); None: all.
    """

    thread_ids: frozenset[str] | None = None
    types: tuple[str, ...] | None = None
    include_thread_less: bool = False

    @classmethod
    def of(
        cls,
        thread_ids: Iterable[str] | None = None,
        types: Iterable[str] | None = None,
        *,
        include_thread_less: bool = False,
    ) -> EventFilter:
        return cls(
            None if thread_ids is None else frozenset(thread_ids),
            None if types is None else tuple(types),
            include_thread_less,
        )

    def matches(self, event: Event) -> bool:
        thread_ids = self.thread_ids
        if event.system:
            if thread_ids is None or event.thread_id not in thread_ids:
                return False
        elif (
            thread_ids is not None
            and event.thread_id not in thread_ids
            and not (
                self.include_thread_less
                and (event.thread_id is None or event.type in BROADCAST_TYPES)
            )
        ):
            return False
        types = self.types
        return types is None or event.type.startswith(types)

    def store_queries(self, since: int, until: int, limit: int) -> tuple[EventQuery, ...]:
        """The store-side part of this filter (`matches` does the rest). A store query
        cannot say "these threads or none": with `include_thread_less` and `thread_ids`,
        one query reads the named threads (their system events included) and one every
        non-system event (for the thread-less ones)."""
        everything = EventQuery(
            since=since, until=until, limit=limit, thread_ids=None, type_prefixes=self.types
        )
        if self.thread_ids is None:
            return (everything,)
        named = attrs.evolve(everything, thread_ids=self.thread_ids)
        return (named, everything) if self.include_thread_less else (named,)


class Subscription:
    """An async iterator of `Event`s (then possibly one `Lagged`). Close it when done, or use
    it as an async context manager."""

    def __init__(
        self, bus: EventBus, event_filter: EventFilter, since: int | None, buffer: int
    ) -> None:
        self._bus = bus
        self.filter = event_filter
        self._buffer: collections.deque[Event] = collections.deque()
        self._capacity = buffer
        self._wakeup = anyio.Event()
        # Registered in the same synchronous step as reading the bus head: no gap.
        self._live_after = bus.last_seq
        replay_from = self._live_after if since is None else min(since, self._live_after)
        self._last_consumed = replay_from if since is None else since
        self._replay_cursor = replay_from
        self._replay_page: collections.deque[Event] | None = (
            collections.deque() if replay_from < self._live_after else None
        )
        self._lagged = False
        self._closed = False

    @property
    def last_seq(self) -> int:
        """The seq of the last event this subscription yielded (its resume cursor)."""
        return self._last_consumed

    def offer(self, events: Sequence[Event]) -> None:
        """Called by the bus with each published batch (synchronous, never blocks): keep the
        matching events, wake the consumer once."""
        if self._lagged or self._closed:
            return
        matches = self.filter.matches
        accepted = [event for event in events if matches(event)]
        if not accepted:
            return
        if len(self._buffer) + len(accepted) > self._capacity:
            self._lagged = True
            self._buffer.clear()
        else:
            self._buffer.extend(accepted)
        self._wakeup.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event | Lagged:
        while not self._closed:
            if self._replay_page is not None:
                event = await self._next_replayed()
                if event is not None:
                    self._last_consumed = event.seq
                    return event
                continue
            if self._lagged:
                self.close()
                return Lagged(self._last_consumed)
            if not self._buffer:
                await self._wakeup.wait()
                self._wakeup = anyio.Event()
                continue
            event = self._buffer.popleft()
            if event.seq <= self._last_consumed:
                continue  # already replayed from the store
            self._last_consumed = event.seq
            return event
        raise StopAsyncIteration

    async def _next_replayed(self) -> Event | None:
        """The next replayed event, or None when this page is done (a new page was read, or
        replay is over)."""
        page = self._replay_page
        assert page is not None
        while page:
            event = page.popleft()
            if self.filter.matches(event):
                return event
        if self._replay_cursor >= self._live_after:
            self._replay_page = None
            return None
        end = self._live_after
        merged: dict[int, Event] = {}
        for query in self.filter.store_queries(self._replay_cursor, end, REPLAY_PAGE):
            events = await self._bus.store.read_events(query)
            if len(events) >= REPLAY_PAGE:
                end = min(end, events[-1].seq)  # this query has more after its page
            merged.update((event.seq, event) for event in events)
        self._replay_cursor = end
        self._replay_page = collections.deque(merged[seq] for seq in sorted(merged) if seq <= end)
        return None

    async def next(self, timeout: float | None = None) -> Event | Lagged:
        """The next event (bounded wait when `timeout` is given: raises TimeoutError).
        Raises StopAsyncIteration once the subscription is closed."""
        if timeout is None:
            return await self.__anext__()
        with anyio.fail_after(timeout):
            return await self.__anext__()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._bus._unsubscribe(self)
            self._wakeup.set()

    async def aclose(self) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """Delivers published events to every matching subscription."""

    def __init__(self, store: Store, *, last_seq: int = 0, buffer: int = DEFAULT_BUFFER) -> None:
        self.store = store
        self.last_seq = last_seq
        self.buffer = buffer
        self._subscriptions: set[Subscription] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        *,
        since: int | None = None,
        buffer: int | None = None,
    ) -> Subscription:
        """Live events from now on, or (with `since`) everything after seq `since` first."""
        if since is not None and since < 0:
            raise ValueError(f"since must be >= 0, got {since}")
        subscription = Subscription(
            self, event_filter or EventFilter(), since, buffer or self.buffer
        )
        self._subscriptions.add(subscription)
        return subscription

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.last_seq = events[-1].seq
        for subscription in tuple(self._subscriptions):
            subscription.offer(events)

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

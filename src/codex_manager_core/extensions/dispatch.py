"""`ExtensionDispatcher`: extension events to their handlers, and what they return to the
core's action executor.

`run` is a background task of the Manager: it reads the ledger through the bus (never on
the notification path, so a slow or failing handler delays nothing of the foreground
stream; on `Lagged` it resubscribes from its seq: the ledger is durable, nothing is lost),
synthesizes the extension events (events.py) and emits each, in ledger order. `emit` can
also be called directly (the suggested-request route needs its enqueue result at once).

One emit: the subscribers in dispatch order (priority, module, registration index), one at
a time. Each handler runs under its own timeout on the Manager's clock with a fresh
`ScopedToolbox`, closed when it returns or times out. An async handler past its timeout is
cancelled. A sync handler runs in a worker thread; past its timeout the thread is
abandoned (Python cannot kill a thread: it runs on, its toolbox closed, its result
ignored); only process isolation can kill such a handler. An exception, a timeout or an
invalid return value is a `handler_error` envelope; the next handler runs.

Action requests: checked against the extension's declared capabilities (`action_allowed`:
refused -> `forbidden` `undeclared_capability`), adapted to the executor's payload
(results.py) and run by the core's `ActionExecutor` in the event's scope (owner, project,
session, turn), as `extension:<module>` with the request's idempotency key. The first
performed action wins: later action requests of the same emit are `not_eligible`, not run.

Each emit gives an `EmitSummary` (logged at info; the last 100 kept for `recent()`, not
written to the ledger).
"""

from __future__ import annotations

import collections
import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.abc

from codex_manager_core.actions.executor import ActionExecutor
from codex_manager_core.actions.kinds import OutOfScope
from codex_manager_core.actions.model import ActionRequest as CoreActionRequest
from codex_manager_core.actions.model import ActionResult, ActionScope, ActionStatus
from codex_manager_core.errors import CodexManagerError
from codex_manager_core.events.bus import EventFilter
from codex_manager_core.extensions.api import (
    ActionRequest,
    EnqueueResult,
    ExtensionEvent,
    HandlerResult,
    Subscription,
)
from codex_manager_core.extensions.events import SOURCE_TYPES, EventSynthesizer
from codex_manager_core.extensions.model import (
    ActionOutcome,
    EmitSummary,
    Envelope,
    EnvelopeKind,
    LoadedExtension,
)
from codex_manager_core.extensions.results import InvalidResult, adapt_action, normalize
from codex_manager_core.extensions.toolbox import JobsPort, ScopedToolbox, SettingsPort, owner_of
from codex_manager_core.models import Event, Lagged
from codex_manager_core.services.context import ServiceContext

logger = logging.getLogger("codex_manager_core.extensions.dispatch")

SubscriptionsFor = Callable[[str], Sequence[tuple[LoadedExtension, Subscription]]]
"""The subscribers of an event type, in dispatch order (the loader's snapshot)."""
ActionAllowed = Callable[[LoadedExtension, str], tuple[bool, str | None]]
"""Whether an extension may request an action type (trust), and why not."""

RECENT = 100

_STATUS: dict[ActionStatus, ActionOutcome] = {
    ActionStatus.PERFORMED: ActionOutcome.PERFORMED,
    ActionStatus.ALREADY_PERFORMED: ActionOutcome.ALREADY_RESOLVED,
    ActionStatus.FORBIDDEN: ActionOutcome.FORBIDDEN,
    ActionStatus.INVALID: ActionOutcome.INVALID,
    ActionStatus.FAILED: ActionOutcome.FAILED,
    ActionStatus.CONFLICT: ActionOutcome.CONFLICT,
}


def no_subscriptions(_event_type: str) -> Sequence[tuple[LoadedExtension, Subscription]]:
    return ()


def allow_all(_extension: LoadedExtension, _action_type: str) -> tuple[bool, str | None]:
    return True, None


def outcome_of(result: ActionResult) -> ActionOutcome:
    """The executor's status as an extension's action outcome (an approval no longer
    pending was resolved by someone else: already_resolved)."""
    if result.status is ActionStatus.FAILED and (result.error or "").startswith("not_pending"):
        return ActionOutcome.ALREADY_RESOLVED
    return _STATUS[result.status]


def _is_async(handler: Any) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    )


class _Timeout(Exception):
    pass


_SOURCES = EventFilter.of(types=SOURCE_TYPES)


class ExtensionDispatcher:
    """See the module docstring."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        executor: ActionExecutor,
        jobs: JobsPort,
        settings: SettingsPort,
        subscriptions_for: SubscriptionsFor = no_subscriptions,
        action_allowed: ActionAllowed = allow_all,
        buffer: int | None = None,
    ) -> None:
        self._ctx = ctx
        self._clock = ctx.clock
        self._executor = executor
        self._jobs = jobs
        self._settings = settings
        self._subscriptions_for = subscriptions_for
        self._action_allowed = action_allowed
        self._buffer = buffer
        """The bus subscription's buffer (None: the bus's); past it the dispatcher lags and
        resubscribes."""
        self._recent: collections.deque[EmitSummary] = collections.deque(maxlen=RECENT)
        self._synthesizer = EventSynthesizer(self._project_of)

    def set_providers(
        self, subscriptions_for: SubscriptionsFor, action_allowed: ActionAllowed
    ) -> None:
        """Swap in the loader's snapshot and trust check (each emit reads them anew)."""
        self._subscriptions_for = subscriptions_for
        self._action_allowed = action_allowed

    def recent(self) -> list[EmitSummary]:
        """The last 100 emits' summaries, oldest first."""
        return list(self._recent)

    async def _project_of(self, session_id: str) -> str | None:
        record = await self._ctx.records.find(session_id)
        return record.project_id if record is not None else None

    def _subscribers(self, event_type: str) -> list[tuple[LoadedExtension, Subscription]]:
        """The subscribers of `event_type`, in dispatch order as the provider gives them
        (the loader sorts; none, logged, when the provider fails)."""
        try:
            return list(self._subscriptions_for(event_type))
        except Exception:
            logger.exception("the extension subscriptions of %s could not be read", event_type)
            return []

    # ------------------------------------------------------------------ the background task

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Emit the extension events of every ledger event from now on, in ledger order."""
        bus = self._ctx.bus
        subscription = bus.subscribe(_SOURCES, buffer=self._buffer)
        task_status.started()
        try:
            while True:
                try:
                    item = await subscription.__anext__()
                except StopAsyncIteration:
                    return
                if isinstance(item, Lagged):
                    logger.info("extension dispatch fell behind; resuming after seq %d", item.seq)
                    subscription.close()
                    subscription = bus.subscribe(_SOURCES, since=item.seq, buffer=self._buffer)
                    continue
                await self.dispatch(item)
        finally:
            subscription.close()

    async def dispatch(self, event: Event) -> list[EmitSummary]:
        """Emit the extension events one ledger event gives; never raises for a failure
        of a handler or of the synthesis."""
        # The subscribers of each type, looked up once per ledger event: asking whether an
        # event is wanted and emitting it need the same list (every delta comes here).
        found: dict[str, list[tuple[LoadedExtension, Subscription]]] = {}

        def wanted(event_type: str) -> bool:
            if event_type not in found:
                found[event_type] = self._subscribers(event_type)
            return bool(found[event_type])

        try:
            synthesized = await self._synthesizer.synthesize(event, wanted)
        except Exception:
            logger.exception("extension events of ledger event %d could not be built", event.seq)
            return []
        summaries = []
        for extension_event in synthesized:
            try:
                summaries.append(await self._emit(extension_event, found.get(extension_event.type)))
            except Exception:
                logger.exception("emitting %s failed", extension_event.type)
        return summaries

    # ------------------------------------------------------------------ one emit

    async def emit(self, event: ExtensionEvent) -> EmitSummary:
        """Run `event`'s handlers in dispatch order (see the module docstring)."""
        return await self._emit(event, None)

    async def _emit(
        self,
        event: ExtensionEvent,
        subscribers: list[tuple[LoadedExtension, Subscription]] | None,
    ) -> EmitSummary:
        if subscribers is None:
            subscribers = self._subscribers(event.type)
        envelopes: list[Envelope] = []
        performed: Envelope | None = None
        for extension, subscription in subscribers:
            envelope = await self._one(extension, subscription, event, performed is not None)
            envelopes.append(envelope)
            if (
                performed is None
                and envelope.kind is EnvelopeKind.ACTION_RESULT
                and envelope.status == ActionOutcome.PERFORMED.value
            ):
                performed = envelope
        summary = EmitSummary(
            event.type, event.correlation_id, len(subscribers), tuple(envelopes), performed
        )
        self._recent.append(summary)
        if subscribers:
            logger.info(
                "extension event %s (%s): %d handler(s): %s",
                event.type,
                event.correlation_id,
                len(subscribers),
                ", ".join(f"{e.module}={e.kind.value}:{e.status}" for e in envelopes),
            )
        return summary

    async def _one(
        self,
        extension: LoadedExtension,
        subscription: Subscription,
        event: ExtensionEvent,
        action_taken: bool,
    ) -> Envelope:
        module = extension.module_name
        error = functools.partial(Envelope, EnvelopeKind.HANDLER_ERROR, module, event.type)
        try:
            returned = await self._call(module, subscription, event)
        except _Timeout:
            return error(
                status="timeout",
                error=f"the handler did not return within {subscription.timeout:g} s",
            )
        except Exception as exc:
            logger.warning("extension %s failed on %s: %r", module, event.type, exc)
            # A core error keeps its code, so a caller can answer as the core would
            # (e.g. queue_full from the toolbox's enqueue is the caller's 429).
            code = exc.code if isinstance(exc, CodexManagerError) else None
            return error(
                status="error",
                error=f"{type(exc).__name__}: {exc}",
                details=None if code is None else {"code": code},
            )
        try:
            result = normalize(returned)
        except InvalidResult as exc:
            return error(status="error", error=f"invalid result: {exc}")
        if result is None or isinstance(result, HandlerResult):
            details = None if result is None else result.details
            return Envelope(EnvelopeKind.HANDLER_RESULT, module, event.type, details=details)
        if isinstance(result, EnqueueResult):
            return Envelope(
                EnvelopeKind.ENQUEUE_RESULT,
                module,
                event.type,
                status=result.status.value,
                details={"jobId": result.job_id, "jobType": result.job_type},
            )
        return await self._act(extension, result, event, action_taken)

    async def _call(self, module: str, subscription: Subscription, event: ExtensionEvent) -> Any:
        """The handler's return value; raises _Timeout past its timeout."""
        toolbox = ScopedToolbox(module, event.context, jobs=self._jobs, settings=self._settings)
        handler: Any = subscription.handler
        returned: Any = None
        try:
            with self._clock.move_on_after(subscription.timeout) as scope:
                if _is_async(handler):
                    returned = await handler(event, toolbox)
                else:
                    # Abandoned (not waited for) when the timeout cancels this scope.
                    returned = await anyio.to_thread.run_sync(
                        functools.partial(handler, event, toolbox), abandon_on_cancel=True
                    )
                    if inspect.isawaitable(returned):
                        returned = await returned
        finally:
            toolbox.close()
        if scope.cancelled_caught:
            if inspect.iscoroutine(returned):
                returned.close()
            raise _Timeout
        return returned

    async def _act(
        self,
        extension: LoadedExtension,
        request: ActionRequest,
        event: ExtensionEvent,
        action_taken: bool,
    ) -> Envelope:
        module = extension.module_name
        envelope = functools.partial(
            Envelope,
            EnvelopeKind.ACTION_RESULT,
            module,
            event.type,
            action_type=request.action_type,
            idempotency_key=request.idempotency_key,
        )
        if action_taken:
            return envelope(
                status=ActionOutcome.NOT_ELIGIBLE.value,
                error="an earlier handler's action was performed for this event",
            )
        try:
            allowed, reason = self._action_allowed(extension, request.action_type)
        except Exception as exc:
            allowed, reason = False, f"the trust check failed: {exc}"
        if not allowed:
            return envelope(
                status=ActionOutcome.FORBIDDEN.value,
                error=f"undeclared_capability: {reason or request.action_type}",
            )
        context = event.context
        try:
            payload = adapt_action(request.action_type, request.payload, context)
        except OutOfScope as exc:
            return envelope(status=ActionOutcome.FORBIDDEN.value, error=str(exc))
        scope = ActionScope(
            owner=owner_of(context),
            project_id=context.project_id,
            session_id=context.session_id,
            turn_id=context.turn_id,
        )
        try:
            result = await self._executor.execute(
                CoreActionRequest(request.action_type, payload, request.idempotency_key),
                scope,
                actor=f"extension:{module}",
            )
        except Exception as exc:
            logger.exception("action %s of extension %s failed", request.action_type, module)
            return envelope(status=ActionOutcome.FAILED.value, error=f"{type(exc).__name__}: {exc}")
        return envelope(status=outcome_of(result).value, details=result.result, error=result.error)


__all__ = [
    "RECENT",
    "ActionAllowed",
    "ExtensionDispatcher",
    "SubscriptionsFor",
    "allow_all",
    "no_subscriptions",
    "outcome_of",
]

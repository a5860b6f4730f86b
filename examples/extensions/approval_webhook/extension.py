"""Notify a webhook when an approval waits longer than a minute.

The tutorial of docs/extensions.md writes this file step by step. What it does:

- `app_server.request.*`: an approval request (a command, a file change, a permission, or
  the legacy exec/patch ones) of a user session starts a watch: due `waitSeconds` later.
- `app_server.item.completed` (the approval's item) and `app_server.turn.completed` (its
  turn): the approval no longer waits; its watch ends.
- A watch that comes due is POSTed once, as JSON, to the webhook URL, from the extension's
  own timer thread (never from a handler: a handler has a timeout and dispatch is
  sequential, so a handler that waited a minute would hold up every other extension).

Settings: `[settings]` of extension.toml (`webhookUrl`, `waitSeconds`), overridden by the
environment (`APPROVAL_WEBHOOK_URL`, `APPROVAL_WEBHOOK_WAIT_SECONDS`), overridden per
session by the session setting `approvalWebhook` (`{"url": ..., "waitSeconds": ...}`, or
`false` to turn it off for that session).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import tomllib
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from codex_manager_core.extensions import (
    ExtensionEvent,
    ExtensionRegistry,
    HandlerResult,
    Toolbox,
)

APPROVAL_METHODS = frozenset(
    {
        "item/commandExecution/requestApproval",
        "item/fileChange/requestApproval",
        "item/permissions/requestApproval",
        "execCommandApproval",
        "applyPatchApproval",
    }
)
MANIFEST = Path(__file__).with_name("extension.toml")
DEFAULT_WAIT = 60.0
POST_TIMEOUT = 10.0

logger = logging.getLogger("codex_manager.extensions.approval_webhook")

Post = Callable[[str, dict[str, Any]], None]


@attrs.frozen
class Settings:
    url: str | None = None
    wait_seconds: float = DEFAULT_WAIT

    @classmethod
    def load(cls, manifest: Path = MANIFEST, env: Mapping[str, str] = os.environ) -> Settings:
        """The manifest's `[settings]`, then the environment over them."""
        table: Mapping[str, Any] = {}
        with contextlib.suppress(OSError, tomllib.TOMLDecodeError):
            table = tomllib.loads(manifest.read_text(encoding="utf-8")).get("settings", {})
        if not isinstance(table, Mapping):
            table = {}
        url = env.get("APPROVAL_WEBHOOK_URL") or table.get("webhookUrl") or None
        wait = env.get("APPROVAL_WEBHOOK_WAIT_SECONDS") or table.get("waitSeconds", DEFAULT_WAIT)
        return cls(url, positive(wait, "waitSeconds"))


def positive(value: Any, name: str) -> float:
    """`value` as a positive number of seconds (a clear error otherwise)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return seconds


def post_json(url: str, body: dict[str, Any]) -> None:
    """POST `body` as JSON (standard library only; runs on the watcher's thread)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=POST_TIMEOUT) as response:
        response.read()


@attrs.frozen
class Watch:
    """One approval that waits: what the webhook will be told, and when."""

    approval_id: str
    url: str
    due: float
    started: float
    body: dict[str, Any]


class ApprovalWebhook:
    """The extension: its handlers, and the timer thread that POSTs the watches that come
    due. `now` is a monotonic clock in seconds (tests pass a FakeClock's)."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: Callable[[], float] = time.monotonic,
        post: Post = post_json,
        poll: float = 1.0,
    ) -> None:
        self.settings = settings
        self._now = now
        self._post = post
        self._poll = poll
        self._lock = threading.Lock()
        self._watches: dict[str, Watch] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def register(self, registry: ExtensionRegistry) -> None:
        registry.on("app_server.request.*", self.on_request, timeout=5)
        registry.on("approval.resolved", self.on_resolved, timeout=5)
        registry.on("app_server.item.completed", self.on_done, timeout=5)
        registry.on("app_server.turn.completed", self.on_done, timeout=5)

    # ------------------------------------------------------------------ handlers

    async def on_request(self, event: ExtensionEvent, tools: Toolbox) -> HandlerResult | None:
        payload = event.payload
        if payload.get("method") not in APPROVAL_METHODS:
            return None  # a question or a tool call: not an approval
        approval_id = payload.get("requestId")
        if not isinstance(approval_id, str):
            return HandlerResult({"skipped": "the request has no id"})
        url, wait = self.settings.url, self.settings.wait_seconds
        override = await tools.session_setting("approvalWebhook")
        if override is False:
            return HandlerResult({"skipped": "turned off for this session"})
        if isinstance(override, dict):
            given = override.get("url")
            url = given if isinstance(given, str) and given else url
            if override.get("waitSeconds") is not None:
                wait = positive(override["waitSeconds"], "approvalWebhook.waitSeconds")
        if not url:
            return HandlerResult({"skipped": "no webhook URL"})
        params = payload.get("params")
        params = params if isinstance(params, dict) else {}
        body: dict[str, Any] = {
            "event": "approval.waiting",
            "approvalId": approval_id,
            "method": payload.get("method"),
            "projectId": event.context.project_id,
            "sessionId": event.context.session_id,
            "turnId": event.context.turn_id,
            "itemId": params.get("itemId"),
            "requestedAt": payload.get("receivedAt"),
            "params": params,
        }
        now = self._now()
        self._start(Watch(approval_id, url, now + wait, now, body))
        return HandlerResult({"watching": approval_id, "waitSeconds": wait})

    async def on_resolved(self, event: ExtensionEvent, tools: Toolbox) -> HandlerResult | None:
        """The approval was answered (by anyone) or expired: it no longer waits."""
        approval_id = event.payload.get("approvalId")
        ended = self._end(lambda w: w.approval_id == approval_id)
        return HandlerResult({"ended": [*ended]}) if ended else None

    async def on_done(self, event: ExtensionEvent, tools: Toolbox) -> HandlerResult | None:
        """An item or a turn completed: the approvals of it no longer wait."""
        params = event.payload.get("params")
        params = params if isinstance(params, dict) else {}
        session = event.context.session_id
        if event.type == "app_server.item.completed":
            item = params.get("item")
            item_id = item.get("id") if isinstance(item, dict) else None
            ended = self._end(
                lambda w: w.body["sessionId"] == session and w.body["itemId"] == item_id
            )
        else:
            turn = event.context.turn_id
            ended = self._end(lambda w: w.body["sessionId"] == session and w.body["turnId"] == turn)
        return HandlerResult({"ended": [*ended]}) if ended else None

    # ------------------------------------------------------------------ the timer thread

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._watches)

    def close(self) -> None:
        """Stop the timer thread (pending watches are dropped)."""
        with self._lock:
            self._closed = True
            self._watches.clear()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(POST_TIMEOUT + 1)

    def _start(self, watch: Watch) -> None:
        with self._lock:
            if self._closed:
                return
            self._watches[watch.approval_id] = watch
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="approval-webhook", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _end(self, matches: Callable[[Watch], bool]) -> list[str]:
        with self._lock:
            ended = [key for key, watch in self._watches.items() if matches(watch)]
            for key in ended:
                del self._watches[key]
        return ended

    def _run(self) -> None:
        while True:
            with self._lock:
                now = self._now()
                due = [w for w in self._watches.values() if w.due <= now]
                for watch in due:
                    del self._watches[watch.approval_id]
                if not due and (self._closed or not self._watches):
                    self._thread = None
                    return
                left = [w.due - now for w in self._watches.values()]
            for watch in due:
                self._notify(watch, now)
            self._wake.wait(min([self._poll, *left]))
            self._wake.clear()

    def _notify(self, watch: Watch, now: float) -> None:
        body = {**watch.body, "waitedSeconds": round(now - watch.started, 3)}
        try:
            self._post(watch.url, body)
        except Exception as exc:  # a webhook that fails must not stop the watcher
            logger.warning(
                "approval webhook %s failed for %s: %r", watch.url, watch.approval_id, exc
            )
        else:
            logger.info(
                "approval %s waited %.0f s: webhook called", watch.approval_id, now - watch.started
            )


def register(registry: ExtensionRegistry) -> None:
    """The extension's entry point: settings from the manifest and the environment."""
    ApprovalWebhook(Settings.load()).register(registry)

"""`load_isolated`: start an extension in its own process and give its subscriptions as
proxy handlers (see client.py for the protocol and the faults)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio

from codex_manager_core.extensions.api import (
    CORE_API_VERSION,
    ExtensionEvent,
    HandlerReturn,
    Subscription,
    Toolbox,
)
from codex_manager_core.extensions.isolation import wire
from codex_manager_core.extensions.isolation.client import (
    Child,
    ChildFailed,
    IsolatedCallError,
    IsolatedCallTimeout,
    IsolationError,
    StderrTail,
    decode_result,
    event_params,
    exchange,
)
from codex_manager_core.extensions.model import LoadErrorCode, Manifest
from codex_manager_core.ports.clock import Clock, SystemClock


class IsolatedExtension:
    """An extension running in a child process. `subscriptions` are used exactly like an
    in-process extension's; `close()` ends the child."""

    def __init__(self, manifest: Manifest, root: Path, module_name: str, clock: Clock,
                 call_timeout: float, ready_timeout: float, cancel_grace: float) -> None:  # fmt: skip
        self.manifest = manifest
        self.root = root
        self.module_name = module_name
        self.subscriptions: tuple[Subscription, ...] = ()
        self.restarts = 0
        """How many times the child was started again after the first."""
        self._clock = clock
        self._call_timeout = call_timeout
        self._ready_timeout = ready_timeout
        self._cancel_grace = cancel_grace
        self._stderr = StderrTail(module_name)
        self._log = logging.getLogger(f"codex_manager_core.extensions.isolated.{module_name}")
        self._home = Path(tempfile.mkdtemp(prefix="cm-ext-home-"))
        self._child: Child | None = None
        self._shape: list[tuple[str, int, float, int]] | None = None
        self._lock = anyio.Lock()
        self._closed = False

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr.lines)

    @property
    def pid(self) -> int | None:
        """The running child's pid (None when none runs)."""
        return None if self._child is None else self._child.pid

    # ------------------------------------------------------------ start

    async def _start(self) -> None:
        try:
            child = await Child.spawn(self.root, self.manifest.entrypoint, self.module_name,
                                      self._home, self._stderr)  # fmt: skip
        except OSError as exc:
            raise IsolationError(LoadErrorCode.IMPORT_FAILED,
                                 f"{self.module_name}: cannot start its process: {exc}") from exc  # fmt: skip
        try:
            shape = await self._handshake(child)
        except BaseException:
            await child.kill()
            raise
        if self._shape is None:
            self._shape = shape
            self.subscriptions = tuple(
                Subscription(event_type, self._proxy(index), priority, timeout, index)
                for event_type, priority, timeout, index in shape
            )
        elif shape != self._shape:
            await child.kill()
            raise IsolationError(LoadErrorCode.REGISTRATION_FAILED,
                                 f"{self.module_name}: its subscriptions changed on restart")  # fmt: skip
        else:
            self.restarts += 1
        self._child = child

    async def _handshake(self, child: Child) -> list[tuple[str, int, float, int]]:
        params = {"protocolVersion": wire.PROTOCOL_VERSION, "coreApiVersion": CORE_API_VERSION,
                  "module": self.module_name}  # fmt: skip
        request_id, data = child.conn.send_request(wire.INITIALIZE, params)
        failure: str
        try:
            with self._clock.move_on_after(self._ready_timeout):
                await child.send(data)
                result = await exchange(child, request_id, None, self._log)
                return wire.subscriptions_from_json(result)
            failure = f"did not answer the handshake within {self._ready_timeout} s"
        except IsolatedCallError as exc:  # the child's own report of why it did not load
            await child.kill()
            raise IsolationError(_load_code(exc.data), f"{self.module_name}: {exc}") from None
        except ChildFailed as exc:
            failure = f"its process failed before the handshake: {exc}"
        except wire.WireError as exc:
            failure = f"its handshake answer was refused: {exc}"
        await child.kill()
        raise IsolationError(LoadErrorCode.IMPORT_FAILED,
                             f"{self.module_name}: {failure}{self._stderr.hint()}")  # fmt: skip

    # ------------------------------------------------------------ calls

    def _proxy(self, index: int) -> Any:
        async def isolated_handler(event: ExtensionEvent, tools: Toolbox) -> HandlerReturn:
            return await self._call(index, event, tools)

        isolated_handler.__qualname__ = f"{self.module_name}[{index}]"
        return isolated_handler

    async def _call(self, index: int, event: ExtensionEvent, tools: Toolbox) -> HandlerReturn:
        params = event_params(index, event)
        assert self._shape is not None
        deadline = min(self._shape[index][2], self._call_timeout)
        async with self._lock:
            failure: ChildFailed | None = None
            for _attempt in range(2):
                if self._closed:
                    raise IsolatedCallError(f"{self.module_name}: the extension is closed")
                if self._child is None:
                    try:
                        await self._start()
                    except IsolationError as exc:
                        raise IsolatedCallError(f"could not restart: {exc}") from exc
                child = self._child
                assert child is not None
                try:
                    return await self._handle_once(child, params, deadline, tools)
                except ChildFailed as exc:
                    failure = exc
                    await self._discard(child)
            raise IsolatedCallError(
                f"{self.module_name}: its process failed twice on this call: {failure}"
            )

    async def _handle_once(self, child: Child, params: dict[str, Any], deadline: float,
                           tools: Toolbox) -> HandlerReturn:  # fmt: skip
        request_id, data = child.conn.send_request(wire.HANDLE, params)
        failed = False
        try:
            # Bounded in real time (a child that does not read its stdin is broken), and
            # outside the call's deadline: a call that expires has always been sent.
            with anyio.move_on_after(self._cancel_grace) as sending:
                await child.send(data)
            if sending.cancelled_caught:
                raise ChildFailed(f"it did not read its stdin for {self._cancel_grace} s")
            with self._clock.move_on_after(deadline):
                result = await exchange(child, request_id, tools, self._log)
                return decode_result(self.module_name, result)
            raise IsolatedCallTimeout(
                f"{self.module_name}: the handler did not answer within {deadline} s: cancelled"
            )
        except ChildFailed:
            failed = True
            raise
        finally:
            if not failed and request_id in child.conn.pending:
                with anyio.CancelScope(shield=True):
                    await self._abandon(child, request_id)

    async def _abandon(self, child: Child, request_id: int) -> None:
        """Tell the child to cancel the call; kill it if it does not answer in time."""
        try:
            with anyio.move_on_after(self._cancel_grace):
                await child.send(child.conn.send_notification(wire.CANCEL, {"id": request_id}))
                with contextlib.suppress(IsolatedCallError):  # the `cancelled` answer
                    await exchange(child, request_id, None, self._log)
                return
        except ChildFailed:
            pass
        await self._discard(child)

    async def _discard(self, child: Child) -> None:
        if self._child is child:
            self._child = None
        await child.kill()

    async def close(self) -> None:
        """End the child (EOF, then terminate, then kill its process group)."""
        self._closed = True
        child, self._child = self._child, None
        if child is not None:
            await child.stop()
        await anyio.to_thread.run_sync(shutil.rmtree, self._home, True)


def _load_code(data: Any) -> LoadErrorCode:
    code = data.get("loadErrorCode") if isinstance(data, dict) else None
    allowed = {LoadErrorCode.MISSING_ENTRYPOINT, LoadErrorCode.MISSING_REGISTER,
               LoadErrorCode.REGISTRATION_FAILED}  # fmt: skip
    return LoadErrorCode(code) if code in allowed else LoadErrorCode.IMPORT_FAILED


async def load_isolated(
    manifest: Manifest,
    root: Path,
    module_name: str,
    *,
    clock: Clock | None = None,
    call_timeout: float = 30.0,
    ready_timeout: float | None = None,
    cancel_grace: float = 2.0,
) -> IsolatedExtension:
    """Start `manifest`'s entrypoint in a child process and wait for its handshake
    (`ready_timeout`, by default `call_timeout`, on `clock`). A handler call's deadline is
    its subscription's timeout, at most `call_timeout`. Raises `IsolationError` (its
    `code`: import_failed, missing_entrypoint, missing_register, registration_failed) when
    the extension does not load; its message ends with the child's last stderr lines."""
    resolved = Path(await anyio.Path(root).resolve())
    extension = IsolatedExtension(
        manifest, resolved, module_name, clock or SystemClock(), call_timeout,
        call_timeout if ready_timeout is None else ready_timeout, cancel_grace,
    )  # fmt: skip
    try:
        await extension._start()
    except BaseException:
        await extension.close()
        raise
    return extension

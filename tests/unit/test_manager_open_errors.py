"""An error raised in the block of `Manager.open` comes out as itself, not wrapped in the
exception groups of the manager's task groups (a script's traceback names the error).
The runtime is a `MemoryRuntime`: these tests need no answer from it, only a manager."""

from __future__ import annotations

import anyio
import pytest

from codex_manager_core import Manager, MemoryStore
from codex_manager_core.testing import MemoryRuntime

pytestmark = pytest.mark.anyio


async def test_an_error_of_the_callers_block_is_raised_as_itself() -> None:
    with pytest.raises(KeyError, match="mine") as caught:
        async with Manager.open(store=MemoryStore(), transport=MemoryRuntime()):
            raise KeyError("mine")
    assert not isinstance(caught.value, BaseExceptionGroup)


async def test_several_errors_stay_a_group() -> None:
    with pytest.raises(BaseExceptionGroup) as caught:
        async with Manager.open(store=MemoryStore(), transport=MemoryRuntime()):
            raise ExceptionGroup("two", [KeyError("a"), ValueError("b")])
    assert len(caught.value.exceptions) >= 1


async def test_cancellation_is_not_turned_into_an_error() -> None:
    with anyio.move_on_after(0.05) as scope:
        async with Manager.open(store=MemoryStore(), transport=MemoryRuntime()):
            await anyio.sleep_forever()
    assert scope.cancelled_caught

"""KeyedLocks: one holder per key at a time, keys independent, nothing kept when idle."""

from __future__ import annotations

import anyio
import pytest

from codex_manager_core.keyed_locks import KeyedLocks

pytestmark = pytest.mark.anyio


async def test_one_holder_per_key_and_keys_are_independent() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    a_held = anyio.Event()
    release_a = anyio.Event()

    async def first_a() -> None:
        async with locks.hold("a"):
            order.append("a1 in")
            a_held.set()
            await release_a.wait()
            order.append("a1 out")

    async def second_a() -> None:
        async with locks.hold("a"):
            order.append("a2 in")

    async def b() -> None:
        async with locks.hold("b"):
            order.append("b in")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(first_a)
            await a_held.wait()
            tasks.start_soon(second_a)
            await b()  # not held up by "a"
            assert len(locks) == 1, "only a's lock is in use"
            release_a.set()
    assert order == ["a1 in", "b in", "a1 out", "a2 in"]
    assert len(locks) == 0


async def test_the_lock_is_dropped_also_when_the_block_fails() -> None:
    locks = KeyedLocks()
    with pytest.raises(KeyError):
        async with locks.hold("a"):
            raise KeyError("a")
    assert len(locks) == 0
    async with locks.hold("a"):  # and it can be taken again
        assert len(locks) == 1

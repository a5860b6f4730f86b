"""The runtime contract: what the runtime port promises the Supervisor and the client,
held against every adapter: `MemoryRuntime`, `FakeAppServer` and the real codex binary.

Each test runs six times: {memory, fake, real} x {asyncio, trio}; the real one is marked
`real_runtime` (offline, its model a ScriptedModel). Where the adapters differ only in how a
behaviour is provoked (a server request, a crash), the `Driver` of runtime_adapters.py does
it their way; the assertions are the same for all. Anything one adapter does differently
from the others is a bug in that adapter (or a gap in this suite).
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from codex_manager_core.errors import RpcError, RuntimeUnavailable
from codex_manager_core.runtime import RuntimeState
from tests.contract.runtime_adapters import (
    ADAPTERS,
    APPROVAL_METHOD,
    CLIENT,
    open_harness,
)
from tests.integration.runtime_fixtures import DEFAULT_TIMEOUT

pytestmark = pytest.mark.anyio

TEXT = "The runtime contract, streamed in pieces"


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.real_runtime] if name == "real" else [])
        for name in ADAPTERS
    ]
)
def adapter(request: pytest.FixtureRequest) -> str:
    """The adapter's name: each test opens its runtime itself, so that the Supervisor is
    entered and stopped in the test's own task."""
    return str(request.param)


async def test_the_handshake_makes_the_runtime_ready(adapter: str, tmp_path: Path) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        health = runtime.supervisor.health
        assert health.state is RuntimeState.READY
        assert health.epoch == 1
        assert health.user_agent is not None
        assert health.user_agent.startswith(f"{CLIENT.name}/{runtime.version}")
        assert health.codex_version == runtime.version
        assert health.experimental_api is True
        init = runtime.supervisor.initialize_result
        assert init is not None
        assert init.codex_home == runtime.codex_home
        assert list(runtime.ready_log.epochs) == [1]


async def test_a_request_gets_its_own_response(adapter: str, tmp_path: Path) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        assert await runtime.driver.tagged_call(runtime, "alpha") == "alpha"


async def test_concurrent_requests_are_matched_to_their_answers(
    adapter: str, tmp_path: Path
) -> None:
    """MemoryRuntime answers these last first; the fakes answer in their own order."""
    async with open_harness(adapter, tmp_path) as runtime:
        tags = ["first", "second", "third", "fourth"]
        answers: dict[str, str] = {}

        async def call(tag: str) -> None:
            answers[tag] = await runtime.driver.tagged_call(runtime, tag)

        runtime.driver.answer_out_of_order(len(tags))
        with anyio.fail_after(DEFAULT_TIMEOUT):
            async with anyio.create_task_group() as calls:
                for tag in tags:
                    calls.start_soon(call, tag)
        assert answers == {tag: tag for tag in tags}


async def test_an_unknown_method_is_a_json_rpc_error(adapter: str, tmp_path: Path) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        with pytest.raises(RpcError) as caught:
            await runtime.supervisor.request("contract/noSuchMethod", {}, timeout=DEFAULT_TIMEOUT)
        assert caught.value.rpc_code == -32600
        assert caught.value.method == "contract/noSuchMethod"
        assert "unknown variant" in caught.value.rpc_message
        # The runtime is still there and answers the next call.
        assert await runtime.driver.tagged_call(runtime, "after") == "after"


async def test_notifications_arrive_in_the_order_they_were_sent(
    adapter: str, tmp_path: Path
) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        thread_id = await runtime.start_thread()
        turn_id = await runtime.start_turn(thread_id, TEXT)
        turn = await runtime.wait_turn_completed(turn_id)

        assert turn["status"] == "completed", turn
        seen = runtime.turn_notifications(turn_id)
        methods = [r.method for r in seen]
        assert methods[0] == "turn/started", methods
        assert methods[-1] == "turn/completed", methods
        # The agent's message: started, its deltas in order, completed.
        [item] = [i for i in turn["items"] if i["type"] == "agentMessage"]
        assert item["text"] == TEXT
        of_item = [
            (r.method, r.params.get("delta"))
            for r in seen
            if r.params.get("itemId") == item["id"]
            or (r.params.get("item") or {}).get("id") == item["id"]
        ]
        assert of_item[0] == ("item/started", None), of_item
        assert of_item[-1] == ("item/completed", None), of_item
        deltas = [delta for method, delta in of_item[1:-1] if method == "item/agentMessage/delta"]
        assert len(deltas) >= 2, of_item
        assert "".join(deltas) == TEXT
        assert {r.epoch for r in runtime.notifications.seen} == {1}


async def test_a_server_request_reaches_the_handler_and_its_answer_the_runtime(
    adapter: str,
    tmp_path: Path,
) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        await runtime.driver.ask_approval(runtime)
        epoch, request = await runtime.next_server_request(APPROVAL_METHOD)
        assert epoch == runtime.supervisor.epoch == 1
        assert isinstance(request.params, dict)
        assert {"threadId", "turnId", "itemId"} <= set(request.params)

        await runtime.supervisor.reply(epoch, request.id, {"decision": "decline"})
        await runtime.driver.confirm_decision(runtime, request, "decline")


async def test_stopping_ends_the_process_with_an_exit_status(adapter: str, tmp_path: Path) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        await runtime.supervisor.stop()

        record = await runtime.exits.wait(1)
        assert (record.epoch, record.expected) == (1, True)
        assert (record.returncode, record.signal) == (0, None)
        health = runtime.supervisor.health
        assert (health.state, health.pid) == (RuntimeState.STOPPED, None)
        with pytest.raises(RuntimeUnavailable):
            await runtime.supervisor.request("contract/any", {})


async def test_an_unexpected_exit_is_reported_and_the_runtime_restarted(
    adapter: str,
    tmp_path: Path,
) -> None:
    async with open_harness(adapter, tmp_path) as runtime:
        runtime.driver.kill(runtime)

        record = await runtime.exits.wait(1)
        assert (record.epoch, record.expected) == (1, False)
        assert (record.returncode, record.signal) == (-9, 9)
        init = await runtime.ready_log.wait(2, DEFAULT_TIMEOUT)
        assert init is not None, f"no second runtime got ready: {runtime.supervisor.health}"
        await runtime.supervisor.wait_ready(DEFAULT_TIMEOUT)
        health = runtime.supervisor.health
        assert (health.epoch, health.restart_count) == (2, 1)
        assert health.last_exit == record
        assert await runtime.driver.tagged_call(runtime, "reborn") == "reborn"

"""RemoteManager without a server: what it sends (the token, the path of a hostile id, the
query) and how it reads what comes back (typed errors naming the URL, a body it cannot
read), over httpx's MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from codex_manager_client import RemoteManager
from codex_manager_client.decode import InvalidResponse
from codex_manager_client.errors import AuthError, ClientTimeout, GoneError
from codex_manager_core import Gone

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def remote(handler: Handler, *, token: str | None = "secret") -> RemoteManager:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return RemoteManager(server="http://cm.test:3001", token=token, timeout=5.0, client=client)


async def test_the_token_and_the_path_of_a_hostile_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, json={"status": "error", "code": "auth_required"})

    async with remote(handler) as cm:
        with pytest.raises(AuthError):
            await cm.sessions.rename("../../etc", "x")
    (request,) = seen
    assert request.headers["Authorization"] == "Bearer secret"
    assert request.url.raw_path == b"/api/sessions/..%2F..%2Fetc/rename"
    assert json.loads(request.content) == {"title": "x"}


async def test_lists_repeat_the_query_parameter() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok", "events": [], "nextSince": 0})

    async with remote(handler, token=None) as cm:
        assert await cm.events.read(since=3, thread_ids=["a", "b"], types=["x."]) == []
    assert seen[0].url.params.get_list("threadId") == ["a", "b"]
    assert seen[0].url.params["since"] == "3"
    assert "Authorization" not in seen[0].headers


async def test_a_deleted_session_is_gone_with_its_title() -> None:
    body = {"status": "deleted", "code": "deleted", "sessionId": "s1", "title": "Old"}

    async with remote(lambda _: httpx.Response(410, json=body)) as cm:
        with pytest.raises(Gone) as caught:
            await cm.sessions.get("s1")
    assert isinstance(caught.value, GoneError)
    assert (caught.value.session_id, caught.value.title) == ("s1", "Old")


async def test_a_timeout_names_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with remote(handler) as cm:
        with pytest.raises(ClientTimeout, match=r"GET http://cm\.test:3001/api/projects"):
            await cm.projects.list()


async def test_an_answer_without_the_record_is_a_clear_error() -> None:
    view = {"sessionId": "s1", "title": "t"}  # a server too old to send `record`
    answer = {"status": "ok", "session": view, "thread": {}}

    async with remote(lambda _: httpx.Response(200, json=answer)) as cm:
        with pytest.raises(InvalidResponse, match="record"):
            await cm.sessions.create()


async def test_retries_of_the_turn_reach_on_retry() -> None:
    from codex_manager_client.remote_turns import retry_reporter
    from codex_manager_client.stream import StreamFrame
    from codex_manager_core import TurnErrorNotice

    seen: list[TurnErrorNotice] = []

    def error(turn_id: str, will_retry: bool, seq: int) -> StreamFrame:
        params = {"turnId": turn_id, "willRetry": will_retry, "error": {"message": "Reconnecting"}}
        return StreamFrame(seq, 0, "app_server.error", "s1", {"params": params}, None)

    report = retry_reporter(seen.append, "s1", "t1")
    await report(error("t1", True, 5))
    await report(error("t1", False, 6))  # the last word: the wait raises it, not a retry
    await report(error("other-turn", True, 7))
    await report(StreamFrame(8, 0, "app_server.item.started", "s1", {}, None))
    assert [(notice.seq, notice.message, notice.will_retry) for notice in seen] == [
        (5, "Reconnecting", True)
    ]


def test_every_public_name_of_the_package_resolves() -> None:
    import codex_manager_client

    for name in codex_manager_client.__all__:
        assert getattr(codex_manager_client, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = codex_manager_client.nope  # type: ignore[attr-defined]


def test_target_from_env_reads_ours_then_the_originals_names() -> None:
    from codex_manager_client.target import Target

    assert Target.from_env({}) == Target()
    original = Target.from_env(
        {
            "CODEX_MANAGER_API_BASE": "http://h:1/",
            "CODEX_MANAGER_BEARER_TOKEN": "b",
            "CODEX_MANAGER_TIMEOUT_MS": "2500",
            "CODEX_MANAGER_API_PREFIX": "v1/",
        }
    )
    assert original == Target("http://h:1", token="b", timeout=2.5, api_prefix="/v1")
    ours = Target.from_env(
        {"CODEX_MANAGER_SERVER": "http://a:2", "CODEX_MANAGER_API_BASE": "http://h:1"}
    )
    assert ours.server == "http://a:2"
    with pytest.raises(ValueError, match="CODEX_MANAGER_TIMEOUT_MS must be a number"):
        Target.from_env({"CODEX_MANAGER_TIMEOUT_MS": "soon"})

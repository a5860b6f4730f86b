"""A scripted stand-in for the OpenAI Responses API, for running the real `codex` offline.

`ScriptedModel` is a tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port) that answers
`POST /v1/responses` with Server-Sent Events, exactly the way `codex app-server` expects a
model provider with `wire_api = "responses"` to answer (see shared/runtime-notes.md). Each
request consumes one *step* of a script, so a test decides, request by request, whether the
"model" replies with text, calls a tool, fails, cuts the stream or hangs::

    async with ScriptedModel([Reply("Hello", chunks=3), CallTool("lookup", {"key": "a"}),
                              Reply("done")]) as model:
        write_offline_config(codex_home, base_url=model.base_url)
        ...  # drive codex
        await model.wait_for_requests(3, timeout=10)
        assert model.requests[2].output_for(...) == "..."
        assert model.errors == []

The script can also be a function of the request, which makes echo-style models trivial:
`ScriptedModel(lambda request: Reply(f"echo: {request.last_user_text}"))`.

The HTTP/1.1 protocol is h11's (keep-alive, pipelining, chunked request bodies, `Expect:
100-continue`, HTTP/1.0 clients), driven through anyio so that the server runs under asyncio
*and* trio, starts in about a millisecond and never spawns a thread; misbehaving on purpose
(cutting a chunked body half-way, stalling forever) is just not sending the rest. Request
bodies may be gzip- or deflate-encoded, and one bad connection never affects the others.

The modules, all private (this package's names are the API): `_steps` (the script's
vocabulary), `_recorded` (what is kept of a request), `_script` (which step answers next),
`_responses_api` (a step as Responses-API events), `_http` (h11 over an anyio stream) and
`_server` (`ScriptedModel`: accept, record, answer).

What codex 0.163 sends (measured): `POST /v1/responses` over HTTP/1.1 with a plain JSON body
and a Content-Length (no Content-Encoding, although its `enable_request_compression` feature
is on by default: it does not apply to this kind of provider), headers such as `host`,
`session-id`, `thread-id`, `originator`, `x-client-request-id` and `x-codex-turn-metadata`, and a new connection for every request,
even within one turn, which it closes after the answer (or on interrupt).
"""

from codex_manager_core.testing.scripted_model._recorded import RecordedRequest
from codex_manager_core.testing.scripted_model._responses_api import RESPONSES_PATH, USAGE
from codex_manager_core.testing.scripted_model._script import ScriptFunction
from codex_manager_core.testing.scripted_model._server import ScriptedModel
from codex_manager_core.testing.scripted_model._steps import (
    CallTool,
    CutStream,
    Delay,
    Fail,
    FailResponse,
    Reply,
    Stall,
    Step,
    exec_command,
)

__all__ = [
    "RESPONSES_PATH",
    "USAGE",
    "CallTool",
    "CutStream",
    "Delay",
    "Fail",
    "FailResponse",
    "RecordedRequest",
    "Reply",
    "ScriptFunction",
    "ScriptedModel",
    "Stall",
    "Step",
    "exec_command",
]

"""Acceptance 7: fuzz the HTTP API from its own OpenAPI document (schemathesis).

One real host for the module (uvicorn on an ephemeral port, the real codex binary behind it,
a ScriptedModel answering Reply("ok") to anything), run in a background event loop so that
schemathesis can drive it synchronously. The schema is `GET /api/openapi.json` from that
server. Each operation gets its own test: `FUZZ_EXAMPLES` positive and negative cases (random
ids, plus a real session/project id where the path has one), each checked for

- no server error (`not_a_server_error`): the only 5xx answers allowed are the contract's
  `501 method_not_supported` (codex lacks the method) and `502 codex_error` (codex failed the
  call), and only where the operation documents them;
- conformance to the document: status code, content type, headers and body schema;
- negative data rejected (a schema-violating request must not be accepted);

and the server keeps answering /api/health after every operation. Deterministic: Hypothesis
is derandomized (the same cases every run) and keeps no example database.

    pytest tests/acceptance/test_http_fuzz.py                 # as in `make test`
    FUZZ_EXAMPLES=200 pytest tests/acceptance/test_http_fuzz.py   # `make fuzz`
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import attrs
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from codex_manager_core.testing import Reply
from tests.acceptance.http_fixtures import running_host

pytestmark = [pytest.mark.real_runtime]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
"""Cases per operation, generation mode and id source (`make fuzz` raises it)."""
REQUEST_TIMEOUT = 30.0
ROUTES = Path(__file__).with_name("routes.tsv")

#: Operations not fuzzed, and why: each would try to reach the internet.
EXCLUDED = {
    "POST /api/feedback": "feedback/upload sends the feedback to OpenAI",
    "POST /api/account/login/start": "a ChatGPT login opens a browser flow against chatgpt.com",
    "POST /api/mcp/servers/{}/oauth/login": "starts OAuth against the MCP server's identity provider",
}
#: Routes of the contract that are not operations of the document: the document itself and
#: the WebSocket.
NOT_IN_DOCUMENT = {"GET /api/openapi.json", "GET /api/stream"}

#: 5xx answers the contract prescribes (shared/api-contract.md, the original's mapCodexError).
CONTRACT_5XX = {501: "method_not_supported", 502: "codex_error"}

#: The checks run on every response. Left out on purpose: `positive_data_acceptance`, because
#: the request schemas do not express every rule the server enforces (ids must match
#: `[A-Za-z0-9._:-]{1,200}`, cursors must be ours, a message needs text or input items, a
#: settings write takes one of two shapes), so a schema-valid request may rightly get 400.
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
#: Where a check cannot apply, and why.
CHECK_EXCEPTIONS = {
    # A query array with one item is a single `types=x`: schemathesis's "not an array"
    # negative case is a valid request on the wire.
    "GET /api/events": {negative_data_rejection},
}


def shape(label: str) -> str:
    """`POST /api/sessions/{sessionId}/fork` -> `POST /api/sessions/{}/fork`."""
    return re.sub(r"\{[^}]*\}", "{}", label)


def contract_operations() -> list[str]:
    with ROUTES.open() as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        return sorted(shape(f"{row['method']} {row['path']}") for row in rows)


DOCUMENTED = [label for label in contract_operations() if label not in NOT_IN_DOCUMENT]
FUZZED = [label for label in DOCUMENTED if label not in EXCLUDED]


@attrs.define
class Api:
    url: str
    schema: Any
    http: requests.Session
    codex_config: Path
    config_text: bytes
    operations: dict[str, Any] = attrs.Factory(dict)
    projects: int = 0

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=REQUEST_TIMEOUT, **kwargs)

    def restore_codex_config(self) -> None:
        """Config writes are real: a fuzzed `config/value/write` can leave a key codex
        rejects (`--strict-config`), after which every runtime call fails. Undo them."""
        if self.codex_config.read_bytes() != self.config_text:
            self.codex_config.write_bytes(self.config_text)

    def new_id(self, name: str) -> str | None:
        """A real id for path parameter `name` (None when there is none to make)."""
        if name == "session_id":
            answer = self.call("POST", "/api/sessions", json={})
            assert answer.status_code == 200, answer.text
            return str(answer.json()["session"]["sessionId"])
        if name == "project_id":
            self.projects += 1  # names are unique
            answer = self.call("POST", "/api/projects", json={"name": f"fuzz {self.projects}"})
            assert answer.status_code == 200, answer.text
            return str(answer.json()["project"]["projectId"])
        return None

    def healthy(self) -> bool:
        return self.call("GET", "/api/health").status_code == 200


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("fuzz")
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(running_host(root, lambda request: Reply("ok"))) as host,
        requests.Session() as http,
    ):
        schema = schemathesis.openapi.from_url(f"{host.url}/api/openapi.json")
        codex_config = root / "codex-home" / "config.toml"
        api = Api(host.url, schema, http, codex_config, codex_config.read_bytes())
        for result in schema.get_all_operations():
            operation = result.ok()
            api.operations[shape(f"{operation.method.upper()} {operation.path}")] = operation
        yield api
        assert api.healthy()


def test_the_document_has_exactly_the_contract_operations(api: Api) -> None:
    assert sorted(api.operations) == DOCUMENTED
    assert set(EXCLUDED) <= set(DOCUMENTED)
    assert sorted(set(DOCUMENTED) - set(FUZZED)) == sorted(EXCLUDED)


def takes_invalid_input(operation: Any) -> bool:
    """Whether a negative case can exist: a body or a query parameter (any string is a
    valid path segment, and operations without input have nothing to get wrong)."""
    raw = operation.definition.raw
    return "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", []))


def check(api: Api, label: str, case: Any) -> None:
    response = case.call(session=api.http, timeout=REQUEST_TIMEOUT)
    api.restore_codex_config()
    checks = [c for c in CHECKS if c not in CHECK_EXCEPTIONS.get(label, set())]
    if response.status_code >= 500:
        code = None
        if "json" in response.headers.get("content-type", [""])[0]:
            code = (response.json() or {}).get("code")
        # Anything else is a crash: `not_a_server_error` reports it. A contract 5xx must
        # still be documented (status_code_conformance).
        if CONTRACT_5XX.get(response.status_code) != code:
            checks.append(not_a_server_error)
    case.validate_response(response, checks=checks)


@pytest.mark.parametrize("label", FUZZED)
def test_fuzz(api: Api, label: str) -> None:
    operation = api.operations[label]
    strategies = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    if takes_invalid_input(operation):
        strategies.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    real = {
        name: value
        for name in re.findall(r"\{([^}]+)\}", operation.path)
        if (value := api.new_id(name)) is not None
    }
    if real:
        strategies.append(operation.as_strategy(path_parameters=real))

    for strategy in strategies:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=hypothesis.Verbosity.quiet,
        )
        @given(case=strategy)
        def fuzz(case: Any) -> None:
            check(api, label, case)

        fuzz()
    assert api.healthy(), f"the server stopped answering /api/health after {label}"


def test_strategies_are_deterministic(api: Api) -> None:
    """The same cases every run: derandomized generation of one operation, twice."""
    operation = api.operations["POST /api/sessions/{}/rename"]

    def draw() -> list[Any]:
        cases: list[Any] = []

        @settings(max_examples=5, derandomize=True, database=None, phases=[Phase.generate])
        @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
        def collect(case: Any) -> None:
            cases.append((case.path_parameters, case.body))

        collect()
        return cases

    assert draw() == draw()

"""Dynamic tools: answer app-server's `item/tool/call` requests with plain Python callables.

`codex app-server` lets a client declare "dynamic tools" on `thread/start`
(`dynamicTools: [{"type": "function", "name", "description", "inputSchema"}]`). When the model
calls one, app-server sends the server request `item/tool/call` with
`{threadId, turnId, callId, tool, arguments}` and waits for
`{"success": bool, "contentItems": [{"type": "inputText", "text": ...}, ...]}`.

`ToolRegistry` turns ordinary functions into such tools::

    registry = ToolRegistry()

    @registry.register
    async def lookup_order(order_id: str, include_items: bool = False) -> dict[str, Any]:
        '''Look up an order by id.

        Args:
            order_id: The order number, e.g. "A-17".
            include_items: Also return the line items.
        '''

    registry.specs()                                    # -> the `dynamicTools` list
    result = await registry.call("lookup_order", {"order_id": "A-17"})
    result.to_response()                                # -> the `item/tool/call` reply

The input JSON Schema is derived from the type hints once, at registration, into a small tree
that also checks and converts the model's arguments at call time, so what the schema promises
and what a call accepts come from one place (call-time checks are only ever stricter where
codex cannot carry a constraint, such as the positions of a fixed-length tuple). Everything
that can go wrong *at call time* (bad arguments, a timeout, an exception in the tool) becomes
a failed `ToolResult` whose text the model reads, because the model can usually correct
itself; only definition mistakes raise (`ToolDefinitionError`, at registration, where the
developer sees them).

Modules, in the order a call meets them: `registry` (names -> tools), `tool` (one callable:
signature, binding, running, timeout), `compiler` (type hints -> nodes), `nodes` (schema,
check and conversion of each supported type), `json_values` (how a value is described in an
error), `docstrings` (descriptions), `result` (`ToolResult`, return values).

What libraries do, and what is ours (issue 8 asked us to check):

- Docstrings are parsed by docstring_parser (Google, NumPy, reST, Epydoc). Ours is only what
  the model is shown: the whole first paragraph as the summary, paragraphs kept, and the
  Google spellings our earlier parser accepted (`Keyword Args:`, lower case, a docstring that
  opens with `Args:`); see `docstrings`.
- The schema compiler and argument checks stay hand-written. msgspec (`msgspec.json.schema`,
  `msgspec.convert`) covers the common types but not what codex and the model need:
  it emits `$ref`/`$defs` for every class and enum (codex app-server gives a schema without a
  `type` the type "string"), `prefixItems` with `"items": false` for tuples (codex rejects
  positional items and turns a boolean schema into a string), type-less and sorted enums
  (codex types a type-less enum "string"), no `additionalProperties: false`, `{}` for Any
  (codex drops a description there), attrs private fields under their attribute name
  instead of their init name, and no descriptions from `Annotated[T, "text"]` or from
  docstring entries (a class's whole docstring, sections and all, is its description). Its
  unions refuse types we support (two classes, a list and a tuple, a class and a dict).
  `msgspec.convert` stops at the first problem, where we report every one with its path so
  that the model fixes its call in one go; it ignores unknown keys of classes and refuses
  `3.0` for an int. Rewriting its output to fix all that is longer than the
  compiler, so msgspec stays a Litestar (HTTP host) dependency and the core does not take it.
- Return values are turned into JSON by cattrs' JSON preset, already a core dependency.

Only anyio is used, so the registry works under asyncio and trio alike.
"""

from __future__ import annotations

from codex_manager_core.tools.errors import ToolDefinitionError
from codex_manager_core.tools.registry import ToolRegistry
from codex_manager_core.tools.result import ToolResult
from codex_manager_core.tools.tool import TOOL_NAME_PATTERN, Tool

__all__ = [
    "TOOL_NAME_PATTERN",
    "Tool",
    "ToolDefinitionError",
    "ToolRegistry",
    "ToolResult",
]

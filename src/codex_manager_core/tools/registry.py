"""`ToolRegistry`: the tools an embedding program offers, by name, and the answer to calls.

The manager holds one registry (`Manager.open(..., tools=registry)`): it declares the
registered tools on `thread/start` (`specs`) and answers app-server's `item/tool/call` with
`handle_call`. A name the registry does not know is a failed result the model reads, not an
error, because a thread may have been started with tools this registry no longer has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from codex_manager_core.tools.errors import ToolDefinitionError
from codex_manager_core.tools.result import ToolResult
from codex_manager_core.tools.tool import Tool

F = TypeVar("F", bound=Callable[..., Any])


class ToolRegistry:
    """The tools an embedding program offers to the model, by name.

    Register callables with `register`, declare them on `thread/start` with `specs`, and
    answer `item/tool/call` with `call` (or `handle_call`, which takes the request params
    and returns the reply). Registration order is kept.
    """

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    @overload
    def register(
        self,
        fn: F,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> F: ...

    @overload
    def register(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> Callable[[F], F]: ...

    def register(
        self,
        fn: F | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        replace: bool = False,
    ) -> F | Callable[[F], F]:
        """Register `fn` as a tool; usable as `@register`, `@register(...)` or a call.

        Returns `fn` unchanged, so a decorated function stays an ordinary function.

        - name: defaults to the function's `__name__`; must match `^[a-zA-Z0-9_-]{1,64}$`.
        - description: defaults to the docstring's first paragraph, else "Tool <name>.".
        - timeout: seconds before a call gives up with a failed result (None: no limit).
        - replace: allow replacing a tool of the same name (otherwise that is an error).

        The input schema comes from the type hints: str, int, float, bool, None, Any,
        list/tuple/set, dict[str, T], Optional/Union, Literal, Enum, Annotated[T, "text"]
        (a description), TypedDict, attrs classes and dataclasses (nested objects). A missing
        annotation accepts anything; a parameter with a default is optional and its default
        is shown when it is JSON. Parameter descriptions come from the docstring's `Args:`
        section. Bound methods work (`self` is not an argument).

        Raises:
            ToolDefinitionError: a duplicate name without `replace=True`, or anything
                `Tool.from_function` rejects.
        """

        def decorate(function: F) -> F:
            tool = Tool.from_function(function, name=name, description=description, timeout=timeout)
            if tool.name in self._tools and not replace:
                raise ToolDefinitionError(
                    f"a tool named {tool.name!r} is already registered; pass replace=True to "
                    "replace it, or name=... to register under another name"
                )
            self._tools[tool.name] = tool
            return function

        if fn is None:
            return decorate
        return decorate(fn)

    def unregister(self, name: str) -> Tool:
        """Remove a tool and return it. Raises KeyError if there is none by that name."""
        try:
            return self._tools.pop(name)
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def get(self, name: str) -> Tool | None:
        """The tool registered as `name`, or None."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def specs(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The `dynamicTools` list for `thread/start`: the named tools, or all when None.

        Raises KeyError naming an unknown tool.
        """
        if isinstance(names, str):
            raise TypeError("specs() takes a collection of names; wrap a single name in a list")
        selected = self.names() if names is None else list(names)
        return [self[name].spec() for name in selected]

    async def call(self, name: str, arguments: Any = None) -> ToolResult:
        """Call the tool `name` with the model's `arguments`; see `Tool.call`.

        An unknown name is a failed result, not an error: the model (or a thread declared
        with tools this registry no longer has) gets told which tools exist.
        """
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult.error(self._unknown(name))
        return await tool.call(arguments)

    async def handle_call(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Answer an `item/tool/call` request: takes its params, returns its JSON-RPC result."""
        name = params.get("tool")
        if not isinstance(name, str):
            return ToolResult.error(f"the tool name must be a string, got {name!r}").to_response()
        result = await self.call(name, params.get("arguments"))
        return result.to_response()

    def _unknown(self, name: str) -> str:
        known = ", ".join(repr(n) for n in self._tools) or "none"
        return f"unknown tool {name!r}; registered tools: {known}"

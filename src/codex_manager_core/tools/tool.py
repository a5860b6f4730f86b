"""`Tool`: one Python callable described for the model, and run for it.

`Tool.from_function` reads the callable's signature, type hints and docstring once, at
registration; `Tool.call` checks the model's arguments against what was compiled then, runs
the callable (a worker thread for sync ones) under the tool's timeout, and turns whatever
happens into a `ToolResult`. Only anyio is used, so it runs under asyncio and trio alike.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import anyio
import anyio.to_thread
import attrs

from codex_manager_core.tools.compiler import (
    Compiler,
    annotated_description,
    json_default,
    type_name,
)
from codex_manager_core.tools.docstrings import own_class_doc, parse_docstring
from codex_manager_core.tools.errors import ToolDefinitionError
from codex_manager_core.tools.json_values import describe
from codex_manager_core.tools.nodes import (
    NO_DEFAULT,
    Field,
    JsonSchema,
    check_object,
    object_schema,
)
from codex_manager_core.tools.result import ToolResult, to_result

# One logger for the whole package, named after it: embedders filter on that name.
logger = logging.getLogger("codex_manager_core.tools")

#: What app-server (and the model APIs behind it) accept as a tool name; use `fullmatch`.
TOOL_NAME_PATTERN: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def _unwrap_partial(fn: Any) -> Any:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _hint_source(fn: Callable[..., Any]) -> Any:
    """The object whose annotations describe calling `fn`."""
    target = _unwrap_partial(fn)
    if inspect.isfunction(target) or inspect.ismethod(target):
        return target
    if inspect.isclass(target):
        return target.__init__
    return type(target).__call__


def _is_coroutine_callable(fn: Callable[..., Any]) -> bool:
    target = _unwrap_partial(fn)
    if inspect.iscoroutinefunction(target):
        return True
    if inspect.isfunction(target) or inspect.ismethod(target) or inspect.isclass(target):
        return False
    return inspect.iscoroutinefunction(type(target).__call__)


def _callable_label(fn: Callable[..., Any]) -> str:
    target = _unwrap_partial(fn)
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def _callable_doc(fn: Callable[..., Any]) -> str | None:
    target = _unwrap_partial(fn)
    if inspect.isfunction(target) or inspect.ismethod(target):
        return inspect.getdoc(target)
    if inspect.isclass(target):
        return own_class_doc(target)
    # Only __call__'s own docstring: getdoc would find "Call self as a function." on `type`.
    return getattr(type(target).__call__, "__doc__", None) or own_class_doc(type(target))


def _parse_arguments(arguments: Any) -> Mapping[str, Any] | str:
    """The arguments as a mapping, or a message saying why they are not usable."""
    if isinstance(arguments, str | bytes):
        if not arguments.strip():
            return {}
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            return f"the arguments are not valid JSON ({exc}); send a JSON object"
    if arguments is None:
        return {}
    if not isinstance(arguments, Mapping):
        return f"the arguments must be a JSON object, got {describe(arguments)}"
    return arguments


@attrs.frozen(eq=False)
class Tool:
    """One tool: its name, description, input JSON Schema, the callable and its timeout.

    Build one with `Tool.from_function` (or `ToolRegistry.register`). `input_schema` is the
    tool's own copy: treat it as read-only and use `spec()` for something to send or modify.
    """

    name: str
    description: str
    input_schema: JsonSchema
    fn: Callable[..., Any]
    timeout: float | None = None
    _parameters: tuple[Field, ...] = attrs.field(default=(), repr=False, alias="_parameters")
    _is_async: bool = attrs.field(default=False, repr=False, alias="_is_async")

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
    ) -> Tool:
        """Describe `fn` as a tool; see `ToolRegistry.register` for the rules.

        Raises:
            ToolDefinitionError: the name is invalid, the timeout is not positive, or the
                signature has `*args`/`**kwargs`, positional-only parameters or annotations
                with no JSON form.
        """
        if not callable(fn):
            raise ToolDefinitionError(f"a tool must be callable, got {fn!r}")
        label = f"{_callable_label(fn)!r}"
        if name is None:
            target = _unwrap_partial(fn)
            name = getattr(target, "__name__", None) or type(target).__name__
        if not TOOL_NAME_PATTERN.fullmatch(name):
            raise ToolDefinitionError(
                f"cannot make {label} a tool: the name {name!r} is invalid; tool names must "
                f"match ^{TOOL_NAME_PATTERN.pattern}$ (pass name=...)"
            )
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise ToolDefinitionError(
                f"cannot make {label} a tool: timeout must be a positive number of seconds or "
                f"None, got {timeout!r}"
            )
        compiler = Compiler(label)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise ToolDefinitionError(
                f"cannot make {label} a tool: its signature cannot be inspected ({exc})"
            ) from exc
        hints = compiler.hints(_hint_source(fn), "its signature")
        summary, doc_params = parse_docstring(_callable_doc(fn), label)
        parameters: list[Field] = []
        for index, param in enumerate(signature.parameters.values()):
            where = f"parameter {param.name!r}"
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                raise compiler.fail(
                    f"parameter '*{param.name}'", "*args cannot be passed by name; list them"
                )
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                raise compiler.fail(
                    f"parameter '**{param.name}'",
                    "**kwargs has no schema; declare each argument as a parameter",
                )
            if param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise compiler.fail(
                    where, "positional-only parameters cannot be passed by name; remove the '/'"
                )
            if index == 0 and param.name in ("self", "cls") and inspect.isfunction(fn):
                raise compiler.fail(
                    where,
                    "this looks like a method taken from its class; register the bound method "
                    "(instance.method) instead",
                )
            tp = hints.get(param.name, Any)
            required = param.default is inspect.Parameter.empty
            parameters.append(
                Field(
                    key=param.name,
                    init_name=param.name,
                    node=compiler.compile(tp, f"{where} ({type_name(tp)})"),
                    required=required,
                    default=NO_DEFAULT if required else json_default(param.default),
                    description=annotated_description(tp) or doc_params.get(param.name),
                )
            )
        fields = tuple(parameters)
        if description is None or not description.strip():
            description = summary or f"Tool {name}."
        return cls(
            name=name,
            description=description.strip(),
            input_schema=object_schema(fields),
            fn=fn,
            timeout=timeout,
            _parameters=fields,
            _is_async=_is_coroutine_callable(fn),
        )

    def spec(self) -> dict[str, Any]:
        """The entry for `dynamicTools` on `thread/start` (a fresh copy)."""
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "inputSchema": copy.deepcopy(self.input_schema),
        }

    def bind(self, arguments: Any) -> dict[str, Any] | list[str]:
        """Check `arguments` and convert them to keyword arguments for `fn`.

        Returns the keyword arguments, or the list of problems found (each naming the
        argument path, e.g. `order.items[2].quantity: expected an integer, got string "x"`).
        Parameters left out take the function's defaults.
        """
        parsed = _parse_arguments(arguments)
        if isinstance(parsed, str):
            return [parsed]
        errors: list[str] = []
        check_object(self._parameters, parsed, "", errors)
        if errors:
            return errors
        kwargs: dict[str, Any] = {}
        for field in self._parameters:
            if field.key not in parsed:
                continue
            try:
                kwargs[field.init_name] = field.node.convert(parsed[field.key])
            except Exception as exc:  # a constructor or attrs validator refused the value
                errors.append(f"{field.key}: {type(exc).__name__}: {exc}")
        return errors or kwargs

    async def call(self, arguments: Any) -> ToolResult:
        """Run the tool for the model and say how it went; never raises for the model's sake.

        `arguments` is a JSON object (a mapping), its JSON text, or None/"" for no arguments.
        Invalid arguments, a timeout or an exception in the tool become a failed result whose
        text explains the problem (exceptions are also logged). Sync functions run in a worker
        thread; on timeout such a thread is abandoned, not stopped (Python cannot stop threads).
        Cancellation of the caller propagates as usual.

        Return values become: `ToolResult` as is; str one text item; None an empty text; any
        other value (dict, list, number, bool, attrs/dataclass instance, ...) its JSON text.
        """
        bound = self.bind(arguments)
        if isinstance(bound, list):
            return ToolResult.error(
                f"invalid arguments for tool {self.name!r}:\n" + "\n".join(f"- {e}" for e in bound)
            )
        deadline = math.inf if self.timeout is None else self.timeout
        value: Any = None
        try:
            with anyio.move_on_after(deadline) as scope:
                value = await self._invoke(bound)
        except Exception as exc:
            logger.exception("tool %r raised", self.name)
            message = str(exc)
            return ToolResult.error(
                f"{type(exc).__name__}: {message}" if message else type(exc).__name__
            )
        if scope.cancelled_caught:
            logger.warning("tool %r timed out after %g s", self.name, deadline)
            return ToolResult.error(
                f"tool {self.name!r} timed out: no result within {deadline:g} seconds"
            )
        return to_result(self.name, value)

    async def _invoke(self, kwargs: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.fn(**kwargs)

        def run() -> tuple[Any]:
            # Boxed: trio refuses a thread function whose result is a coroutine.
            return (self.fn(**kwargs),)

        (value,) = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        if inspect.isawaitable(value):  # a sync wrapper around a coroutine function
            value = await value
        return value

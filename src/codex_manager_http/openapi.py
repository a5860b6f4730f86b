"""Two corrections to the OpenAPI document Litestar generates, found by fuzzing it
(tests/acceptance/test_http_fuzz.py):

- `TypedDictSchemaPlugin`: TypedDict schemas with their real required keys and their msgspec
  constraints. Litestar reads `__required_keys__`, which Python 3.11 gets wrong under
  `from __future__ import annotations` (a `NotRequired[...]` inside a string annotation is
  not seen, so every key is listed as required), and it ignores `Annotated[...,
  msgspec.Meta(...)]`. msgspec, which validates the requests, knows both: ask it.
- `document_errors`: a handler that takes input answers 400 with our `ErrorBody` (errors.py),
  not Litestar's `{status_code, detail, extra}`; one with ids in its path can answer 404; one
  that calls app-server can answer whatever errors.py maps a runtime error to (400, 409, 501,
  502, 503, 504). Say so wherever the handler does not declare these statuses itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar.constants import RESERVED_KWARGS
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

try:  # the helper Litestar's own msgspec Struct schema plugin uses
    from litestar.plugins.core._msgspec import kwarg_definition_from_field
except ImportError:  # pragma: no cover - a later Litestar 2.x moved it: no constraints then
    kwarg_definition_from_field = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema


class TypedDictSchemaPlugin(OpenAPISchemaPlugin):
    """TypedDicts as msgspec sees them (required keys, length and range constraints)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_typeddict_type

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        hints = field_definition.get_type_hints(include_extras=True, resolve_generics=True)
        info = msgspec.inspect.type_info(field_definition.type_)
        fields = {field.name: field for field in getattr(info, "fields", ())}
        properties: dict[str, FieldDefinition] = {}
        for name, annotation in hints.items():
            extra: dict[str, Any] = {}
            field = fields.get(name)
            if field is not None and kwarg_definition_from_field is not None:
                kwarg_definition = kwarg_definition_from_field(field)[0]
                if kwarg_definition is not None:
                    extra["kwarg_definition"] = kwarg_definition
            properties[name] = FieldDefinition.from_kwarg(annotation, name, **extra)
        required = sorted(name for name, field in fields.items() if field.required)
        return schema_creator.create_component_schema(
            field_definition, required=required, property_fields=properties
        )


#: Routes with these tags each proxy one app-server method (routes/discovery.py, config.py,
#: account.py), so they can answer every status errors.py maps a runtime error to.
PASSTHROUGH_TAGS = frozenset({"discovery", "config", "account"})
_DESCRIPTIONS = {
    400: "Invalid request (body, query or values)",
    404: "Not found",
    409: "The runtime refused the call in its current state (code invalid_state; "
    "codex_auth_required when codex is not logged in)",
    502: "The runtime failed the call (code codex_error)",
    501: "The installed codex does not support this method (code method_not_supported)",
    503: "The runtime is not running (retry shortly)",
    504: "The runtime did not answer in time (code codex_timeout)",
    507: "The store refuses writes (disk full, read-only data dir); nothing was stored "
    "(code store_unavailable, the data dir named)",
}
RUNTIME_ERRORS = (400, 409, 501, 502, 503, 504)


def document_errors(app: Litestar, error_body: type[Any]) -> None:
    """Document, with `error_body`, the error statuses a handler of `app` can answer and
    does not declare itself: 400 when it takes input (a body, path or query parameters),
    404 when its path has ids, 507 when it writes, and every status a runtime error maps to when it calls the
    runtime (a passthrough, or a handler that already documents 501 or 503). Acts on
    `app`'s own copies of the handlers."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            codes: set[int] = set()
            parameters = set(handler.parsed_fn_signature.parameters)
            inputs = parameters - set(handler.resolve_dependencies()) - RESERVED_KWARGS
            if "data" in parameters or inputs or route.path_parameters:
                codes.add(400)
            if route.path_parameters:
                codes.add(404)
            if handler.http_methods - {"GET", "HEAD"}:
                codes.add(507)  # every write can meet a full disk
            responses = dict(handler.responses or {})
            # A passthrough calls the runtime; so does a handler that documents 501 or 503.
            if PASSTHROUGH_TAGS.intersection(handler.resolve_tags()) or {501, 503} & set(responses):
                codes.update(RUNTIME_ERRORS)
            missing = codes - set(responses)
            if missing:
                for code in sorted(missing):
                    responses[code] = ResponseSpec(
                        data_container=error_body, description=_DESCRIPTIONS[code]
                    )
                handler.responses = responses

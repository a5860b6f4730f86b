"""Strict JSON bodies.

Litestar converts request data leniently (`strict=False`: `1` and `"true"` become `True`,
`"10"` becomes `10`), which is right for query strings but lets a JSON body with the wrong
types through: `{"includeLogs": 1}` would reach the runtime as a boolean. This
`before_request` hook decodes the body of every handler that takes `data` STRICTLY against
the handler's own annotation first, so a wrong type is a 400 `invalid_request` naming the
field, and malformed JSON is a 400 that says so. Valid bodies then take Litestar's usual
path unchanged (a strictly valid value converts to the same value leniently).
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ValidationException

logger = logging.getLogger("codex_manager_http")

_LOCATION = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNSUPPORTED: Any = object()
_decoders: dict[Any, Any] = {}


def _decoder(annotation: Any) -> msgspec.json.Decoder[Any] | None:
    """A strict decoder for `annotation` (cached), or None when msgspec cannot decode it
    (then Litestar's own parsing is the only check)."""
    try:
        cached = _decoders.get(annotation)
    except TypeError:  # unhashable annotation: build one each time
        cached = None
    if cached is _UNSUPPORTED:
        return None
    if cached is not None:
        decoder: msgspec.json.Decoder[Any] = cached
        return decoder
    try:
        decoder = msgspec.json.Decoder(annotation, strict=True)
    except TypeError:
        logger.debug("no strict decoder for %r", annotation)
        decoder = _UNSUPPORTED
    with contextlib.suppress(TypeError):  # unhashable: not cached
        _decoders[annotation] = decoder
    return None if decoder is _UNSUPPORTED else decoder


def body_error(message: str, location: str | None) -> ValidationException:
    """A validation error in Litestar's `extra` format (what `errors.handle_validation`
    turns into `{status, code: invalid_request, message, issues}`)."""
    key = "data" + (location or "")
    return ValidationException(
        detail=f"invalid request body: {message}",
        extra=[{"key": key, "message": message, "source": "body"}],
    )


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request` hook (see the module's docstring)."""
    field = request.route_handler.parsed_fn_signature.parameters.get("data")
    if field is None:
        return
    media_type = getattr(field.kwarg_definition, "media_type", RequestEncodingType.JSON)
    if media_type != RequestEncodingType.JSON:
        return
    decoder = _decoder(field.annotation)
    if decoder is None:
        return
    raw = await request.body()
    if not raw.strip():
        return  # no body: Litestar answers for a required one, uses the default otherwise
    try:
        decoder.decode(raw)
    except msgspec.ValidationError as exc:
        match = _LOCATION.match(str(exc))
        message = match.group("message") if match else str(exc)
        location = match.group("path") if match else None
        raise body_error(message, location) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(
            detail=f"the request body is not valid JSON ({exc})",
            extra=[
                {
                    "key": "data",
                    "message": f"the request body is not valid JSON ({exc})",
                    "source": "body",
                }
            ],
        ) from None

"""Strict JSON bodies.

Litestar converts request data leniently (`strict=False`: `1` and `"true"` become `True`,
`"10"` becomes `10`), which is right for query strings but lets a JSON body with the wrong
types through: `{"includeLogs": 1}` would reach the runtime as a boolean. This
`before_request` hook decodes the body of every handler that takes `data` STRICTLY against
the handler's own annotation first, so a wrong type is a 400 `invalid_request` naming the
field, and malformed JSON is a 400 that says so. Valid bodies then take Litestar's usual
path unchanged (a strictly valid value converts to the same value leniently).

It also bounds how deeply a body may nest (`MAX_JSON_DEPTH`), for every JSON route at once:
msgspec (under this hook and under Litestar) raises RecursionError on JSON nested about a
thousand levels deep, which used to be a 500; a value nested a few hundred levels deep
would decode, then fail wherever it is encoded again (the runtime's serde_json stops at
128 levels, our own reads of a stored document would fail for ever).
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

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have."""
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")
_LOCATION = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNSUPPORTED: Any = object()
_decoders: dict[Any, Any] = {}
_ANY_JSON: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
"""For annotations msgspec cannot decode: still a syntax check before Litestar's parsing."""


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


def nested_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays and objects more than `limit` levels deep.

    Without decoding (that is what recurses): strings are cut out, the brackets kept, and
    the innermost pairs removed, one level per round. Malformed text may answer either way;
    the decoder then reports it. Bodies with few brackets (most) cost two counts.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    skeleton = _STRING.sub(b"", raw) if b'"' in raw else raw
    skeleton = skeleton.translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        inner = _INNERMOST.sub(b"", skeleton)
        if not inner or inner == skeleton:
            return False
        skeleton = inner
    return True


def too_deep_error() -> ValidationException:
    return body_error(f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep", None)


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
    raw = await request.body()
    if not raw.strip():
        return  # no body: Litestar answers for a required one, uses the default otherwise
    if nested_too_deep(raw):
        raise too_deep_error()
    decoder = _decoder(field.annotation) or _ANY_JSON
    try:
        decoder.decode(raw)
    except RecursionError:  # unbalanced brackets that never close, nested deeper than that
        raise too_deep_error() from None
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

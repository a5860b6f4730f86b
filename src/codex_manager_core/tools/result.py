"""What a tool answers: `ToolResult`, app-server's `item/tool/call` reply, and how a plain
return value becomes one.

app-server waits for `{"success": bool, "contentItems": [{"type": "inputText", ...}, ...]}`;
keeping that shape in one frozen record means a tool, the registry and the manager all speak
the same answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
from cattrs.preconf.json import make_converter

# One logger for the whole package, named after it: embedders filter on that name.
logger = logging.getLogger("codex_manager_core.tools")

# Return values are unstructured (attrs/dataclass -> dict, Enum -> value, set/tuple -> list,
# datetime -> ISO-8601) by cattrs' JSON preset; aliases match the keys of our input schemas.
_RESULT_CONVERTER: Final = make_converter(use_alias=True)


def _content_items(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    converted = tuple(dict(item) for item in items)
    for item in converted:
        if not isinstance(item.get("type"), str):
            raise ValueError(f"every content item needs a string 'type', got {item!r}")
    return converted


@attrs.frozen
class ToolResult:
    """The answer to one `item/tool/call`: success plus content items for the model.

    Content items use app-server's wire shape, e.g. `{"type": "inputText", "text": "..."}` or
    `{"type": "inputImage", "imageUrl": "data:image/png;base64,..."}`. A tool may return a
    `ToolResult` itself to control success or send several items (text and images).
    """

    success: bool
    content_items: tuple[dict[str, Any], ...] = attrs.field(converter=_content_items)

    @classmethod
    def text(cls, text: str) -> ToolResult:
        """A successful result with one text item."""
        return cls(True, ({"type": "inputText", "text": text},))

    @classmethod
    def error(cls, message: str) -> ToolResult:
        """A failed result; `message` tells the model what went wrong (and what to do)."""
        return cls(False, ({"type": "inputText", "text": message},))

    @classmethod
    def image(cls, image_url: str) -> ToolResult:
        """A successful result with one image (an http(s) or `data:` URL)."""
        return cls(True, ({"type": "inputImage", "imageUrl": image_url},))

    def to_response(self) -> dict[str, Any]:
        """The JSON-RPC result for `item/tool/call`: `{"success", "contentItems"}`."""
        return {
            "success": self.success,
            "contentItems": [dict(item) for item in self.content_items],
        }


def to_result(name: str, value: Any) -> ToolResult:
    """Turn what the tool `name` returned into a ToolResult (see `Tool.call`)."""
    if isinstance(value, ToolResult):
        return value
    if value is None:
        return ToolResult.text("")
    if isinstance(value, str):
        return ToolResult.text(value)
    try:
        text = json.dumps(_RESULT_CONVERTER.unstructure(value), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        logger.error("tool %r returned a value JSON cannot encode: %r", name, value)
        return ToolResult.error(
            f"tool {name!r} returned a {type(value).__name__} that cannot be encoded as JSON "
            f"({exc})"
        )
    return ToolResult.text(text)

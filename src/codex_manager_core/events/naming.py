"""Event names: `item/fileChange/requestApproval` -> `item.file_change.request_approval`.

The rule (design.md section 3, the original's): split the JSON-RPC method on `/`, turn each
camelCase or PascalCase segment into snake_case, join with `.`; prefix notifications with
`app_server.` and server requests with `app_server.request.`.
"""

from __future__ import annotations

import functools
import re

APP_SERVER_PREFIX = "app_server."
APP_SERVER_REQUEST_PREFIX = "app_server.request."

# An upper-case letter that starts a word: after a lower-case letter or digit, or the last
# capital of an acronym followed by a lower-case letter (MCPServer -> mcp_server).
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=1024)
def normalize_method(method: str) -> str:
    segments = (segment for segment in method.split("/") if segment)
    return ".".join(_WORD_BOUNDARY.sub("_", segment).lower() for segment in segments)


@functools.lru_cache(maxsize=1024)
def notification_event_type(method: str) -> str:
    return APP_SERVER_PREFIX + normalize_method(method)


@functools.lru_cache(maxsize=256)
def request_event_type(method: str) -> str:
    return APP_SERVER_REQUEST_PREFIX + normalize_method(method)

"""How answers are printed: `-o table|json|jsonl` and the original's `--json` envelope.

json is the whole answer, indented; jsonl is one compact line per record of a list
answer (the answer itself on one line otherwise); table is the records as columns (the
command's own, else the first record's scalar fields), or `field  value` lines for a
single object. The table writer is plain text: rich would cost its import on every
listing for no gain in a terminal table.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import IO, Any

MAX_CELL = 60
#: In a table, an answer carrying one of these records (`{status, session, thread}`) shows
#: the record's fields: what was created, read or changed.
RECORD_KEYS = ("session", "project", "job")
MAX_COLUMNS = 7


def records(body: Any, rows: str | None) -> list[Any] | None:
    """The list the table shows: `body[rows]`, the body when it is a list, else None."""
    if isinstance(body, list):
        return body
    if rows is not None and isinstance(body, dict) and isinstance(body.get(rows), list):
        found: list[Any] = body[rows]
        return found
    return None


def dumps(value: Any, *, indent: int | None = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def render(
    body: Any,
    output: str,
    *,
    rows: str | None = None,
    columns: Sequence[str] = (),
    stream: IO[str] | None = None,
) -> None:
    """Print an answer in `output` format."""
    out = stream or sys.stdout
    if isinstance(body, str):  # text answers (metrics) are printed as they are
        out.write(body if body.endswith("\n") else body + "\n")
        return
    listed = records(body, rows)
    if output == "jsonl":
        for item in listed if listed is not None else [body]:
            out.write(dumps(item, indent=None) + "\n")
    elif output == "table":
        out.write(table(listed, columns) if listed is not None else fields(record(body)))
    else:
        out.write(dumps(body) + "\n")


def record(body: Any) -> Any:
    """The record a single answer is about (RECORD_KEYS), else the answer."""
    if isinstance(body, dict):
        for key in RECORD_KEYS:
            if isinstance(body.get(key), dict):
                return body[key]
    return body


def cell(value: Any) -> str:
    """A value in one table cell: scalars as text, the rest as compact JSON, cut short."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        text = dumps(value, indent=None)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def table(items: list[Any], columns: Sequence[str] = ()) -> str:
    """Records as aligned columns with a header line; `(none)` for an empty list."""
    if not items:
        return "(none)\n"
    dicts = [item if isinstance(item, dict) else {"value": item} for item in items]
    names = (
        list(columns)
        or [
            key
            for key, value in dicts[0].items()
            if not isinstance(value, (dict, list)) and key != "status"
        ][:MAX_COLUMNS]
    )
    if not names:
        names = list(dicts[0])[:MAX_COLUMNS]
    grid = [names] + [[cell(record.get(name)) for name in names] for record in dicts]
    widths = [max(len(line[i]) for line in grid) for i in range(len(names))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in grid
    ]
    return "\n".join(lines) + "\n"


def fields(body: Any) -> str:
    """A single object as `field  value` lines (nested values as compact JSON)."""
    if not isinstance(body, dict):
        return dumps(body) + "\n"
    if not body:
        return "(empty)\n"
    width = max(len(str(key)) for key in body)
    return "".join(f"{str(key).ljust(width)}  {cell(value)}\n" for key, value in body.items())


def envelope(
    ok: bool, command: str, method: str, path: str, url: str, status: int, body: Any
) -> dict[str, Any]:
    """The original CLI's `--json` envelope of one request."""
    return {
        "ok": ok,
        "command": command,
        "request": {"method": method, "path": path, "url": url},
        "response": {"statusCode": status, "body": body},
    }


def error_envelope(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The `--json` envelope of a failure (printed on stderr)."""
    return {"ok": False, "error": {"kind": kind, "message": message, **extra}}

"""The vocabulary of the route binding table: one `Binding` per API route says which
command it is, which HTTP request it makes and how the command's arguments become the
request's path, query and body. `commands.py` generates the click commands from the
table (`route_table.py`), so a route is one row, never a hand-written command.

Standard library only, stdlib dataclasses rather than attrs: this is imported on every
start-up, and attrs would cost ~15 ms of its 150 ms budget (docs/performance.md).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any, Literal

Kind = Literal["str", "int", "float", "bool", "flag", "json", "csv", "text", "tristate"]
Where = Literal["query", "body"]

_PATH_PARAM = re.compile(r"\{(\w+)\}")


@dataclasses.dataclass(frozen=True, slots=True)
class Opt:
    """One `--option` of a command: where its value goes (`key` of the query or of the
    body) and how the text is read.

    Kinds: `str`, `int`, `float`; `bool` (`--x/--no-x`, omitted unless given); `flag`
    (`--x`, sent only when set); `json` (inline JSON or `@file`); `csv` (comma separated,
    or repeated: a list); `text` (a string, or `@file` for its contents); `tristate`
    (a string where the word `null` sends JSON null)."""

    name: str
    key: str
    where: Where = "body"
    kind: Kind = "str"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    multiple: bool = False
    default: Any = None
    """Sent when the option is not given (None: nothing is sent)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Binding:
    """A route as a command. `command` is the command path (`("sessions", "list")`),
    `path` the API path relative to the prefix with `{name}` parameters, which become the
    command's positional arguments in order (`ID` names), `options` the rest.

    `body` says whether the route takes a JSON body: `--body JSON|@file` gives it whole
    and the options set single fields on top. `rows` names the list in the answer that
    the table output shows (`data`, `sessions`, ...; "" for the answer itself when it
    is a list), with `columns` as the table's columns. `allow` are statuses that are
    an outcome rather than a failure (the original's allow-statuses: with `--json` they
    print an `ok` envelope and exit 0). `kind` `websocket` marks the stream route, whose
    command is a live command rather than a request."""

    command: tuple[str, ...]
    method: str
    path: str
    help: str
    options: tuple[Opt, ...] = ()
    body: bool = False
    rows: str | None = None
    columns: tuple[str, ...] = ()
    allow: tuple[int, ...] = ()
    kind: Literal["http", "websocket"] = "http"
    rest: str | None = None
    """A body field (a list) taking the command's trailing words (`runtime exec -- ls -l`)."""
    arguments: tuple[str, ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arguments", tuple(_PATH_PARAM.findall(self.path)))

    @property
    def route(self) -> tuple[str, str]:
        """(METHOD, /api path with `{}` for each parameter): the key routes.tsv uses."""
        return self.method, "/api" + _PATH_PARAM.sub("{}", self.path)

    @property
    def name(self) -> str:
        return " ".join(self.command)


def argument_name(parameter: str) -> str:
    """The positional argument of a path parameter: `sessionId` -> `session_id`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", parameter).lower()


def read_text_argument(value: str, what: str) -> str:
    """A value given inline, or `@path` for the contents of a file (`@-`: stdin)."""
    if not value.startswith("@"):
        return value
    source = value[1:]
    if source == "-":
        import sys

        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{what}: cannot read {source!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{what}: {source!r} is not UTF-8 text") from None


def parse_json_argument(value: str, what: str) -> Any:
    """Inline JSON, or `@file` holding JSON: what a JSON option accepts."""
    text = read_text_argument(value, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        shown = "the file" if value.startswith("@") else "the value"
        raise ValueError(
            f"{what}: {shown} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def convert(opt: Opt, value: Any) -> Any:
    """An option's click value as the JSON value it sends."""
    if opt.kind == "json":
        return parse_json_argument(value, f"--{opt.name}")
    if opt.kind == "text":
        return read_text_argument(value, f"--{opt.name}")
    if opt.kind == "csv":
        items = value if isinstance(value, (tuple, list)) else (value,)
        return [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if opt.kind == "tristate":
        return None if value == "null" else value
    return value


def build_request(
    binding: Binding,
    arguments: dict[str, str],
    values: dict[str, Any],
    body: Any,
    rest: tuple[str, ...] = (),
) -> tuple[str, dict[str, Any], Any]:
    """The request of one invocation: (path with the ids filled in, query, JSON body).

    `values` are the options by `Opt.name` (None: not given). Options override fields of
    `body` (from `--body`); a body given as something other than an object cannot take
    them."""
    from codex_manager_client.target import path_segment

    for name, given in arguments.items():
        if given.strip() in ("", ".", ".."):
            raise ValueError(f"{argument_name(name).upper()} {given!r} is not an id")
    path = _PATH_PARAM.sub(lambda match: path_segment(arguments[match.group(1)]), binding.path)
    query: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for opt in binding.options:
        value = values.get(opt.name)
        if value is None:
            value = opt.default
        if value is None or (opt.kind == "flag" and not value) or value == ():
            continue
        (query if opt.where == "query" else fields)[opt.key] = convert(opt, value)
    if binding.rest is not None and rest:
        fields[binding.rest] = list(rest)
    if fields:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ValueError("--body must be a JSON object when other options set its fields")
        body = {**body, **fields}
    missing = [
        f"--{opt.name}"
        for opt in binding.options
        if opt.required and opt.key not in (query if opt.where == "query" else (body or {}))
    ]
    if missing:
        where = " (or in --body)" if binding.body else ""
        raise ValueError(f"missing {', '.join(missing)}{where}")
    return path, query, body

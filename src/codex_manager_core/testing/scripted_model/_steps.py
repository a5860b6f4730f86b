"""The script's vocabulary: the steps a test lists, one answered per model request.

Each step is a frozen attrs record that validates its fields at construction, so a typo in a
script fails where it is written rather than mid-turn. How a step becomes bytes on the wire
is `_responses_api.perform`'s business; this module only says what a step means.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final, TypeAlias

import attrs


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _encode_arguments(arguments: Mapping[str, Any] | str) -> str:
    """Tool arguments travel as a JSON *string*; a str is sent as is (even if not JSON, so
    tests can feed codex malformed arguments on purpose)."""
    if isinstance(arguments, str):
        return arguments
    if not isinstance(arguments, Mapping):
        raise TypeError(f"arguments must be a mapping or a JSON string, got {arguments!r}")
    return json.dumps(dict(arguments))


# ------------------------------------------------------------------------------- steps


@attrs.frozen
class Reply:
    """Answer with an assistant message.

    Streams `response.created`, `response.output_item.added` (the message), `chunks`
    `response.output_text.delta` events that together spell `text` (split evenly, at most one
    per character, none for an empty text), `response.output_item.done` with the full text,
    and `response.completed` with usage. `delay` seconds pass between two deltas, to make the
    streaming observable.
    """

    text: str
    chunks: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    delay: float = attrs.field(default=0.0, validator=_non_negative)


@attrs.frozen
class CallTool:
    """Ask codex to call a function tool (a built-in such as `exec_command` or a dynamic
    tool declared on `thread/start`).

    Streams `response.created`, `response.output_item.added` and `response.output_item.done`
    for a `function_call` item, then `response.completed`. `arguments` is JSON-encoded when it
    is a mapping; a str is sent verbatim. Without a `call_id`, the server makes one up that is
    unique per server (and random across servers); codex then answers with a
    `function_call_output` for it in its next request (see `RecordedRequest.output_for`).
    """

    name: str
    arguments: str = attrs.field(default="{}", converter=_encode_arguments)
    call_id: str | None = None


@attrs.frozen
class Fail:
    """Answer with a plain HTTP error (codex reports an `error` and fails the turn)."""

    status: int = attrs.field(
        default=500, validator=[attrs.validators.ge(400), attrs.validators.le(599)]
    )
    body: str = "scripted failure"


@attrs.frozen
class FailResponse:
    """Start a stream, then report `response.failed` (codex fails the turn)."""

    message: str = "scripted failure"
    code: str = "server_error"


@attrs.frozen
class CutStream:
    """Start a reply, stream `text` (if any) and drop the connection without
    `response.completed`, like a network failure mid-answer."""

    text: str = "partial"


@attrs.frozen
class Stall:
    """Start a reply (streaming `text` if any) and then hang: forever when `seconds` is None,
    else for that long before dropping the connection without completing.

    A stall ends early when the client disconnects (codex does so when a turn is interrupted)
    or when the server closes. Used to test interruption and timeouts.
    """

    text: str = ""
    seconds: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_non_negative)
    )


@attrs.frozen
class Delay:
    """Wait `seconds` before doing `step` (nothing is sent meanwhile, not even headers)."""

    seconds: float = attrs.field(validator=_non_negative)
    step: Step


Step: TypeAlias = Reply | CallTool | Fail | FailResponse | CutStream | Stall | Delay
STEP_TYPES: Final = (Reply, CallTool, Fail, FailResponse, CutStream, Stall, Delay)


def exec_command(
    cmd: str,
    *,
    escalate: bool = True,
    justification: str = "The scripted model asks to run this command.",
    call_id: str | None = None,
) -> CallTool:
    """A call of codex's built-in `exec_command` tool that runs `cmd`.

    With `escalate` (the default) the call asks to leave the sandbox
    (`sandbox_permissions: "require_escalated"` plus `justification`), which is what makes
    codex send `item/commandExecution/requestApproval` under `approvalPolicy: "on-request"`.
    Without it, only `{"cmd": cmd}` is sent and codex runs the command in its sandbox.
    """
    arguments: dict[str, Any] = {"cmd": cmd}
    if escalate:
        arguments["sandbox_permissions"] = "require_escalated"
        arguments["justification"] = justification
    return CallTool("exec_command", arguments, call_id=call_id)

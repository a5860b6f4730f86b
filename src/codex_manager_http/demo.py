"""Demo mode: a scripted, offline model so the whole product can be tried without an
account. It echoes what you say (streamed), and when a message starts with "run " it asks
for approval to run one harmless command, then reports its output.

Codex sends the whole conversation with every request, so the script looks only at the
current turn (what follows the last user message): earlier turns' command outputs are
history, not an answer to wait for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from codex_manager_core.testing import Reply, exec_command
from codex_manager_core.testing.scripted_model import RecordedRequest, Step

DEMO_COMMAND: Final = "echo 'hello from the codex-manager demo'"
BANNER: Final = (
    "DEMO MODE: the model is scripted and offline (no account, no network). It echoes your "
    'messages; a message starting with "run " asks approval to run a harmless echo command.'
)


DEFAULT_CHUNK_DELAY: Final = 0.02


def demo_script(request: RecordedRequest, *, chunk_delay: float = DEFAULT_CHUNK_DELAY) -> Step:
    """The demo model's answer to one request (`chunk_delay`: seconds between streamed
    pieces, to make the streaming visible)."""
    outputs = current_turn_outputs(request)
    if outputs:
        # The follow-up after the command ran (or was declined).
        return Reply(
            f"The command finished. Its output:\n\n{command_output(outputs[-1])}",
            chunks=4,
            delay=chunk_delay,
        )
    said = (request.last_user_text or "").strip()
    if said.lower().startswith("run "):
        return exec_command(
            DEMO_COMMAND,
            justification="The demo asks your approval before running a harmless echo command.",
        )
    words = said or "(nothing)"
    return Reply(
        f"(demo model) You said: {words}. This answer is scripted and streamed in pieces; "
        'start a message with "run " to see an approval request.',
        chunks=6,
        delay=chunk_delay,
    )


def current_turn_outputs(request: RecordedRequest) -> list[dict[str, Any]]:
    """The `function_call_output` items after the last user message: the results of the
    tool calls of the turn being answered (empty at the start of a turn)."""
    outputs: list[dict[str, Any]] = []
    for item in reversed(request.input):
        if item.get("type", "message") == "message" and item.get("role") == "user":
            break
        if item.get("type") == "function_call_output":
            outputs.append(item)
    outputs.reverse()
    return outputs


def command_output(item: Mapping[str, Any]) -> str:
    """What the command printed: codex reports it after a header ending in "Output:"."""
    output = item.get("output")
    text = output if isinstance(output, str) else str(output)
    _, marker, printed = text.rpartition("Output:\n")
    return (printed if marker else text).strip()


def demo_info(base_url: str) -> dict[str, Any]:
    """What health reports in demo mode."""
    return {
        "enabled": True,
        "model": "scripted (offline)",
        "modelServer": base_url,
        "description": BANNER,
        "command": DEMO_COMMAND,
    }

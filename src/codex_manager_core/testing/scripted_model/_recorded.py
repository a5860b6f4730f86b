"""What ScriptedModel remembers of each request: `RecordedRequest` and its readers.

Tests assert on what codex asked (the model slug, the tools offered, the user's text, the
outputs of earlier tool calls); these properties read those parts of a Responses-API body
so that each test does not re-walk the JSON.
"""

from __future__ import annotations

from typing import Any

import attrs


def _text_of(content: Any) -> str:
    """The text of a content value: a str, or the `text` of each part of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@attrs.frozen
class RecordedRequest:
    """One `POST /v1/responses` the server received, in the order they arrived.

    `headers` has lower-cased names (repeated headers joined with ", "); `body` is the parsed
    JSON object, after undoing any gzip/deflate content encoding. The properties read the
    parts of a Responses-API request that tests usually assert on.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str | None:
        """The `model` slug codex asked for."""
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions sent with the request."""
        tools = self.body.get("tools")
        return [tool for tool in tools if isinstance(tool, dict)] if isinstance(tools, list) else []

    @property
    def tool_names(self) -> list[str]:
        """The name of each tool (its `type` for tools without a name, such as web search)."""
        return [str(tool.get("name") or tool.get("type") or "") for tool in self.tools]

    @property
    def input(self) -> list[dict[str, Any]]:
        """The `input` items: instructions, context, then the conversation so far."""
        items = self.body.get("input")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    @property
    def last_user_text(self) -> str | None:
        """The text of the last input message with role `user` (its `input_text` parts
        joined), i.e. what the user typed for the current turn; None if there is none."""
        for item in reversed(self.input):
            if item.get("type", "message") == "message" and item.get("role") == "user":
                content = item.get("content")
                if isinstance(content, str):
                    return content
                if isinstance(content, list):
                    return "".join(
                        part["text"]
                        for part in content
                        if isinstance(part, dict)
                        and part.get("type") == "input_text"
                        and isinstance(part.get("text"), str)
                    )
                return ""
        return None

    @property
    def function_call_outputs(self) -> list[dict[str, Any]]:
        """The `function_call_output` items of `input`: the results of earlier tool calls."""
        return [item for item in self.input if item.get("type") == "function_call_output"]

    def output_for(self, call_id: str) -> str | None:
        """The output codex sent back for the tool call `call_id`, as text (the text parts
        joined when the output is a list of content items); None if it is not in `input`."""
        for item in reversed(self.function_call_outputs):
            if item.get("call_id") == call_id:
                return _text_of(item.get("output"))
        return None

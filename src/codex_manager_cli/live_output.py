"""How the live commands print: one place decides the three formats (`table` for a
person, `json`, `jsonl`), and what goes to stdout (data) or stderr (notes for the person)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import IO, Any, Final

from codex_manager_client.stream import StreamFrame

DELTA: Final = "app_server.item.agent_message.delta"


class Printer:
    """Writes records and frames in the chosen format (`table`, `json`, `jsonl`)."""

    def __init__(self, output: str, out: IO[str] | None = None, err: IO[str] | None = None):
        self.output = output
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        """For the person at the terminal, in every format: stderr."""
        self.err.write(text + "\n")
        self.err.flush()

    def record(self, value: Any) -> None:
        if self.output == "json":
            self.line(json.dumps(value, indent=2, ensure_ascii=False, default=str))
        else:
            self.line(json.dumps(value, ensure_ascii=False, default=str))

    def frame(self, frame: StreamFrame) -> None:
        if self.output == "table":
            self.line(frame_line(frame))
        else:
            self.line(json.dumps(frame.to_wire(), ensure_ascii=False, default=str))


def frame_line(frame: StreamFrame) -> str:
    """One line per frame: `seq.part  at  type  thread  summary`."""
    return (
        f"{frame.seq}.{frame.part}  {frame.at or '-'}  {frame.type}  "
        f"{frame.thread_id or '-'}  {summary_of(frame.payload)}"
    ).rstrip()


def summary_of(payload: Any, width: int = 100) -> str:
    if isinstance(payload, Mapping):
        params = payload.get("params")
        if isinstance(params, Mapping) and isinstance(params.get("delta"), str):
            return repr(params["delta"])[:width]
        if isinstance(payload.get("summary"), str):
            return str(payload["summary"])[:width]
        if isinstance(payload.get("method"), str):
            return str(payload["method"])
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def turn_of(payload: Any) -> str | None:
    if not isinstance(payload, Mapping):
        return None
    params = payload.get("params")
    for source in (params, payload):
        if isinstance(source, Mapping) and isinstance(source.get("turnId"), str):
            return str(source["turnId"])
    return None

"""What every CLI command receives as `ctx.obj`: where the server is and how to talk.

The root group resolves the global flags (`--server`, `--data-dir`, `-o`, `--json`,
`--no-input`, ...) once into a `CliContext`; the generated route commands and the live
commands (`codex_manager_cli.live`) read it instead of parsing flags themselves. Standard
library, attrs and the client's `Target` only: it is imported on every start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import attrs

from codex_manager_client.target import Target

OutputFormat = Literal["table", "json", "jsonl"]
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json", "jsonl")


@attrs.frozen
class CliContext:
    """The resolved global options of one `cmgr` invocation.

    `target` is the server every request goes to (for `--data-dir` it is the embedded
    server started for this command, already listening). `output` is the format of
    answers; `json_envelope` wraps them in the original's `{ok, command, request,
    response}` envelope (`--json`). `no_input` forbids prompting (also set when stdin is
    not a TTY). `data_dir` is set when the target is an embedded server. `verbose` prints
    each request to stderr.
    """

    target: Target
    output: OutputFormat = "json"
    no_input: bool = True
    json_envelope: bool = False
    data_dir: Path | None = None
    verbose: bool = False
    context_name: str | None = None

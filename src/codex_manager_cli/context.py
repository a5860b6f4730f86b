"""What every CLI command receives as `ctx.obj`: where the server is and how to talk.

The root group resolves the global flags (`--server`, `--data-dir`, `-o`, `--json`,
`--no-input`, ...) once into a `CliContext`; the generated route commands and the live
commands (`codex_manager_cli.live`) read it instead of parsing flags themselves. Standard
library and the client's `Target` only (a plain class, not attrs): it is imported on every
start-up (docs/performance.md, "CLI start-up").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from codex_manager_client.target import Target

OutputFormat = Literal["table", "json", "jsonl"]
OUTPUT_FORMATS: tuple[str, ...] = ("table", "json", "jsonl")


class CliContext:
    """The resolved global options of one `cmgr` invocation.

    `target` is the server every request goes to. With `--data-dir` it is the embedded
    server started for this command: `start` starts it on the first read of `target`
    (so `--help` and commands that make no request never start one), and the root
    group stops it when the command ends. `output` is the format of answers;
    `json_envelope` wraps them in the original's `{ok, command, request, response}`
    envelope (`--json`). `no_input` forbids prompting (also set when stdin is not a
    TTY). `verbose` prints each request to stderr.
    """

    __slots__ = (
        "_target",
        "context_name",
        "data_dir",
        "json_envelope",
        "no_input",
        "output",
        "start",
        "verbose",
    )

    def __init__(
        self,
        target: Target | None = None,
        output: OutputFormat = "json",
        no_input: bool = True,
        json_envelope: bool = False,
        data_dir: Path | None = None,
        verbose: bool = False,
        context_name: str | None = None,
        start: Callable[[], Target] | None = None,
    ) -> None:
        self._target = target
        self.output: OutputFormat = output
        self.no_input = no_input
        self.json_envelope = json_envelope
        self.data_dir = data_dir
        self.verbose = verbose
        self.context_name = context_name
        self.start = start

    def __repr__(self) -> str:
        return (
            f"CliContext(target={self._target!r}, output={self.output!r}, "
            f"no_input={self.no_input!r}, json_envelope={self.json_envelope!r}, "
            f"data_dir={self.data_dir!r}, context_name={self.context_name!r})"
        )

    @property
    def target(self) -> Target:
        if self._target is None:
            if self.start is None:
                self._target = Target()
            else:
                self._target = self.start()
        return self._target

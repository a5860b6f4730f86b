"""The click group behind the `codex-manager` and `cmgr` console scripts."""

from __future__ import annotations

import click

from codex_manager_core import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="codex-manager")
def cli() -> None:
    """A local-first control plane for the Codex runtime (codex app-server)."""

"""codex_manager_core: supervise `codex app-server`, translate its stream, keep durable state."""

from codex_manager_core._version import __version__

__all__ = ["__version__"]

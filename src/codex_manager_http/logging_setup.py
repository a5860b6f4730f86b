"""One log format for everything `codex-manager serve` logs, with credentials redacted.

Why: left to themselves, uvicorn installs its own handlers and formats on its loggers, and
Litestar's default logging config installs another handler on the root logger, so a
server's log used to change format partway through. The process configures logging once,
here: uvicorn runs with `log_config=None` (serve.py) and Litestar with `logging_config=None`
(app.py), so every record (ours, uvicorn's, Litestar's, the libraries') goes to the one root
handler and its one format.

uvicorn logs a WebSocket's path with its query string (`"WebSocket /api/stream?token=..."`),
and a browser can pass the server token only there: `RedactTokens` rewrites `token=<value>`
to `token=***` in every record, on the root handler and on uvicorn's own loggers (so that it
holds even where the process did not call `configure_logging`, e.g. tests and benchmarks).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Final

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ANNOUNCER: Final = "codex_manager_http.serve"
"""The logger of `serve`'s start and stop lines (always shown, whatever the level)."""
_REQUEST_LOGGERS: Final = ("uvicorn.error", "uvicorn.access")
"""The loggers that write request lines (paths with their query strings)."""
_THIRD_PARTY: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "litestar")
_TOKEN: Final = re.compile(r"(?<=[?&])token=[^&\s\"']*")


def redact(text: str) -> str:
    """`...?since=3&token=s3cret` -> `...?since=3&token=***`."""
    return _TOKEN.sub("token=***", text) if "token=" in text else text


class RedactTokens(logging.Filter):
    """Rewrites `token=<value>` query parameters in a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted is not message:
            record.msg, record.args = redacted, None
        return True


def install_redaction() -> None:
    """Redact tokens in the request lines uvicorn logs (idempotent)."""
    for name in _REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())


def configure_logging(level: str = "info") -> None:
    """Send every log record to stderr in `LOG_FORMAT`, redacted, at `level` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    for previous in root.handlers[:]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _THIRD_PARTY:  # no handlers of their own: everything reaches the root's
        logger = logging.getLogger(name)
        for previous in logger.handlers[:]:
            logger.removeHandler(previous)
        logger.propagate = True
    logging.getLogger(ANNOUNCER).setLevel(min(logging.INFO, root.level))
    install_redaction()


def announce(text: str) -> None:
    """One of `serve`'s own start/stop lines, as log records in the one format (one record
    per line, so that every line of the log has the format)."""
    logger = logging.getLogger(ANNOUNCER)
    for line in text.splitlines() or [""]:
        logger.info("%s", line)

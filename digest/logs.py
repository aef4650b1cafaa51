"""The command line's log lines on stderr (`warning: …`; `-v` adds progress), set up without
loading logging before anything logs: `digest parse` of a listing usually logs nothing, and
logging with what it imports (traceback, string) is ~6 ms of that command's start-up."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

# The set-up `set_up(…, now=False)` left for the first message (one entry: verbose or not).
_PENDING: list[bool] = []


def set_up(verbose: bool, *, now: bool = True) -> None:
    """Log problems (and with `verbose` progress too) to stderr as `level: message`; with
    now=False only when a module logs through `logger` or `ready` is called, so that a
    command that logs nothing does not load logging."""
    _PENDING[:] = [verbose]
    if now:
        ready()


def ready() -> None:
    """Apply a set-up left for later: before running code that logs through logging itself
    (the HTML and feed readers, the libraries they load)."""
    if not _PENDING:
        return
    verbose = _PENDING.pop()
    import logging

    class LineFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return f"{record.levelname.lower()}: {record.getMessage()}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


def logger(name: str) -> logging.Logger:
    """The logger of a module on `digest parse`'s path, fetched when it has something to say
    (and the command line's set-up applied first, see set_up)."""
    import logging

    ready()
    return logging.getLogger(name)

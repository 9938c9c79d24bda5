"""What the access log must not keep: the patient's status link.

`/t/<token>` is the link a patient's phone opens (displays/phone.py); its token is the
whole credential for that visit's status, and a log line outlives the visit. The access
log shows `/t/***` instead. Nothing else secret travels in a URL: passwords, pairing and
confirmation codes go in POST bodies, tokens in headers and cookies, none of them logged.
"""

from __future__ import annotations

import logging
import re

SECRET_PATH = re.compile(r"^/t/[^/?]+")
ACCESS_LOGGER = "uvicorn.access"


def redact(path: str) -> str:
    """`path` with a status link's token replaced by ***."""
    return SECRET_PATH.sub("/t/***", path)


class RedactPaths(logging.Filter):
    """Rewrites the path of uvicorn's access log lines (its third argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Put the filter on the access logger (once, however often it is called)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactPaths) for f in logger.filters):
        logger.addFilter(RedactPaths())

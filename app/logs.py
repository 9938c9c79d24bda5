"""How the server logs: uvicorn's lines as they are, or one JSON object per line
(`LOG_FORMAT=json`, with python-json-logger) for a log collector to read."""

from __future__ import annotations

import copy
from typing import Any

FORMATS = ("text", "json")
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def config(log_format: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's `log_config`, applied in every worker
    process: uvicorn's own lines plus the app's notices (a hub started or stopped, a slow
    screen dropped, Redis away) on stderr, as text, or all as JSON objects."""
    if log_format != "json":
        return _text()
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": "pythonjsonlogger.json.JsonFormatter", "format": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {name: {"handlers": [], "level": "INFO", "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def _text() -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    text = copy.deepcopy(LOGGING_CONFIG)
    text["formatters"]["app"] = {"format": "%(levelname)s:     %(name)s: %(message)s"}
    text["handlers"]["app"] = {"class": "logging.StreamHandler", "formatter": "app",
                               "stream": "ext://sys.stderr"}
    text["root"] = {"handlers": ["app"], "level": "INFO"}
    return text

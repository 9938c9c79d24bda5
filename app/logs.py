"""How the server logs: uvicorn's lines as they are, or one JSON object per line
(`LOG_FORMAT=json`, with python-json-logger) for a log collector to read."""

from __future__ import annotations

from typing import Any

FORMATS = ("text", "json")
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def config(log_format: str) -> dict[str, Any] | None:
    """A `logging.config.dictConfig` for uvicorn's `log_config`: None keeps uvicorn's own
    (the app's loggers are then set up by `logging.basicConfig`)."""
    if log_format != "json":
        return None
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

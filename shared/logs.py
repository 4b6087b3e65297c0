"""How converge's processes log: one line per event with time, level and logger; JSON on request.

`CONVERGE_LOG_FORMAT=json` writes one JSON object per line (ts, level, logger, message, and
exc_info when there is one) for log collectors; the default is text for people. The same config is
handed to uvicorn so its own loggers (server, access) write the same way.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC, ISO 8601), level, logger, message[, exc_info]."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        document: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(document).decode()


def logging_config(level: str = "INFO", log_format: LogFormat = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the root logger and uvicorn's loggers."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter}
        if log_format == "json"
        else {"format": TEXT_FORMAT, "datefmt": "%Y-%m-%dT%H:%M:%S%z"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "converge",
        "stream": "ext://sys.stderr",
    }
    uvicorn = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"converge": formatter},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {name: uvicorn for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    """Apply `logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, log_format))

"""Structured log lines: one JSON object per line, for the console and the rotating file.

Log with an event name and keyword fields::

    logger.info("mailing.created", extra={"mailing_id": 3, "user_id": 7})
"""

import json
import logging
import logging.handlers
from datetime import UTC, datetime
from pathlib import Path

# Attributes every LogRecord has; anything else came in through `extra=`.
_RECORD_FIELDS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class StructuredFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class MakedirsRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that creates its folder, so a fresh clone can log at once."""

    def __init__(self, filename: str, *args, **kwargs) -> None:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(filename, *args, **kwargs)

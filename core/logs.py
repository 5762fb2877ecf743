"""Structured logging: one JSON object per line on stderr, UTC timestamps, English messages."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class NotAnError(logging.Filter):
    """pygeoapi logs a tile with nothing in it (most vector tiles at a city's edge: an OGC API ``204 No Content``)
    and a feature or process that does not exist (404) as two ERROR records each. Those are answers, not faults:
    they are demoted to DEBUG, so a console panning the map does not fill the error log."""

    MESSAGES = frozenset({"identifier not found", "HTTP 204 detected, suppressing content"})
    # the provider's own "not found", which pygeoapi attaches as the record's traceback; any other one is a fault
    NOT_FOUND = frozenset({"ProviderItemNotFoundError", "ProviderTileNotFoundError"})

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0] if record.exc_info else None
        if (record.levelno >= logging.ERROR and (exc is None or exc.__name__ in self.NOT_FOUND)
                and record.getMessage() in self.MESSAGES):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s")
        formatter.converter = __import__("time").gmtime
        handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pygeoapi warns once per untranslated config key on every request; that is noise, not news.
    logging.getLogger("pygeoapi.l10n").setLevel(max(logging.ERROR, root.level))
    api_log = logging.getLogger("pygeoapi.api")
    if not any(isinstance(f, NotAnError) for f in api_log.filters):
        api_log.addFilter(NotAnError())

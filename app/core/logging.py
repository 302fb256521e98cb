"""Logging with request ids: text by default, one JSON object per line with LOG_FORMAT=json."""

import json
import logging
import re
import sys
import time
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The name of the API key the request came with (named keys only).
actor_var: ContextVar[str | None] = ContextVar("actor", default=None)

# C0 and C1 control characters (a path or header holding "\n" must not write a second line),
# the Unicode line and paragraph separators (new lines to some viewers), and the bidirectional
# controls (which can make a line read differently from what it holds).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # access lines bring their own
            record.request_id = request_id_var.get() or "-"
        return True


class _CachedTimeFormatter(logging.Formatter):
    """Formats each second's date and time once (at hundreds of access lines a second, strftime
    is a noticeable part of a request's cost); the milliseconds are each record's own."""

    date_format = "%Y-%m-%d %H:%M:%S"
    _second = -1
    _formatted = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._formatted = time.strftime(self.date_format, self.converter(record.created))
        return f"{self._formatted}.{int(record.msecs):03d}"


class TextFormatter(_CachedTimeFormatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message may quote what a client sent; the traceback, added after, keeps its lines.
        return escape_controls(super().formatMessage(record))


class JsonFormatter(_CachedTimeFormatter):
    date_format = "%Y-%m-%dT%H:%M:%S"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record) + time.strftime("%z", self.converter(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    pepper = logging.getLogger("pepper")
    pepper.handlers = [handler]
    pepper.setLevel(level)
    pepper.propagate = False

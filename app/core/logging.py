"""Logging with request ids: text by default, one JSON object per line with LOG_FORMAT=json."""

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
# A client's id is kept if it is short and plain (no spaces, quotes or control characters that
# could forge log lines or headers).
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_logger = logging.getLogger("pepper.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):  # access lines bring their own
            record.request_id = request_id_var.get() or "-"
        return True


class _CachedTimeFormatter(logging.Formatter):
    """Formats each second's timestamp once: at hundreds of access lines a second, strftime
    is a noticeable part of a request's cost."""

    _second = -1
    _formatted = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._formatted = second, super().formatTime(record, datefmt)
        return self._formatted


class TextFormatter(_CachedTimeFormatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


class JsonFormatter(_CachedTimeFormatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
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


class RequestIdMiddleware:
    """Give every request an id (the client's, if sane), answer it in `X-Request-ID`, and write
    one access log line carrying it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        encoded_id = request_id.encode()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_HEADER_NAME, encoded_id)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            if access_logger.isEnabledFor(logging.INFO):
                self._log(scope, status, request_id, started)

    @staticmethod
    def _log(scope: Scope, status: int, request_id: str, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        method, path = scope["method"], scope["path"]
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(elapsed_ms, 1),
            "client": (scope.get("client") or ("-",))[0],
        }
        access_logger.info(
            "%s %s %d %.1fms",
            method,
            path,
            status,
            elapsed_ms,
            extra={"fields": fields, "request_id": request_id},
        )

"""Domain errors. Services raise them; `register_error_handlers` maps each to one status code."""

import logging

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import request_id_var

logger = logging.getLogger("pepper")

RETRY_AFTER_SECONDS = "2"


class PepperError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(PepperError):
    status_code = 401


class NotFound(PepperError):
    status_code = 404


class Conflict(PepperError):
    status_code = 409


class Unavailable(PepperError):
    status_code = 503


def _detail(status_code: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


async def _pepper_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PepperError)
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if exc.status_code == 503 else None
    return _detail(exc.status_code, exc.detail, headers)


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("no database connection free in time: %s", exc)
    return _detail(503, "Service busy, retry shortly", {"Retry-After": RETRY_AFTER_SECONDS})


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # Connection loss, server shutdown, deadlock or serialisation failure: all transient.
    if isinstance(exc, OperationalError | psycopg.OperationalError):
        logger.warning("database unavailable: %s", exc)
        return _detail(503, "Database unavailable", {"Retry-After": RETRY_AFTER_SECONDS})
    return await _internal_error(request, exc)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: log the traceback, tell the client only the id to quote."""
    request_id = request_id_var.get()
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    # RequestIdMiddleware, which wraps InternalErrors, puts the id in the headers.
    return JSONResponse(
        {"detail": "Internal Server Error", "request_id": request_id}, status_code=500
    )


_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 with an `Allow` listing every method of every route on this path (Starlette names
    only those of the first route it finds)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return JSONResponse(
        {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(allowed)}
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(PepperError, _pepper_error)
    app.add_exception_handler(PoolTimeoutError, _pool_timeout)
    app.add_exception_handler(DBAPIError, _database_error)
    # The read paths use the driver directly (see app/api/deps.py).
    app.add_exception_handler(psycopg.OperationalError, _database_error)
    app.add_exception_handler(Exception, _internal_error)


class InternalErrors:
    """Answer an exception that no handler took with `_internal_error`'s 500, *inside* the
    request-id and CORS middleware.

    Starlette runs an `Exception` handler in its outermost middleware, where the request id is
    no longer known and no CORS headers are added.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _internal_error(Request(scope), exc)
            await response(scope, receive, send)

"""Every error the API answers, in one place: the messages, the domain errors that services
raise, the PostgreSQL constraints they stand for, and the handlers that turn them into
`{"detail": ...}` responses."""

import logging
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import Match

from app.core.echo import MAX_ERRORS, rendered, without_null_branches
from app.core.logging import request_id_var

logger = logging.getLogger("pepper")

RETRY_AFTER_SECONDS = "2"

# --- Messages ----------------------------------------------------------------------------------
DEVICE_NOT_FOUND = "Device not found"
PORT_NOT_FOUND = "Port not found"
POINT_NOT_FOUND = "Patchbay point not found"
POINT_TAKEN = "Patchbay point already linked"
POINT_IN_USE = "Patchbay point is in use"
BAY_NOT_FOUND = "Bay not found"
BAY_NAME_USED = "Bay name already used"
BAY_IN_USE = "Bay is in use"
CHANNEL_NOT_FOUND = "Channel not found"
POINT_IN_A_BAY = "Patchbay point already in a bay"
CABLE_NOT_FOUND = "Cable not found"
JACK_PATCHED = "Jack already patched"
SCENE_NOT_FOUND = "Scene not found"
SCENE_NAME_USED = "Scene name already used"
SCENE_MISSING_ITEMS = "Scene refers to missing items"
STATE_CHANGED = "State changed since the diff"
SCENE_AT_RISK = "Scene would put equipment at risk"
HISTORY_NOT_FOUND = "History entry not found"
REVERT_CONFLICT = "Later changes conflict with this revert"
NOTHING_TO_REVERT = "Nothing to revert: the entry's changes cancel out"
ID_TAKEN = "Id already taken by a row added by hand; retry"
PORT_ID_TAKEN = "Port id already taken"
PORT_NUMBERS_USED_UP = "Device has given out every port number"
UNAUTHORIZED = "Missing or invalid API key"
KEY_MAY_NOT = "This key may not make this change"
NOT_JSON = "Content-Type must be application/json"
CROSS_SITE = "Cross-site request refused"
HOST_NOT_ALLOWED = "Host not allowed"
BODY_TOO_LARGE = "Request body too large"
BODY_TOO_SLOW = "Request body not received in time"
TOO_MANY_STREAMS = "Too many open event streams"
POOL_BUSY = "Service busy, retry shortly"
DATABASE_UNAVAILABLE = "Database unavailable"
INTERNAL_ERROR = "Internal Server Error"
# The `msg` of a 422 naming an item of an import that breaks a rule of the studio (both imports;
# a check's other messages stand next to it, as Pydantic's stand next to the schemas).
ITEM_JACK_PATCHED = "jack already patched"
ITEM_CABLE_TO_ITSELF = "a cable joins two points"
# The `msg` of a 422 about electrical values (SPEC E1).
PHANTOM_ON_NON_INPUT = "only an Input sends phantom power"
FRAGILE_NON_OUTPUT = "only an Output can be damaged by phantom power"
# Why /ready is not (its 503's detail).
NOT_ANSWERING = "Database not answering in time"
NOT_MIGRATED = "Database schema is not migrated"
LISTENER_DOWN = "Live updates unavailable: the change listener cannot reach the database"


def schema_behind(found: str, expected: str) -> str:
    return f"Database schema is at {found}, the code needs {expected}"


def too_many(what: str, limit: int) -> str:
    """The message of a request past one of the bounds of SPEC G (413 or 422)."""
    return f"Too many {what}: at most {limit:,} in one request"


def not_a_port_of(port_id: str, device_id: int) -> str:
    return f"{port_id} is not a port of device {device_id}"


def no_such_channel(channels: frozenset[int]) -> str:
    """The 422 message for a channel number the bay does not have."""
    if not channels:
        return "the bay has no channels"
    if channels == frozenset(range(1, len(channels) + 1)):
        return f"the bay has channels 1 to {len(channels)}"
    return "the bay has channels " + ", ".join(map(str, sorted(channels)))


# --- Domain errors -----------------------------------------------------------------------------
class PepperError(Exception):
    status_code = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequest(PepperError):
    status_code = 400


class Unauthorized(PepperError):
    status_code = 401


class Forbidden(PepperError):
    status_code = 403


class NotFound(PepperError):
    status_code = 404


class Conflict(PepperError):
    status_code = 409


class PreconditionFailed(PepperError):
    status_code = 412


class Invalid(PepperError):
    """A 422 that only the studio can tell (a channel past a bay's last one), in the shape of
    Pydantic's validation errors."""

    status_code = 422

    def __init__(self, loc: tuple[str | int, ...], msg: str, given: Any) -> None:
        super().__init__(msg)
        error = {"type": "value_error", "loc": loc, "msg": msg, "input": given}
        # Clipped like any validation error: what was sent may be megabytes.
        self.detail = [rendered(error)]  # type: ignore[assignment]


class TooLarge(PepperError):
    status_code = 413


class Unavailable(PepperError):
    status_code = 503


# A unique or check violation on these constraints is a lost race with someone who wrote past
# the API's locks (pgAdmin), or a hand-typed id: a 409, never a 500.
CONSTRAINT_ERRORS: dict[str, PepperError] = {
    "uq_ports_patchbay_id": Conflict(POINT_TAKEN),
    "uq_cable_ends_point_id": Conflict(JACK_PATCHED),
    "uq_patchbay_points_slot": Conflict(POINT_IN_A_BAY),
    "uq_bays_name": Conflict(BAY_NAME_USED),
    "uq_scenes_name": Conflict(SCENE_NAME_USED),
    "ports_patchbay_id_fkey": Conflict(POINT_IN_USE),
    # A channel deleted by hand while a request put a point into it.
    "patchbay_points_bay_channel_fkey": NotFound(CHANNEL_NOT_FOUND),
    "cable_ends_point_id_fkey": Conflict(POINT_IN_USE),
    "ports_pkey": Conflict(PORT_ID_TAKEN),
    "devices_pkey": Conflict(ID_TAKEN),
    "patchbay_points_pkey": Conflict(ID_TAKEN),
    "bays_pkey": Conflict(ID_TAKEN),
    "cables_pkey": Conflict(ID_TAKEN),
    "scenes_pkey": Conflict(ID_TAKEN),
}


def violated(exc: sqlalchemy.exc.IntegrityError) -> tuple[str, str, str]:
    """The constraint a violation names, its table, and PostgreSQL's detail ("" if unknown)."""
    diag = getattr(exc.orig, "diag", None)
    return (
        getattr(diag, "constraint_name", None) or "",
        getattr(diag, "table_name", None) or "",
        getattr(diag, "message_detail", None) or "",
    )


def constraint_error(exc: sqlalchemy.exc.IntegrityError) -> PepperError | None:
    """The domain error a violated constraint stands for, if it is one we know."""
    return CONSTRAINT_ERRORS.get(violated(exc)[0])


# --- Responses ---------------------------------------------------------------------------------
def error_response(
    status_code: int, detail: Any, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    if status_code == 503:
        headers = {**(headers or {}), "Retry-After": RETRY_AFTER_SECONDS}
    return JSONResponse({"detail": detail, **extra}, status_code=status_code, headers=headers)


async def _pepper_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PepperError)
    return error_response(exc.status_code, exc.detail, **exc.extra)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, sqlalchemy.exc.IntegrityError)
    known = constraint_error(exc)
    if known is None:
        return internal_error(request, exc)
    return await _pepper_error(request, known)


async def _pool_timeout(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("no database connection free in time: %s", exc)
    return error_response(503, POOL_BUSY)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # Connection lost, server restarting, a lock or statement timeout, a deadlock or a
    # serialisation failure: all transient.
    # The driver's message: SQLAlchemy's own would add the statement and its parameters.
    logger.warning("database unavailable: %s", str(getattr(exc, "orig", None) or exc).strip())
    return error_response(503, DATABASE_UNAVAILABLE)


def internal_error(request: Request, exc: BaseException) -> JSONResponse:
    """Anything unexpected: log the traceback, tell the client only the id to quote."""
    request_id = request_id_var.get()
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": INTERNAL_ERROR, "request_id": request_id}, status_code=500)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(request, exc)


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
    if "GET" in allowed:  # every GET is answered to HEAD too (api/middleware.HeadAsGet)
        allowed.insert(1, "HEAD")
    return JSONResponse(
        {"detail": "Method Not Allowed"}, status_code=405, headers={"Allow": ", ".join(allowed)}
    )


# --- Validation errors -------------------------------------------------------------------------
async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    try:
        errors = without_null_branches(exc.errors())
        detail = [rendered(error) for error in errors[:MAX_ERRORS]]
        if len(errors) > MAX_ERRORS:
            more = f"and {len(errors) - MAX_ERRORS} more errors like these"
            detail.append({"type": "too_many_errors", "loc": [], "msg": more})
        return JSONResponse({"detail": detail}, status_code=422)
    except Exception:  # a 422 must never become a 500, whatever was sent
        logger.exception("could not render a validation error")
        return JSONResponse({"detail": [{"type": "invalid", "msg": "Invalid request"}]}, 422)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(PepperError, _pepper_error)
    app.add_exception_handler(sqlalchemy.exc.IntegrityError, _integrity_error)
    # SQLAlchemy's TimeoutError: no connection of the pool came free within DB_POOL_TIMEOUT.
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, _pool_timeout)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _internal_error)

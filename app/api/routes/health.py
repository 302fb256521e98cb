from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimedOut

import sqlalchemy.exc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from app import VERSION
from app.api.deps import DatabaseDep, ListenerDep
from app.api.routes import docs
from app.core.errors import (
    DATABASE_UNAVAILABLE,
    LISTENER_DOWN,
    NOT_ANSWERING,
    NOT_MIGRATED,
    error_response,
    schema_behind,
)
from app.db.session import Database

router = APIRouter(tags=["Health"])

# /ready answers within this, whatever the database does (a load balancer's check must not hang).
READY_WITHIN_SECONDS = 1.5
# Live updates count as broken once the listener has been without the database this long while
# the database answers everyone else.
LISTENER_GRACE_SECONDS = 60.0
# The database is asked in a thread of its own, one question at a time: a check that hangs (a
# database host gone silent) is waited for no longer than READY_WITHIN_SECONDS, and the next
# /ready does not queue behind it but answers "not answering" while it still hangs.
_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pepper-ready")
# SQL text: Alembic's own table, which no model declares.
_VERSION = text("SELECT version_num FROM alembic_version")


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class NotReady(BaseModel):
    status: str = Field(examples=["unavailable"])
    detail: str = Field(examples=["Database schema is at 0002, the code needs 0004"])


class Start(BaseModel):
    service: str = Field(examples=["Pepper"])
    version: str = Field(examples=[VERSION])
    docs: str = Field(examples=["/docs"], description="Swagger UI: try every endpoint")
    redoc: str = Field(examples=["/redoc"])
    openapi: str = Field(examples=["/openapi.json"])
    health: str = Field(examples=["/health"])


@router.get("/", summary="Where to start", response_model=Start)
def start() -> dict[str, str]:
    """What this server is, and where its documentation is."""
    return {
        "service": docs.TITLE,
        "version": VERSION,
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": docs.OPENAPI_URL,
        "health": "/health",
    }


@router.get("/health", summary="Liveness check", response_model=Status)
def health() -> dict[str, str]:
    """Answers `{"status": "ok"}` while the process is up; touches no database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness check",
    response_model=Status,
    responses={503: {"model": NotReady, "description": "Not ready to serve, with the reason"}},
)
def ready(request: Request, db: DatabaseDep, listener: ListenerDep) -> JSONResponse:
    """200 `{"status": "ready"}` when the database answers, its schema is at the latest
    migration, and live updates work; otherwise 503 with the reason, within 2 s. For load
    balancers and compose healthchecks."""
    check: Future[str | None] | None = getattr(request.app.state, "ready_check", None)
    if check is None or check.done():
        check = request.app.state.ready_check = _checker.submit(_schema_version, db)
    try:
        version = check.result(timeout=READY_WITHIN_SECONDS)
    except CheckTimedOut:
        return _not_ready(NOT_ANSWERING)
    except sqlalchemy.exc.ProgrammingError:  # no version table: never migrated
        return _not_ready(NOT_MIGRATED)
    except (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError):
        return _not_ready(DATABASE_UNAVAILABLE)
    expected = request.app.state.schema_head
    if version is None:  # the version table is left empty by `alembic downgrade base`
        return _not_ready(NOT_MIGRATED)
    if version != expected:
        return _not_ready(schema_behind(version, expected))
    if listener.down_for() > LISTENER_GRACE_SECONDS:
        return _not_ready(LISTENER_DOWN)
    return JSONResponse({"status": "ready"})


def _schema_version(db: Database) -> str | None:
    with db.connection() as conn:
        version: str | None = conn.execute(_VERSION).scalar()
    return version


def _not_ready(reason: str) -> JSONResponse:
    return error_response(503, reason, status="unavailable")

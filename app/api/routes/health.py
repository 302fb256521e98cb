import asyncio

import psycopg
import psycopg_pool
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import DatabaseDep, ListenerDep
from app.core.errors import (
    DATABASE_UNAVAILABLE,
    LISTENER_DOWN,
    NOT_ANSWERING,
    NOT_MIGRATED,
    Unavailable,
    error_response,
    schema_behind,
)

router = APIRouter(tags=["Health"])

# /ready answers within this, whatever the database does (a load balancer's check must not hang).
READY_WITHIN_SECONDS = 1.5
# Live updates count as broken once the listener has been without the database this long while
# the database answers everyone else.
LISTENER_GRACE_SECONDS = 60.0


class NotReady(BaseModel):
    status: str = Field(examples=["unavailable"])
    detail: str = Field(examples=["Database schema is at 0002, the code needs 0004"])


@router.get("/health", summary="Liveness check")
async def health() -> dict[str, str]:
    """Answers `{"status": "ok"}` while the process is up; touches no database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness check",
    responses={503: {"model": NotReady, "description": "Not ready to serve, with the reason"}},
)
async def ready(request: Request, db: DatabaseDep, listener: ListenerDep) -> JSONResponse:
    """200 `{"status": "ready"}` when the database answers, its schema is at the latest
    migration, and live updates work; otherwise 503 with the reason, within 2 s. For load
    balancers and compose healthchecks."""
    check = asyncio.ensure_future(db.fetch_row("SELECT version_num FROM alembic_version"))
    # Waited for without cancelling it on time-out first: a stuck query is cancelled afterwards,
    # in the background, so that the answer itself never waits on the database.
    done, _ = await asyncio.wait({check}, timeout=READY_WITHIN_SECONDS)
    if not done:
        check.cancel()
        return _not_ready(NOT_ANSWERING)
    try:
        row = check.result()
    except psycopg.errors.UndefinedTable:
        return _not_ready(NOT_MIGRATED)
    except (psycopg.Error, psycopg_pool.PoolTimeout, Unavailable):
        return _not_ready(DATABASE_UNAVAILABLE)
    expected = request.app.state.schema_head
    if row is None:  # the version table is left empty by `alembic downgrade base`
        return _not_ready(NOT_MIGRATED)
    if row[0] != expected:
        return _not_ready(schema_behind(row[0], expected))
    if listener.down_for() > LISTENER_GRACE_SECONDS:
        return _not_ready(LISTENER_DOWN)
    return JSONResponse({"status": "ready"})


def _not_ready(reason: str) -> JSONResponse:
    return error_response(503, reason, status="unavailable")

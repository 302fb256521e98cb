import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError

from app.api.deps import ReaderDep
from app.core.errors import RETRY_AFTER_SECONDS

router = APIRouter(tags=["Health"])


class NotReady(BaseModel):
    status: str = Field(examples=["unavailable"])
    detail: str = Field(examples=["Database schema is at 0002, the code needs 0003"])


@router.get("/health", summary="Liveness check")
async def health() -> dict[str, str]:
    """Answers `{"status": "ok"}` while the process is up; touches no database."""
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness check",
    responses={503: {"model": NotReady, "description": "Not ready to serve, with the reason"}},
)
def ready(request: Request, connect: ReaderDep) -> JSONResponse:
    """200 `{"status": "ready"}` when the database answers and its schema is at the latest
    migration; otherwise 503 with the reason. For load balancers and compose healthchecks."""
    expected = request.app.state.schema_head
    try:
        with connect() as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.errors.UndefinedTable:
        return _not_ready("Database schema is not migrated")
    except (DBAPIError, psycopg.Error):
        return _not_ready("Database unavailable")
    if row is None:  # the version table is left empty by `alembic downgrade base`
        return _not_ready("Database schema is not migrated")
    current = row[0]
    if current != expected:
        return _not_ready(f"Database schema is at {current}, the code needs {expected}")
    return JSONResponse({"status": "ready"})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "detail": reason},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )

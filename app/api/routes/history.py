from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import DatabaseDep
from app.api.responses import json_response
from app.schemas.common import WRITE_ERRORS, error_responses
from app.schemas.history import Entry, HistoryPage, RevertRefused
from app.services import history as service

router = APIRouter(prefix="/history", tags=["History"])

INT64_MAX = 2**63 - 1
RevisionPath = Annotated[
    int, Path(ge=1, le=INT64_MAX, description="The revision the entry produced", examples=[42])
]


@router.get(
    "",
    response_model=HistoryPage,
    summary="What changed, newest first",
    responses=error_responses(503),
)
def list_history(
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Entries per page")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="Only entries older than this revision")
    ] = None,
) -> Response:
    """Every committed change to devices, ports, points, bays, channels and cables, one entry
    per transaction, whether it came through the API (`source` `api`, with the request's id and
    the API key's name) or was typed into pgAdmin (`sql`). Each entry has a one-line summary
    and every row's before and after. Entries older than `HISTORY_RETENTION_DAYS` are pruned.
    """
    with db.connection() as conn:
        raw = service.read_page(conn, before=before, limit=limit)
    return json_response(service.page(raw, limit))


@router.get(
    "/{revision}",
    response_model=Entry,
    summary="One history entry",
    responses=error_responses(404, 503),
)
def get_entry(revision: RevisionPath, db: DatabaseDep) -> Response:
    """The entry of the transaction that produced this revision."""
    with db.connection() as conn:
        entry = service.get_entry(conn, revision=revision)
    return json_response(entry)


@router.post(
    "/{revision}/revert",
    response_model=Entry,
    summary="Undo a change",
    responses={
        **error_responses(404, *WRITE_ERRORS, 503),
        409: {
            "model": RevertRefused,
            "description": "Later changes stand in the way, or the entry changes nothing",
        },
    },
)
def revert(revision: RevisionPath, db: DatabaseDep) -> Response:
    """Undo the entry in one new transaction: rows it made go, rows it deleted come back with
    their ids, rows it changed take their earlier values back. Only when every row it touched
    is still as it left it: otherwise 409 `Later changes conflict with this revert`, with those
    rows in `conflicts`, and nothing changes. Answers the revert's own entry (its summary
    starts with "Revert"), which can be reverted in turn.
    """
    with db.transaction() as conn:
        entry = service.revert(conn, revision=revision)
    return json_response(entry)

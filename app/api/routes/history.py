from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import DatabaseDep
from app.api.responses import json_response
from app.schemas.common import WRITE_ERRORS, error_responses
from app.schemas.history import ChangePage, Entry, HistoryPage, RevertRefused
from app.services import history as service
from app.services import revert as revert_service

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
    """Every committed change to devices, ports, points, bays, channels and cables (and the
    scenes an import or a revert replaces), one entry per transaction, whether it came through
    the API (`source` `api`, with the request's id and the API key's name) or was typed into
    pgAdmin (`sql`). Each entry has a one-line summary, how many rows it changed
    (`change_count`) and the first of them with their before and after: up to 20 changes within
    64 KiB of JSON; `GET /history/{revision}/changes` pages through all of them. A page is
    under 1 MiB: it ends early, with `next_before` set, rather than pass that (or count more
    than 200,000 changes of large entries). Entries older than `HISTORY_RETENTION_DAYS` are
    pruned.
    """
    with db.connection() as conn:
        raw = service.read_page(conn, before=before, limit=limit)
    return json_response(service.page(raw))


@router.get(
    "/{revision}",
    response_model=Entry,
    summary="One history entry",
    responses=error_responses(404, 503),
)
def get_entry(revision: RevisionPath, db: DatabaseDep) -> Response:
    """The entry of the transaction that produced this revision, as a page shows it: its
    summary, `change_count`, and its first changes (all of them at
    `GET /history/{revision}/changes`)."""
    with db.connection() as conn:
        raw = service.read_entry(conn, revision)
    return json_response(service.shown(raw))


@router.get(
    "/{revision}/changes",
    response_model=ChangePage,
    summary="Every change of one history entry, page by page",
    responses=error_responses(404, 503),
)
def list_changes(
    revision: RevisionPath,
    db: DatabaseDep,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Changes per page", examples=[100])
    ] = 100,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=INT64_MAX,
            description="The `next_after` of the page before (0: from the first change)",
            examples=[0],
        ),
    ] = 0,
) -> Response:
    """The rows the entry changed, each with its before and after, in the order they were
    made. Pass the answer's `next_after` as `after` for the next page (a cursor: it stays
    valid however long you take); it is null on the last page. A page holds at most `limit`
    changes and stops once their JSON passes 512 KiB (a single row larger than that, such as
    a scene of a large studio, still comes whole, alone on its page).
    """
    with db.connection() as conn:
        body = service.read_changes(conn, revision=revision, after=after, limit=limit)
    return json_response(body)


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
    their ids, rows it changed take their earlier values back (their keys too, when the entry
    changed a key in pgAdmin), swapping unique values back where the entry swapped them. Only
    when every row it touched is still as it left it: otherwise 409 `Later changes conflict
    with this revert`, with those rows in `conflicts`, and nothing changes. Answers the
    revert's own entry (its summary starts with "Revert", its changes bounded as in
    `GET /history`), which can be reverted in turn.
    """
    with db.transaction() as conn:
        raw = revert_service.revert(conn, revision=revision)
    return json_response(service.shown(raw))

import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.deps import DatabaseDep, RawBody
from app.api.responses import json_response
from app.schemas.common import BODY_ERRORS, error_responses
from app.schemas.studio import ImportResult, StudioDocument
from app.services import patch_list, patch_list_import, studio

router = APIRouter(tags=["Export"])

DryRun = Annotated[
    bool, Query(description="Only say what would happen (the default); `false` to do it.")
]
_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "example": ",".join(patch_list.COLUMNS)
                + "\r\nBay A,1,top,half-normal,Bay A 1T,,Juno-106,Synth,OUT L,Output,,\r\n",
            }
        },
    }
}


def _download(name: str) -> dict[str, str]:
    day = datetime.date.today().isoformat()
    return {"Content-Disposition": f'attachment; filename="pepper-{name}-{day}'}


@router.get(
    "/export",
    response_model=StudioDocument,
    summary="The whole studio as one JSON document",
    responses=error_responses(503),
)
def export_studio(db: DatabaseDep) -> Response:
    """Bays, points, devices with their ports, cables and scenes, ids and scene timestamps
    kept, read in one snapshot, as a download. `POST /import` takes it back."""
    with db.connection() as conn:
        body = studio.export(conn)
    headers = _download("studio")
    headers["Content-Disposition"] += '.json"'
    return Response(body, media_type="application/json", headers=headers)


@router.post(
    "/import",
    response_model=ImportResult,
    summary="Replace the whole studio with a document",
    responses=error_responses(*BODY_ERRORS, 503),
)
def import_studio(data: StudioDocument, db: DatabaseDep, dry_run: DryRun = True) -> Response:
    """Replace everything (bays, points, devices, ports, cables, scenes) with the document of
    `GET /export`, in one transaction, ids kept. By default a dry run: it says what would be
    deleted and created, and changes nothing. A bad document is a 422 naming the bad item, and
    changes nothing. Up to 16 MiB.
    """
    with db.transaction(whole_studio=True) as conn:
        result = studio.import_studio(conn, doc=data, dry_run=dry_run)
    return json_response(result)


@router.get(
    "/export/patch-list.csv",
    summary="The patch list as a spreadsheet (CSV)",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The CSV"},
        **error_responses(503),
    },
)
def export_patch_list(db: DatabaseDep) -> Response:
    """One row per point, bay by bay and channel by channel (top, then bottom), then the points
    in no bay: `bay, channel, row, mode, point, description, device, device type, port, port
    type, cable to, cable label`. UTF-8, RFC 4180. A cell that a spreadsheet would run as a
    formula gets a leading `'`, which import removes again. Devices and ports wired to no point
    are not in it (`GET /export` has everything).
    """
    with db.connection() as conn:
        rows = patch_list.read_rows(conn)
    headers = _download("patch-list")
    headers["Content-Disposition"] += '.csv"'
    return Response(
        patch_list.export_csv(rows), media_type="text/csv; charset=utf-8", headers=headers
    )


@router.post(
    "/import/patch-list.csv",
    summary="Build a studio from a patch list (CSV)",
    openapi_extra=_CSV_BODY,
    responses={
        200: {"description": "What was (or would be) created and changed"},
        **error_responses(*BODY_ERRORS, 503),
        422: {"description": "A bad cell: `loc` names its row and column"},
    },
)
def import_patch_list(body: RawBody, db: DatabaseDep, dry_run: DryRun = True) -> Response:
    """Take a patch list with the columns of `GET /export/patch-list.csv` and build what is
    missing: bays, points in their slots (loose points by name), devices by name, ports by label
    within their device, links, cables. What exists is kept. One transaction; by default a dry
    run that lists what it would create and change. Importing an export into an empty studio
    rebuilds the same bays, points, wired devices and ports, links and cables.
    """
    rows = patch_list.parse(body)
    with db.transaction(whole_studio=True) as conn:
        result = patch_list_import.import_rows(conn, rows=rows, dry_run=dry_run)
    return json_response(result)

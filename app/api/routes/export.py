import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.deps import DatabaseDep, RawBody
from app.api.responses import json_response
from app.schemas import studio as bounds
from app.schemas.common import BODY_ERRORS, ErrorOut, error_responses
from app.schemas.studio import ImportResult, StudioDocument
from app.services import patch_list, patch_list_import, studio, studio_document

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


# The body of `POST /import`, declared as FastAPI would declare a `StudioDocument` parameter
# (the endpoint reads the body itself, in its worker thread: see app/services/json_pieces.py).
_DOCUMENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/StudioDocument"}}
        },
    }
}


_IMPORT = f"""Make the studio (bays, points, devices, ports, cables, scenes) what a document of
`GET /export` says, in one transaction, ids kept. Only what differs changes: what the document
holds as it is stays untouched, what differs takes the document's values, what it does not hold
is deleted, what is new is created; importing the studio's own export changes nothing. By
default a dry run: it says what would be created, updated and deleted, and changes nothing. A
bad document is a 422 naming the bad item, and changes nothing.

Up to 16 MiB, and at most {bounds.MAX_POINTS:,} points, {bounds.MAX_PORTS:,} ports,
{bounds.MAX_CABLES:,} cables, {bounds.MAX_CHANNELS:,} channels in {bounds.MAX_BAYS:,} bays,
{bounds.MAX_DEVICES:,} devices and {bounds.MAX_SCENES:,} scenes holding
{bounds.MAX_SCENE_ITEMS:,} links, cables and modes together: 413 past one, naming it.
"""


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
    summary="Make the studio match a document",
    description=_IMPORT,
    openapi_extra=_DOCUMENT_BODY,
    responses={
        **error_responses(*BODY_ERRORS, 503),
        413: {
            "model": ErrorOut,
            "description": "Body larger than 16 MiB, or more items of a kind than an import "
            "takes (the message names the bound)",
        },
        422: {"description": "A bad document: `loc` names the bad item"},
    },
)
def import_studio(body: RawBody, db: DatabaseDep, dry_run: DryRun = True) -> Response:
    """Make the studio what a document of `GET /export` says (see the description)."""
    doc = studio_document.read(body)
    with db.transaction(whole_studio=True) as conn:
        result = studio.import_studio(conn, doc=doc, dry_run=dry_run)
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

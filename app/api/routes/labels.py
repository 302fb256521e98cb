from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from app.api.deps import DatabaseDep
from app.api.paths import BayIdPath
from app.schemas.common import error_responses
from app.services import labels as service

router = APIRouter(prefix="/bays", tags=["Export"])

SVG = "image/svg+xml"

WidthQuery = Annotated[
    float,
    Query(
        ge=service.MIN_WIDTH_MM,
        le=service.MAX_WIDTH_MM,
        allow_inf_nan=False,
        description="Width of the strips in millimetres: the panel's, or the label area's",
        examples=[service.DEFAULT_WIDTH_MM],
    ),
]

PartsQuery = Annotated[
    int,
    Query(
        ge=1,
        le=service.MAX_PARTS,
        description="Pieces to cut each strip into, for paper narrower than the strip",
        examples=[2],
    ),
]

SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An SVG document, its size in millimetres",
        "content": {SVG: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{bay_id}/labels.svg",
    # A plain Response: its errors stay documented as JSON, the 200 as SVG alone.
    response_class=Response,
    summary="Print a bay's designation strips",
    responses={**SVG_RESPONSE, **error_responses(404, 503)},
)
def bay_labels(
    bay_id: BayIdPath,
    db: DatabaseDep,
    width_mm: WidthQuery = service.DEFAULT_WIDTH_MM,
    parts: PartsQuery = 1,
) -> Response:
    """Designation strips to print at 1:1 and cut out: one for the bay's top row of jacks and
    one for its bottom row, each with a cell per channel holding the channel's number and the
    name of the point in that jack (empty for an empty slot). A name too long for its cell is
    set smaller, down to about 4 pt, then cut short with "…".

    The strips are `width_mm` wide (default 482.6 mm, a 19-inch panel; 100 to 1000), and the
    document's size is in millimetres. A 19-inch strip is wider than A4 or Letter paper even in
    landscape: `parts=2` cuts each strip into two pieces of consecutive channels, one below the
    other (241.3 mm each for a 19-inch strip), to lay end to end in the bay's label holder.

    To print at the real size, open the document in a browser and print it in landscape with
    the scale at 100 % ("Custom 100" in Chrome, "Actual size" in a PDF viewer), never
    "Fit to page". Browsers shrink a page wider than the paper's printable area even at 100 %,
    so use `parts` (or larger paper) until each piece fits, and check with a ruler that a
    strip measures its width before cutting. The document loads nothing (no fonts, no
    images): it prints the same offline.
    """
    with db.connection() as conn:
        bay = service.read_bay(conn, bay_id=bay_id)
    labels = service.bay_labels(bay, bay_id=bay_id, width_mm=width_mm, parts=parts)
    headers = {
        "Content-Disposition": f'inline; filename="{labels.filename}"',
        "Content-Security-Policy": service.CONTENT_SECURITY_POLICY,
    }
    return Response(labels.svg, media_type=SVG, headers=headers)

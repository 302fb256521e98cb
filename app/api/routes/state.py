from typing import Annotated

from fastapi import APIRouter, Header, Response

from app.api.deps import ReaderDep
from app.api.etag import etag_for, if_none_match_hits
from app.schemas.common import error_responses
from app.schemas.state import StateRead
from app.services.reads import current_revision, read_state

router = APIRouter(tags=["State"])


@router.get(
    "/state",
    summary="The whole studio",
    response_model=StateRead,
    responses={
        304: {"description": "Unchanged since the revision named in `If-None-Match`"},
        **error_responses(503),
    },
)
def get_state(
    connect: ReaderDep,
    if_none_match: Annotated[
        str | None,
        Header(description='The `ETag` of an earlier answer, e.g. `W/"42"`', examples=['W/"42"']),
    ] = None,
) -> Response:
    """Every patchbay point (by id) and every device (by id) with its ports in creation order.

    This is what the browser app polls. The `ETag` names the state's revision, which changes
    with every committed change (through the API or directly in the database). Send it back in
    `If-None-Match` and an unchanged state costs a `304` with no body.
    """
    headers = {"Cache-Control": "no-cache"}
    with connect() as conn:
        if if_none_match is not None:
            revision = current_revision(conn)
            if if_none_match_hits(if_none_match, revision):
                return Response(status_code=304, headers={**headers, "ETag": etag_for(revision)})
        revision, body = read_state(conn)
    headers["ETag"] = etag_for(revision)
    return Response(body, media_type="application/json", headers=headers)

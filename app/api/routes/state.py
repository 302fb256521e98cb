from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from app.api.deps import DatabaseDep
from app.api.responses import revision_tagged
from app.schemas.common import error_responses
from app.schemas.state import StateRead
from app.services.state import read_state

router = APIRouter(tags=["State"])

IfNoneMatch = Annotated[
    str | None,
    Header(description='The `ETag` of an earlier answer, e.g. `W/"42"`', examples=['W/"42"']),
]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Unchanged since the revision named in `If-None-Match`"}
}


@router.get(
    "/state",
    summary="The whole studio",
    response_model=StateRead,
    responses={**NOT_MODIFIED, **error_responses(503)},
)
def get_state(db: DatabaseDep, if_none_match: IfNoneMatch = None) -> Response:
    """Every patchbay point (by id) and every device (by id) with its ports in creation order.

    This is what the browser app polls. The `ETag` names the state's revision, which changes
    with every committed change (through the API or directly in the database). Send it back in
    `If-None-Match` and an unchanged state costs a `304` with no body.
    """
    return revision_tagged(db, if_none_match, read_state)

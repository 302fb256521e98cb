from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from app.api.deps import DatabaseDep
from app.api.responses import revision_tagged
from app.db import shapes
from app.schemas.common import error_responses
from app.schemas.state import StateRead

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
async def get_state(db: DatabaseDep, if_none_match: IfNoneMatch = None) -> Response:
    """Every patchbay point (by id) and every device (by id) with its ports in creation order.

    This is what the browser app polls. The `ETag` names the state's revision, which changes
    with every committed change (through the API or directly in the database). Send it back in
    `If-None-Match` and an unchanged state costs a `304` with no body.
    """

    async def read() -> tuple[int, str]:
        row = await db.fetch_row(shapes.STATE)
        assert row is not None, "state_revision has its one row from migration 0003"
        return int(row[0]), row[1]

    return await revision_tagged(db, if_none_match, read)

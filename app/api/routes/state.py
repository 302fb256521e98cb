from fastapi import APIRouter, Response
from pydantic_core import to_json

from app.api.deps import SessionDep
from app.schemas.common import error_responses
from app.schemas.state import StateRead
from app.services.reads import read_state

router = APIRouter(tags=["State"])


@router.get(
    "/state",
    summary="The whole studio",
    response_model=StateRead,
    responses=error_responses(503),
)
def get_state(session: SessionDep) -> Response:
    """Every patchbay point (by id) and every device (by id) with its ports in creation order.

    This is what the browser app polls.
    """
    return Response(content=to_json(read_state(session)), media_type="application/json")

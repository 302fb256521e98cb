from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import CableIdPath
from app.api.responses import json_response
from app.core.errors import CABLE_NOT_FOUND, NotFound
from app.db import shapes
from app.schemas.cable import CableCreate, CableRead, CableUpdate
from app.schemas.common import BODY_ERRORS, CREATED, WRITE_ERRORS, error_responses
from app.services import cables as service

router = APIRouter(prefix="/cables", tags=["Cables"])


@router.get(
    "", response_model=list[CableRead], summary="List cables", responses=error_responses(503)
)
async def list_cables(db: DatabaseDep) -> Response:
    """Every patch cable by id, with its two points in the order given."""
    return json_response(await db.fetch_value(shapes.LIST_CABLES))


@router.get(
    "/{cable_id}",
    response_model=CableRead,
    summary="Get a cable",
    responses=error_responses(404, 503),
)
async def get_cable(cable_id: CableIdPath, db: DatabaseDep) -> Response:
    """One patch cable."""
    body = await db.fetch_value(shapes.GET_CABLE, {"id": cable_id})
    if body is None:
        raise NotFound(CABLE_NOT_FOUND)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=CableRead,
    summary="Plug a patch cable",
    responses=CREATED | error_responses(404, 409, *BODY_ERRORS, 503),
)
async def create_cable(data: CableCreate, db: DatabaseDep) -> Response:
    """Join the front jacks of two points. A jack holds one plug: one that holds a plug already
    is 409 `Jack already patched`; an unknown point is 404; the same point twice is 422."""
    async with db.transaction() as conn:
        cable_id, body = await service.create_cable(conn, data=data)
    return json_response(body, status_code=201, location=f"/cables/{cable_id}")


@router.patch(
    "/{cable_id}",
    response_model=CableRead,
    summary="Relabel or recolour a cable",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
async def update_cable(cable_id: CableIdPath, data: CableUpdate, db: DatabaseDep) -> Response:
    """Change `label` and/or `color` (`null` clears the colour); fields left out stay."""
    async with db.transaction() as conn:
        body = await service.update_cable(conn, cable_id=cable_id, data=data)
    return json_response(body)


@router.delete(
    "/{cable_id}",
    response_model=CableRead,
    summary="Unplug a cable",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
async def delete_cable(cable_id: CableIdPath, db: DatabaseDep) -> Response:
    """Remove the cable; its jacks are free again. Answers the cable as it was."""
    async with db.transaction() as conn:
        body = await service.delete_cable(conn, cable_id=cable_id)
    return json_response(body)

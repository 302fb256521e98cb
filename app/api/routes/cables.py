from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import CableIdPath
from app.api.responses import json_response
from app.schemas.cable import CableCreate, CableRead, CableUpdate
from app.schemas.common import BODY_ERRORS, CREATED, WRITE_ERRORS, error_responses
from app.services import cables as service

router = APIRouter(prefix="/cables", tags=["Cables"])


@router.get(
    "", response_model=list[CableRead], summary="List cables", responses=error_responses(503)
)
def list_cables(db: DatabaseDep) -> Response:
    """Every patch cable by id, with its two points in the order given."""
    with db.connection() as conn:
        body = service.list_cables(conn)
    return json_response(body)


@router.get(
    "/{cable_id}",
    response_model=CableRead,
    summary="Get a cable",
    responses=error_responses(404, 503),
)
def get_cable(cable_id: CableIdPath, db: DatabaseDep) -> Response:
    """One patch cable."""
    with db.connection() as conn:
        body = service.get_cable(conn, cable_id=cable_id)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=CableRead,
    summary="Plug a patch cable",
    responses=CREATED | error_responses(404, 409, *BODY_ERRORS, 503),
)
def create_cable(data: CableCreate, db: DatabaseDep) -> Response:
    """Join the front jacks of two points. A jack holds one plug: one that holds a plug already
    is 409 `Jack already patched`; an unknown point is 404; the same point twice is 422."""
    with db.transaction() as conn:
        cable_id, body = service.create_cable(conn, data=data)
    return json_response(body, status_code=201, location=f"/cables/{cable_id}")


@router.patch(
    "/{cable_id}",
    response_model=CableRead,
    summary="Relabel or recolour a cable",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_cable(cable_id: CableIdPath, data: CableUpdate, db: DatabaseDep) -> Response:
    """Change `label` and/or `color` (`null` clears the colour); fields left out stay."""
    with db.transaction() as conn:
        body = service.update_cable(conn, cable_id=cable_id, data=data)
    return json_response(body)


@router.delete(
    "/{cable_id}",
    response_model=CableRead,
    summary="Unplug a cable",
    responses=error_responses(404, *WRITE_ERRORS, 503),
)
def delete_cable(cable_id: CableIdPath, db: DatabaseDep) -> Response:
    """Remove the cable; its jacks are free again. Answers the cable as it was."""
    with db.transaction() as conn:
        body = service.delete_cable(conn, cable_id=cable_id)
    return json_response(body)

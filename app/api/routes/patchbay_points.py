from fastapi import APIRouter, Response

from app.api.deps import DatabaseDep
from app.api.paths import PointIdPath
from app.api.responses import json_response
from app.schemas.common import BODY_ERRORS, CREATED, WRITE_ERRORS, error_responses
from app.schemas.patchbay_point import PointBulkCreate, PointCreate, PointRead, PointUpdate
from app.services import patchbay_points as service

router = APIRouter(prefix="/patchbay-points", tags=["Patchbay points"])


@router.get(
    "",
    response_model=list[PointRead],
    summary="List patchbay points",
    responses=error_responses(503),
)
def list_patchbay_points(db: DatabaseDep) -> Response:
    """Every patchbay point, by id."""
    with db.connection() as conn:
        body = service.list_points(conn)
    return json_response(body)


@router.get(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Get a patchbay point",
    responses=error_responses(404, 503),
)
def get_patchbay_point(point_id: PointIdPath, db: DatabaseDep) -> Response:
    """One patchbay point."""
    with db.connection() as conn:
        body = service.get_point(conn, point_id=point_id)
    return json_response(body)


@router.post(
    "",
    status_code=201,
    response_model=PointRead,
    summary="Create a patchbay point",
    responses=CREATED | error_responses(*BODY_ERRORS, 503),
)
def create_patchbay_point(data: PointCreate, db: DatabaseDep) -> Response:
    """Create a point; `description` defaults to `""` and `type` to `"standard"`.

    The answer's `Location` header is the new point's address.
    """
    with db.transaction() as conn:
        point_id, body = service.create_point(conn, data=data)
    return json_response(body, status_code=201, location=f"/patchbay-points/{point_id}")


@router.post(
    "/bulk",
    status_code=201,
    response_model=list[PointRead],
    summary="Create many patchbay points at once",
    responses=error_responses(*BODY_ERRORS, 503),
)
def create_patchbay_points(data: PointBulkCreate, db: DatabaseDep) -> Response:
    """Create 1 to 500 points in one transaction (all or nothing), e.g. a whole 48- or 96-point
    patchbay. They are returned in the order given."""
    with db.transaction() as conn:
        body = service.create_points(conn, points=data.points)
    return json_response(body, status_code=201)


@router.patch(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Change a patchbay point",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_patchbay_point(point_id: PointIdPath, data: PointUpdate, db: DatabaseDep) -> Response:
    """Change any of `name`, `description`, `type`; fields left out stay as they are."""
    with db.transaction() as conn:
        body = service.update_point(conn, point_id=point_id, data=data)
    return json_response(body)


@router.delete(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Delete a patchbay point",
    responses=error_responses(404, 409, *WRITE_ERRORS, 503),
)
def delete_patchbay_point(point_id: PointIdPath, db: DatabaseDep) -> Response:
    """Delete a point that holds no port and no cable plug (409 `Patchbay point is in use`
    otherwise). A bay slot it sat in is left empty."""
    with db.transaction() as conn:
        body = service.delete_point(conn, point_id=point_id)
    return json_response(body)

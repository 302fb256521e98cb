from fastapi import APIRouter, Response

from app.api.deps import ReaderDep, SessionDep
from app.api.paths import PointIdPath
from app.api.responses import committed_response
from app.schemas.common import BODY_ERRORS, error_responses
from app.schemas.patchbay_point import PointBulkCreate, PointCreate, PointRead, PointUpdate
from app.services import patchbay_points as service
from app.services.reads import points_json

router = APIRouter(prefix="/patchbay-points", tags=["Patchbay points"])


@router.get(
    "",
    response_model=list[PointRead],
    summary="List patchbay points",
    responses=error_responses(503),
)
def list_patchbay_points(connect: ReaderDep) -> Response:
    """Every patchbay point, by id."""
    with connect() as conn:
        body = points_json(conn)
    return Response(body, media_type="application/json")


@router.get(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Get a patchbay point",
    responses=error_responses(404, 503),
)
def get_patchbay_point(point_id: PointIdPath, session: SessionDep) -> Response:
    """One patchbay point."""
    return committed_response(
        session, PointRead.model_validate(service.get_point(session, point_id=point_id))
    )


@router.post(
    "",
    status_code=201,
    response_model=PointRead,
    summary="Create a patchbay point",
    responses=error_responses(*BODY_ERRORS, 503),
)
def create_patchbay_point(data: PointCreate, session: SessionDep) -> Response:
    """Create a point; `description` defaults to `""` and `type` to `"standard"`.

    The answer's `Location` header is the new point's address.
    """
    [point] = service.create_points(session, points=[data])
    return committed_response(
        session,
        PointRead.model_validate(point),
        status_code=201,
        location=f"/patchbay-points/{point.id}",
    )


@router.post(
    "/bulk",
    status_code=201,
    response_model=list[PointRead],
    summary="Create many patchbay points at once",
    responses=error_responses(*BODY_ERRORS, 503),
)
def create_patchbay_points(data: PointBulkCreate, session: SessionDep) -> Response:
    """Create 1 to 500 points in one transaction (all or nothing), e.g. a whole 48- or 96-point
    patchbay. They are returned in the order given."""
    points = service.create_points(session, points=data.points)
    created = [PointRead.model_validate(point) for point in points]
    return committed_response(session, created, status_code=201)


@router.patch(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Change a patchbay point",
    responses=error_responses(404, *BODY_ERRORS, 503),
)
def update_patchbay_point(
    point_id: PointIdPath, data: PointUpdate, session: SessionDep
) -> Response:
    """Change any of `name`, `description`, `type`; fields left out stay as they are."""
    point = service.update_point(session, point_id=point_id, data=data)
    return committed_response(session, PointRead.model_validate(point))


@router.delete(
    "/{point_id:point_segment}",
    response_model=PointRead,
    summary="Delete a patchbay point",
    responses=error_responses(404, 409, 503),
)
def delete_patchbay_point(point_id: PointIdPath, session: SessionDep) -> Response:
    """Delete a point that no port is linked to (409 `Patchbay point is in use` otherwise)."""
    point = service.delete_point(session, point_id=point_id)
    return committed_response(session, PointRead.model_validate(point))

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import PatchbayPoint, Port
from app.schemas.patchbay_point import PointCreate, PointUpdate
from app.services.locks import POINT_NOT_FOUND

POINT_IN_USE = "Patchbay point is in use"

# Studios created points in pgAdmin with ids typed by hand, which leaves the id sequence behind.
_CATCH_UP_ID_SEQUENCE = text(
    "SELECT setval(pg_get_serial_sequence('patchbay_points', 'id'), "
    "(SELECT coalesce(max(id), 0) + 1 FROM patchbay_points), false)"
)


def get_point(session: Session, *, point_id: int, for_update: bool = False) -> PatchbayPoint:
    query = select(PatchbayPoint).where(PatchbayPoint.id == point_id)
    point = session.scalar(query.with_for_update() if for_update else query)
    if point is None:
        raise NotFound(POINT_NOT_FOUND)
    return point


def create_points(session: Session, *, points: list[PointCreate]) -> list[PatchbayPoint]:
    """Insert the points in the given order, all or nothing."""
    try:
        return _insert_points(session, points)
    except IntegrityError as exc:
        if "patchbay_points_pkey" not in str(exc.orig):
            raise
    session.execute(_CATCH_UP_ID_SEQUENCE)
    return _insert_points(session, points)


def _insert_points(session: Session, points: list[PointCreate]) -> list[PatchbayPoint]:
    rows = [PatchbayPoint(**point.model_dump()) for point in points]
    # A savepoint, so a clash on the id leaves the request's transaction usable for the retry.
    with session.begin_nested():
        session.add_all(rows)
    return rows


def update_point(session: Session, *, point_id: int, data: PointUpdate) -> PatchbayPoint:
    point = get_point(session, point_id=point_id, for_update=True)
    for field, value in data.changes().items():
        setattr(point, field, value)
    session.flush()
    return point


def delete_point(session: Session, *, point_id: int) -> PatchbayPoint:
    """Delete a free point; one that a port is linked to is 409."""
    # The row lock makes any link onto this point wait, so the check below cannot go stale.
    point = get_point(session, point_id=point_id, for_update=True)
    if session.scalar(select(Port.id).where(Port.patchbay_id == point_id)) is not None:
        raise Conflict(POINT_IN_USE)
    session.delete(point)
    try:
        session.flush()
    except IntegrityError as exc:
        # A port linked by direct SQL meanwhile, past the row lock.
        raise Conflict(POINT_IN_USE) from exc
    return point

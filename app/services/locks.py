"""Row locks and constraint mapping shared by the services (see the locking discipline in
`app/services/__init__.py`)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import PatchbayPoint, Port, PortType

POINT_NOT_FOUND = "Patchbay point not found"
PORT_NOT_FOUND = "Port not found"
POINT_TAKEN = "Patchbay point already linked"

# What the API shows of a port; the hot paths read and return plain rows of these.
PORT_COLUMNS = (Port.id, Port.label, Port.type, Port.patchbay_id)
PortRow = Row[str, str, PortType, int | None]

# The hot paths' statements, built once and run on the session's connection: building a
# statement and going through the ORM's execution layer cost more CPU than the database work.
_LOCK_POINT = (
    select(PatchbayPoint.id).where(PatchbayPoint.id == bindparam("point_id")).with_for_update()
)
_LOCK_PORT_AND_HOLDER = (
    select(*PORT_COLUMNS)
    .where(or_(Port.id == bindparam("port_id"), Port.patchbay_id == bindparam("point_id")))
    .order_by(Port.id)
    .with_for_update()
)
_LOCK_PORT = select(*PORT_COLUMNS).where(Port.id == bindparam("port_id")).with_for_update()


def lock_points(session: Session, point_ids: Iterable[int]) -> None:
    """Lock the given patchbay points in id order; 404 if any does not exist."""
    wanted = sorted(set(point_ids))
    if not wanted:
        return
    found = session.scalars(
        select(PatchbayPoint.id)
        .where(PatchbayPoint.id.in_(wanted))
        .order_by(PatchbayPoint.id)
        .with_for_update()
    ).all()
    if len(found) != len(wanted):
        raise NotFound(POINT_NOT_FOUND)


def lock_point_if_exists(session: Session, point_id: int) -> bool:
    found = session.connection().execute(_LOCK_POINT, {"point_id": point_id}).scalar()
    return found is not None


def lock_port_and_holder(
    session: Session, *, port_id: str, point_id: int
) -> tuple[PortRow | None, PortRow | None]:
    """Lock the port and whichever port holds the point, in id order.

    Returns (port, holder); holder is None when the point is free or held by the port itself.
    """
    rows = (
        session.connection()
        .execute(_LOCK_PORT_AND_HOLDER, {"port_id": port_id, "point_id": point_id})
        .all()
    )
    port = next((row for row in rows if row.id == port_id), None)
    holder = next((row for row in rows if row.id != port_id and row.patchbay_id == point_id), None)
    return port, holder


def lock_port(session: Session, port_id: str) -> PortRow:
    port = session.connection().execute(_LOCK_PORT, {"port_id": port_id}).one_or_none()
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    return port


@contextmanager
def taken_point_is_conflict() -> Iterator[None]:
    """Turn a lost race on the one-port-per-point rule (someone writing by hand in pgAdmin,
    past our locks) into a 409."""
    try:
        yield
    except IntegrityError as exc:
        if "uq_ports_patchbay_id" in str(exc.orig):
            raise Conflict(POINT_TAKEN) from exc
        raise


def flush(session: Session) -> None:
    with taken_point_is_conflict():
        session.flush()

"""A whole patch at once: many link/unlink operations in one transaction."""

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.models import Port
from app.schemas.port import BulkLink
from app.services.locks import PORT_NOT_FOUND, flush, lock_points


def bulk_link(session: Session, *, links: list[BulkLink]) -> tuple[list[Port], list[str]]:
    """Apply every entry like `link` (take-over) or, for a null point, `unlink`.

    Each port and each point appears at most once (the schema checks that). Returns the ports in
    request order and the sorted ids of other ports that lost their point to this request.
    """
    target = {link.port_id: link.patchbay_id for link in links}
    points = {point for point in target.values() if point is not None}
    # Same lock order as `link`: the target points (404 if unknown), then every port involved.
    lock_points(session, points)
    rows = session.scalars(
        select(Port)
        .where(or_(Port.id.in_(target), Port.patchbay_id.in_(points)))
        .order_by(Port.id)
        .with_for_update()
    ).all()
    by_id = {port.id: port for port in rows}
    if any(port_id not in by_id for port_id in target):
        raise NotFound(PORT_NOT_FOUND)

    losers = sorted(port.id for port in rows if port.id not in target)
    moving = [port for port in rows if port.id in target and port.patchbay_id != target[port.id]]
    # Free every point first, then fill them: a point changes hands within the request, and the
    # unique constraint is checked row by row.
    for port in [by_id[port_id] for port_id in losers] + moving:
        port.patchbay_id = None
    flush(session)
    for port in moving:
        port.patchbay_id = target[port.id]
    flush(session)
    return [by_id[link.port_id] for link in links], losers

"""Single-port operations. These are the hot write paths, so they use prebuilt statements and
plain rows rather than ORM objects: a few round trips, each while the point's row lock is held."""

from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import Port
from app.schemas.port import PortUpdate
from app.services.locks import (
    POINT_NOT_FOUND,
    POINT_TAKEN,
    PORT_COLUMNS,
    PORT_NOT_FOUND,
    PortRow,
    lock_point_if_exists,
    lock_port,
    lock_port_and_holder,
    taken_point_is_conflict,
)


def _lock_for_move(
    session: Session, *, port_id: str, patchbay_id: int
) -> tuple[PortRow, PortRow | None]:
    point_exists = lock_point_if_exists(session, patchbay_id)
    port, holder = lock_port_and_holder(session, port_id=port_id, point_id=patchbay_id)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    if not point_exists:
        raise NotFound(POINT_NOT_FOUND)
    return port, holder


_SET_POINT = (
    update(Port)
    .where(Port.id == bindparam("port_id"))
    .values(patchbay_id=bindparam("point_id"))
    .returning(*PORT_COLUMNS)
)


def _set_point(session: Session, port_id: str, point_id: int | None) -> PortRow:
    with taken_point_is_conflict():
        return (
            session.connection()
            .execute(_SET_POINT, {"port_id": port_id, "point_id": point_id})
            .one()
        )


def _update_port(session: Session, port_id: str, **values: Any) -> PortRow:
    with taken_point_is_conflict():
        return session.execute(
            update(Port)
            .where(Port.id == port_id)
            .values(**values)
            .returning(*PORT_COLUMNS)
            .execution_options(synchronize_session=False)
        ).one()


def link_port(session: Session, *, port_id: str, patchbay_id: int) -> tuple[PortRow, str | None]:
    """Move the port to the point, unlinking whichever port held it.

    Returns the port and the id of the port that lost the point (or None).
    """
    port, holder = _lock_for_move(session, port_id=port_id, patchbay_id=patchbay_id)
    if port.patchbay_id == patchbay_id:
        return port, None
    if holder is not None:
        # Free the point first, in its own statement: the unique constraint is checked row by
        # row, so moving the port before the holder is cleared would be refused.
        _set_point(session, holder.id, None)
    return _set_point(session, port_id, patchbay_id), holder.id if holder else None


def set_port_patchbay(session: Session, *, port_id: str, patchbay_id: int | None) -> PortRow:
    """Wire the port to a free point, or free it with None; never takes a point over."""
    if patchbay_id is None:
        port = lock_port(session, port_id)
    else:
        port, holder = _lock_for_move(session, port_id=port_id, patchbay_id=patchbay_id)
        if holder is not None:
            raise Conflict(POINT_TAKEN)
    if port.patchbay_id == patchbay_id:
        return port
    return _set_point(session, port_id, patchbay_id)


def unlink_port(session: Session, *, port_id: str) -> PortRow:
    return set_port_patchbay(session, port_id=port_id, patchbay_id=None)


def get_port(session: Session, *, port_id: str) -> PortRow:
    port = session.execute(select(*PORT_COLUMNS).where(Port.id == port_id)).one_or_none()
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    return port


def list_ports(
    session: Session, *, device_id: int | None = None, linked: bool | None = None
) -> list[PortRow]:
    """Ports by device, each device's in creation order, optionally filtered."""
    query = select(*PORT_COLUMNS).order_by(Port.device_id, Port.position)
    if device_id is not None:
        query = query.where(Port.device_id == device_id)
    if linked is not None:
        query = query.where(Port.patchbay_id.is_not(None) if linked else Port.patchbay_id.is_(None))
    return list(session.execute(query).all())


def update_port(session: Session, *, port_id: str, data: PortUpdate) -> PortRow:
    port = lock_port(session, port_id)
    changes = data.changes()
    return _update_port(session, port_id, **changes) if changes else port


def delete_port(session: Session, *, port_id: str) -> PortRow:
    """Delete the port; its point, if any, becomes free."""
    lock_port(session, port_id)
    return session.execute(
        delete(Port)
        .where(Port.id == port_id)
        .returning(*PORT_COLUMNS)
        .execution_options(synchronize_session=False)
    ).one()

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.models import Port
from app.schemas.port import PortUpdate
from app.services.locks import (
    POINT_NOT_FOUND,
    POINT_TAKEN,
    PORT_NOT_FOUND,
    flush,
    lock_point_if_exists,
    lock_port,
    lock_port_and_holder,
)


def _lock_for_move(session: Session, *, port_id: str, patchbay_id: int) -> tuple[Port, Port | None]:
    point_exists = lock_point_if_exists(session, patchbay_id)
    port, holder = lock_port_and_holder(session, port_id=port_id, point_id=patchbay_id)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    if not point_exists:
        raise NotFound(POINT_NOT_FOUND)
    return port, holder


def link_port(session: Session, *, port_id: str, patchbay_id: int) -> tuple[Port, str | None]:
    """Move the port to the point, unlinking whichever port held it.

    Returns the port and the id of the port that lost the point (or None).
    """
    port, holder = _lock_for_move(session, port_id=port_id, patchbay_id=patchbay_id)
    if port.patchbay_id == patchbay_id:
        return port, None
    if holder is not None:
        # Free the point first: flushing both changes together could write the port before the
        # holder, and the unique constraint would reject the intermediate state.
        holder.patchbay_id = None
        flush(session)
    port.patchbay_id = patchbay_id
    flush(session)
    return port, holder.id if holder is not None else None


def set_port_patchbay(session: Session, *, port_id: str, patchbay_id: int | None) -> Port:
    """Wire the port to a free point, or free it with None; never takes a point over."""
    if patchbay_id is None:
        port = lock_port(session, port_id)
    else:
        port, holder = _lock_for_move(session, port_id=port_id, patchbay_id=patchbay_id)
        if holder is not None:
            raise Conflict(POINT_TAKEN)
    if port.patchbay_id != patchbay_id:
        port.patchbay_id = patchbay_id
        flush(session)
    return port


def unlink_port(session: Session, *, port_id: str) -> Port:
    return set_port_patchbay(session, port_id=port_id, patchbay_id=None)


def get_port(session: Session, *, port_id: str) -> Port:
    port = session.get(Port, port_id)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    return port


def list_ports(
    session: Session, *, device_id: int | None = None, linked: bool | None = None
) -> list[Port]:
    """Ports by device, each device's in creation order, optionally filtered."""
    query = select(Port).order_by(Port.device_id, Port.position)
    if device_id is not None:
        query = query.where(Port.device_id == device_id)
    if linked is not None:
        query = query.where(Port.patchbay_id.is_not(None) if linked else Port.patchbay_id.is_(None))
    return list(session.scalars(query))


def update_port(session: Session, *, port_id: str, data: PortUpdate) -> Port:
    port = lock_port(session, port_id)
    for field, value in data.changes().items():
        setattr(port, field, value)
    flush(session)
    return port


def delete_port(session: Session, *, port_id: str) -> Port:
    """Delete the port; its point, if any, becomes free."""
    port = lock_port(session, port_id)
    session.delete(port)
    flush(session)
    return port

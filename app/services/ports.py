"""Single-port operations, the hot write paths.

They run as plain SQL on the request's own transaction (the session's driver connection): for
these short statements SQLAlchemy's statement execution cost more CPU than the database did,
and link throughput went from about 160 to about 400 requests/s without it (ARCHITECTURE.md).
The locking discipline is the one of `app/services/__init__.py`.
"""

from dataclasses import dataclass
from typing import Any

from psycopg import Connection, Cursor
from psycopg.rows import class_row
from sqlalchemy.orm import Session

from app.core.errors import Conflict, NotFound
from app.schemas.port import PortUpdate
from app.services.locks import (
    POINT_NOT_FOUND,
    POINT_TAKEN,
    PORT_NOT_FOUND,
    taken_point_is_conflict,
)


@dataclass(frozen=True, slots=True)
class PortRow:
    id: str
    label: str
    type: str
    patchbay_id: int | None


_COLUMNS = "id, label, type::text AS type, patchbay_id"
_LOCK_POINT = "SELECT id FROM patchbay_points WHERE id = %(point)s FOR UPDATE"
# The port and whichever port holds the point, locked in id order (as every path does).
_LOCK_PORT_AND_HOLDER = f"""
    SELECT {_COLUMNS} FROM ports WHERE id = %(port)s OR patchbay_id = %(point)s
    ORDER BY id FOR UPDATE
"""
_LOCK_PORT = f"SELECT {_COLUMNS} FROM ports WHERE id = %(port)s FOR UPDATE"
_SET_POINT = f"UPDATE ports SET patchbay_id = %(point)s WHERE id = %(port)s RETURNING {_COLUMNS}"
_GET_PORT = f"SELECT {_COLUMNS} FROM ports WHERE id = %(port)s"
_LIST_PORTS = f"""
    SELECT {_COLUMNS} FROM ports
    WHERE (%(device)s::integer IS NULL OR device_id = %(device)s)
      AND (%(linked)s::boolean IS NULL OR (patchbay_id IS NOT NULL) = %(linked)s)
    ORDER BY device_id, position
"""
_UPDATE_PORT = f"""
    UPDATE ports SET label = coalesce(%(label)s, label), type = coalesce(%(type)s::port_type, type)
    WHERE id = %(port)s RETURNING {_COLUMNS}
"""
_DELETE_PORT = f"DELETE FROM ports WHERE id = %(port)s RETURNING {_COLUMNS}"


def _driver(session: Session) -> Connection[Any]:
    driver: Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return driver


def _cursor(session: Session) -> Cursor[PortRow]:
    return _driver(session).cursor(row_factory=class_row(PortRow))


def _one(session: Session, sql: str, **params: Any) -> PortRow | None:
    with taken_point_is_conflict():
        return _cursor(session).execute(sql, params).fetchone()


def _lock_for_move(
    session: Session, *, port_id: str, patchbay_id: int
) -> tuple[PortRow, PortRow | None]:
    """Lock the point, then the port and the point's holder; 404 for either unknown.

    Returns (port, holder); holder is None when the point is free or held by the port itself.
    """
    point_exists = _driver(session).execute(_LOCK_POINT, {"point": patchbay_id}).fetchone()
    rows = (
        _cursor(session)
        .execute(_LOCK_PORT_AND_HOLDER, {"port": port_id, "point": patchbay_id})
        .fetchall()
    )
    port = next((row for row in rows if row.id == port_id), None)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    if point_exists is None:
        raise NotFound(POINT_NOT_FOUND)
    holder = next(
        (row for row in rows if row.id != port_id and row.patchbay_id == patchbay_id), None
    )
    return port, holder


def _set_point(session: Session, port_id: str, point_id: int | None) -> PortRow:
    port = _one(session, _SET_POINT, port=port_id, point=point_id)
    assert port is not None, "the port is locked, so it still exists"
    return port


def lock_port(session: Session, port_id: str) -> PortRow:
    port = _one(session, _LOCK_PORT, port=port_id)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    return port


def link_port(session: Session, *, port_id: str, patchbay_id: int) -> tuple[PortRow, str | None]:
    """Move the port to the point, unlinking whichever port held it.

    Returns the port and the id of the port that lost the point (or None).
    """
    port, holder = _lock_for_move(session, port_id=port_id, patchbay_id=patchbay_id)
    if port.patchbay_id == patchbay_id:
        return port, None
    if holder is None:
        return _set_point(session, port_id, patchbay_id), None
    # Free the point first, in its own statement: the unique constraint is checked row by row,
    # so moving the port before the holder is cleared would be refused.
    _set_point(session, holder.id, None)
    return _set_point(session, port_id, patchbay_id), holder.id


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
    port = _one(session, _GET_PORT, port=port_id)
    if port is None:
        raise NotFound(PORT_NOT_FOUND)
    return port


def list_ports(
    session: Session, *, device_id: int | None = None, linked: bool | None = None
) -> list[PortRow]:
    """Ports by device, each device's in creation order, optionally filtered."""
    params = {"device": device_id, "linked": linked}
    return _cursor(session).execute(_LIST_PORTS, params).fetchall()


def update_port(session: Session, *, port_id: str, data: PortUpdate) -> PortRow:
    port = lock_port(session, port_id)
    changes = data.changes()
    if not changes:
        return port
    updated = _one(
        session, _UPDATE_PORT, port=port_id, label=changes.get("label"), type=changes.get("type")
    )
    assert updated is not None
    return updated


def delete_port(session: Session, *, port_id: str) -> PortRow:
    """Delete the port; its point, if any, becomes free."""
    lock_port(session, port_id)
    deleted = _one(session, _DELETE_PORT, port=port_id)
    assert deleted is not None
    return deleted

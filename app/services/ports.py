"""Ports: wiring them to patchbay points (link with take-over, set, unlink, whole patches at
once), reading, renaming and deleting them. Every change of what a port holds goes through
`locks.relink`, in the lock order of `app/services/locks.py`."""

import json

from sqlalchemy import Connection, bindparam, delete, update

from app.core.errors import PORT_NOT_FOUND
from app.db import shapes
from app.db.params import given_or_kept
from app.db.shapes import PORT, PORT_ROWS, body, found, returned
from app.schemas.port import BulkLink, PortUpdate
from app.services.locks import relink

p = PORT_ROWS.c
_UPDATE_PORT = (
    update(PORT_ROWS)
    .where(p.id == bindparam("port_id"))
    .values(given_or_kept(PORT_ROWS, "label", "type"))
    .returning(returned(PORT))
)
_DELETE_PORT = delete(PORT_ROWS).where(p.id == bindparam("port_id")).returning(returned(PORT))


def list_ports(conn: Connection, *, device_id: int | None, linked: bool | None) -> str:
    """Ports by device, each device's in creation order, optionally filtered."""
    return body(conn, shapes.LIST_PORTS, {"device": device_id, "linked": linked})


def get_port(conn: Connection, *, port_id: str) -> str:
    return found(conn, shapes.GET_PORT, {"id": port_id}, PORT_NOT_FOUND)


def link_port(conn: Connection, *, port_id: str, patchbay_id: int) -> str:
    """Move the port to the point, unlinking whichever port held it: the Port JSON with
    `unlinked_port_id`, the port that lost the point (or null)."""
    shown, losers = relink(conn, {port_id: patchbay_id})
    return json.dumps(
        {**json.loads(shown[port_id]), "unlinked_port_id": next(iter(losers), None)},
        separators=(",", ":"),
    )


def set_port_patchbay(conn: Connection, *, port_id: str, patchbay_id: int | None) -> str:
    """Wire the port to a free point, or free it with None; never takes a point over (409)."""
    shown, _ = relink(conn, {port_id: patchbay_id}, take_over=False)
    return shown[port_id]


def bulk_link(conn: Connection, *, links: list[BulkLink]) -> str:
    """Apply every entry like `link` (a null point unlinks) in one transaction. Each port and
    each point appears at most once (the schema checks that). The ports in request order, and
    the sorted ids of the other ports that lost their point."""
    ports = [link.port_id for link in links]
    _, losers = relink(conn, {link.port_id: link.patchbay_id for link in links})
    return body(conn, shapes.BULK_LINK_RESULT, {"ids": ports, "losers": losers})


def update_port(conn: Connection, *, port_id: str, data: PortUpdate) -> str:
    changes = data.changes()
    params = {"port_id": port_id, "label": changes.get("label"), "type": changes.get("type")}
    return found(conn, _UPDATE_PORT, params, PORT_NOT_FOUND)


def delete_port(conn: Connection, *, port_id: str) -> str:
    """Delete the port; its point, if any, becomes free."""
    return found(conn, _DELETE_PORT, {"port_id": port_id}, PORT_NOT_FOUND)

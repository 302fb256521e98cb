"""Ports: wiring them to patchbay points (link with take-over, set, unlink, whole patches at
once), renaming and deleting them. Every change of what a port holds goes through
`locks.relink`, in the lock order of `app/services/locks.py`."""

import json

from app.core.errors import PORT_NOT_FOUND, NotFound
from app.db.pool import Connection
from app.db.shapes import BULK_LINK_RESULT, PORT
from app.schemas.port import BulkLink, PortUpdate
from app.services.locks import relink

_UPDATE_PORT = f"""
    UPDATE ports p SET label = coalesce(%(label)s, label),
                       type = coalesce(%(type)s::port_type, type)
     WHERE p.id = %(id)s RETURNING {PORT}::text
"""
_DELETE_PORT = f"DELETE FROM ports p WHERE p.id = %(id)s RETURNING {PORT}::text"


async def link_port(conn: Connection, *, port_id: str, patchbay_id: int) -> str:
    """Move the port to the point, unlinking whichever port held it: the Port JSON with
    `unlinked_port_id`, the port that lost the point (or null)."""
    shown, losers = await relink(conn, {port_id: patchbay_id})
    return json.dumps(
        {**json.loads(shown[port_id]), "unlinked_port_id": next(iter(losers), None)},
        separators=(",", ":"),
    )


async def set_port_patchbay(conn: Connection, *, port_id: str, patchbay_id: int | None) -> str:
    """Wire the port to a free point, or free it with None; never takes a point over (409)."""
    shown, _ = await relink(conn, {port_id: patchbay_id}, take_over=False)
    return shown[port_id]


async def bulk_link(conn: Connection, *, links: list[BulkLink]) -> str:
    """Apply every entry like `link` (a null point unlinks) in one transaction. Each port and
    each point appears at most once (the schema checks that). The ports in request order, and
    the sorted ids of the other ports that lost their point."""
    ports = [link.port_id for link in links]
    _, losers = await relink(conn, {link.port_id: link.patchbay_id for link in links})
    row = await (await conn.execute(BULK_LINK_RESULT, {"ids": ports, "losers": losers})).fetchone()
    assert row is not None
    return str(row[0])


async def update_port(conn: Connection, *, port_id: str, data: PortUpdate) -> str:
    changes = data.changes()
    params = {"id": port_id, "label": changes.get("label"), "type": changes.get("type")}
    cursor = await conn.execute(_UPDATE_PORT, params)
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(PORT_NOT_FOUND)
    return str(row[0])


async def delete_port(conn: Connection, *, port_id: str) -> str:
    """Delete the port; its point, if any, becomes free."""
    cursor = await conn.execute(_DELETE_PORT, {"id": port_id})
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(PORT_NOT_FOUND)
    return str(row[0])

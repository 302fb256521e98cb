"""Patch cables: plugging the front jacks of two points together."""

from app.core.errors import CABLE_NOT_FOUND, JACK_PATCHED, Conflict, NotFound
from app.db.pool import Connection
from app.db.shapes import CABLE
from app.schemas.cable import CableCreate, CableUpdate
from app.services.locks import lock_cable, lock_points

_PLUGGED = "SELECT 1 FROM cable_ends WHERE point_id = ANY(%(points)s) LIMIT 1"
_INSERT_CABLE = "INSERT INTO cables (label, color) VALUES (%(label)s, %(color)s) RETURNING id"
_INSERT_ENDS = """
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    VALUES (%(cable)s, 1, %(a)s), (%(cable)s, 2, %(b)s)
"""
_GET_CABLE = f"SELECT {CABLE}::text FROM cables k WHERE k.id = %(id)s"
_UPDATE_CABLE = f"""
    UPDATE cables k SET label = coalesce(%(label)s, label),
                        color = CASE WHEN %(set_color)s THEN %(color)s ELSE color END
     WHERE k.id = %(id)s RETURNING {CABLE}::text
"""
_ENDS = "SELECT point_id FROM cable_ends WHERE cable_id = %(id)s"
_DELETE_CABLE = "DELETE FROM cables WHERE id = %(id)s"


async def cable_json(conn: Connection, cable_id: int) -> str:
    row = await (await conn.execute(_GET_CABLE, {"id": cable_id})).fetchone()
    if row is None:
        raise NotFound(CABLE_NOT_FOUND)
    return str(row[0])


async def create_cable(conn: Connection, *, data: CableCreate) -> tuple[int, str]:
    """Plug a cable into two free jacks (404 unknown point, 409 a jack already holds a plug)."""
    a, b = data.points
    await lock_points(conn, data.points)
    if await (await conn.execute(_PLUGGED, {"points": data.points})).fetchone():
        raise Conflict(JACK_PATCHED)
    params = {"label": data.label, "color": data.color}
    row = await (await conn.execute(_INSERT_CABLE, params)).fetchone()
    assert row is not None
    cable_id = int(row[0])
    await conn.execute(_INSERT_ENDS, {"cable": cable_id, "a": a, "b": b})
    return cable_id, await cable_json(conn, cable_id)


async def update_cable(conn: Connection, *, cable_id: int, data: CableUpdate) -> str:
    changes = data.changes()
    params = {
        "id": cable_id,
        "label": changes.get("label"),
        "set_color": "color" in changes,
        "color": changes.get("color"),
    }
    row = await (await conn.execute(_UPDATE_CABLE, params)).fetchone()
    if row is None:
        raise NotFound(CABLE_NOT_FOUND)
    return str(row[0])


async def delete_cable(conn: Connection, *, cable_id: int) -> str:
    """Unplug the cable; returns it as it was."""
    ends = [row[0] for row in await (await conn.execute(_ENDS, {"id": cable_id})).fetchall()]
    if not ends:
        raise NotFound(CABLE_NOT_FOUND)
    # Its jacks first, then the cable (the lock order); a cable's ends never change.
    await lock_points(conn, ends)
    await lock_cable(conn, cable_id)
    shown = await cable_json(conn, cable_id)
    await conn.execute(_DELETE_CABLE, {"id": cable_id})
    return shown

"""Patch cables: plugging the front jacks of two points together."""

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.errors import CABLE_NOT_FOUND, JACK_PATCHED, Conflict, NotFound
from app.db.pool import Connection
from app.db.shapes import CABLE, GET_CABLE
from app.schemas.cable import CableCreate, CableUpdate
from app.services.locks import lock_cable, lock_points, points_held

_NEW_IDS = "SELECT nextval(pg_get_serial_sequence('cables', 'id')) FROM generate_series(1, %(n)s)"
_INSERT_CABLES = """
    INSERT INTO cables (id, label, color)
    SELECT * FROM unnest(%(ids)s::integer[], %(labels)s::text[], %(colors)s::text[])
"""
_INSERT_ENDS = """
    INSERT INTO cable_ends (cable_id, end_number, point_id)
    SELECT id, 1, a FROM unnest(%(ids)s::integer[], %(a)s::integer[]) AS given(id, a)
    UNION ALL
    SELECT id, 2, b FROM unnest(%(ids)s::integer[], %(b)s::integer[]) AS given(id, b)
"""
_UNPLUG = "DELETE FROM cables WHERE id = ANY(%(ids)s)"
_RELABEL = """
    UPDATE cables k SET label = given.label, color = given.color
      FROM unnest(%(ids)s::integer[], %(labels)s::text[], %(colors)s::text[])
           AS given(id, label, color)
     WHERE k.id = given.id
"""
_UPDATE_CABLE = f"""
    UPDATE cables k SET label = coalesce(%(label)s, label),
                        color = CASE WHEN %(set_color)s THEN %(color)s ELSE color END
     WHERE k.id = %(id)s RETURNING {CABLE}::text
"""
_ENDS = "SELECT point_id FROM cable_ends WHERE cable_id = %(id)s"


async def cable_json(conn: Connection, cable_id: int) -> str:
    row = await (await conn.execute(GET_CABLE, {"id": cable_id})).fetchone()
    if row is None:
        raise NotFound(CABLE_NOT_FOUND)
    return str(row[0])


@dataclass(frozen=True)
class NewCable:
    points: tuple[int, int]
    label: str
    color: str | None


async def insert_cables(conn: Connection, cables: Sequence[NewCable]) -> list[int]:
    """Plug cables into jacks the caller has locked and found free; their ids, in order."""
    if not cables:
        return []
    rows = await (await conn.execute(_NEW_IDS, {"n": len(cables)})).fetchall()
    ids = [int(row[0]) for row in rows]
    labels = {"labels": [cable.label for cable in cables], "colors": [c.color for c in cables]}
    await conn.execute(_INSERT_CABLES, {"ids": ids, **labels})
    ends = {"a": [cable.points[0] for cable in cables], "b": [cable.points[1] for cable in cables]}
    await conn.execute(_INSERT_ENDS, {"ids": ids, **ends})
    return ids


async def unplug(conn: Connection, cable_ids: Sequence[int]) -> None:
    """Remove locked cables (their ends go with them)."""
    if cable_ids:
        await conn.execute(_UNPLUG, {"ids": list(cable_ids)})


async def relabel(conn: Connection, cables: Sequence[tuple[int, str, str | None]]) -> None:
    """Set (id, label, color) of locked cables."""
    if cables:
        ids, labels, colors = (list(column) for column in zip(*cables, strict=True))
        await conn.execute(_RELABEL, {"ids": ids, "labels": labels, "colors": colors})


async def create_cable(conn: Connection, *, data: CableCreate) -> tuple[int, str]:
    """Plug a cable into two free jacks (404 unknown point, 409 a jack already holds a plug)."""
    a, b = data.points
    await lock_points(conn, data.points)
    if await points_held(conn, data.points, rear=False):
        raise Conflict(JACK_PATCHED)
    [cable_id] = await insert_cables(conn, [NewCable((a, b), data.label, data.color)])
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
    await unplug(conn, [cable_id])
    return shown
